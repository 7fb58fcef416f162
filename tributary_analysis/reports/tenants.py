"""Fan-out: turn selected reports, ``--tenant`` options and parameters into run requests.

``--tenant all`` (and a per-tenant report run without ``--tenant``) asks the fetch layer
(:mod:`tributary_analysis.fetch.tenants`) which tenants had traffic in the window. Tenant
ids are untrusted text: an integer from a YAML file is read as its digits, anything else
that is not a string is a :class:`~tributary_analysis.errors.DataError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tributary_analysis.errors import ConfigError
from tributary_analysis.ground.time import Window, parse_window
from tributary_analysis.reports.prepare import RunRequest, notebook_parameters, tenant_id
from tributary_analysis.reports.registry import ReportSpec

TenantLister = Callable[[Window], list[str]]


def plan(
    specs: Sequence[ReportSpec],
    window: Window,
    *,
    tenants: Sequence[str] = (),
    common: dict[str, Any] | None = None,
    scoped: dict[str, dict[str, Any]] | None = None,
    lister: TenantLister | None = None,
    schedule: str | None = None,
    top: int | None = None,
    ranker: TenantLister | None = None,
    own_windows: bool = False,
) -> list[RunRequest]:
    """One :class:`RunRequest` per report, or per (report, tenant) for tenant reports.

    ``common`` parameters go to every report that declares them (a parameter no selected
    report declares is an error); ``scoped[report]`` to that report only. A ``tenant``
    parameter of a per-tenant report whose notebook takes ``tenants`` is read as
    ``--tenant``. ``top`` limits ``--tenant all`` (and the implicit all) to the ``top``
    busiest tenants of the window (``ranker``, default
    :func:`~tributary_analysis.fetch.tenants.rank_tenants`; ``lister`` default
    :func:`~tributary_analysis.fetch.tenants.list_tenants`). With ``own_windows`` (the
    caller named no window) a report with a ``default_window`` (the weekly ones: 7 d) gets
    that much ending where ``window`` ends; the others get ``window``.
    """
    from tributary_analysis.fetch.tenants import list_tenants, rank_tenants

    tenants = [tenant_id(t, where="--tenant") for t in tenants]
    common, scoped = dict(common or {}), {k: dict(v) for k, v in (scoped or {}).items()}
    declared = {s.name: notebook_parameters(s.notebook) for s in specs}
    if top is not None and top < 1:
        raise ConfigError(f"--top-tenants must be at least 1, got {top}")
    alias = [t for s in specs if s.per_tenant and "tenant" not in declared[s.name]
             for t in [scoped.get(s.name, {}).pop("tenant", None)] if t is not None]
    if alias:
        if tenants:
            raise ConfigError("give the tenant either as --tenant or as -p REPORT.tenant=, "
                              "not both")
        tenants = [tenant_id(t, where="-p tenant") for t in alias]
    unused = [k for k in common if not any(k in d for d in declared.values())]
    if unused:
        raise ConfigError(f"parameter(s) {', '.join(unused)} are declared by none of the "
                          f"selected reports ({', '.join(declared)})")
    want_all = "all" in tenants
    explicit = [t for t in tenants if t != "all"]
    if want_all and explicit:
        raise ConfigError("--tenant all cannot be combined with explicit tenant ids")
    resolved: list[str] | None = None

    def all_tenants() -> list[str]:
        nonlocal resolved
        if resolved is None:
            if top is not None:
                resolved = [tenant_id(t) for t in (ranker or rank_tenants)(window)
                            if t != "unknown"][:top]
            else:
                resolved = [tenant_id(t) for t in (lister or list_tenants)(window)]
            if not resolved:
                raise ConfigError(f"no tenants found in {window.describe()}; check the "
                                  "window or pass --tenant ID")
        return resolved

    out: list[RunRequest] = []
    used_explicit = False
    for spec in specs:
        w = parse_window(spec.default_window, end=window.end) \
            if own_windows and spec.default_window else window
        params = {k: v for k, v in common.items() if k in declared[spec.name]}
        params.update(scoped.get(spec.name, {}))
        takes_tenant = bool({"tenant", "tenants"} & set(declared[spec.name]))
        if spec.per_tenant:
            ids = explicit or all_tenants()
            used_explicit = used_explicit or bool(explicit)
            out.extend(RunRequest(spec, w, params, t, schedule) for t in ids)
        elif explicit and takes_tenant and len(specs) == 1:
            used_explicit = True
            out.extend(RunRequest(spec, w, params, t, schedule) for t in explicit)
        else:
            out.append(RunRequest(spec, w, params, None, schedule))
    if explicit and not used_explicit:
        raise ConfigError(f"--tenant given but none of {', '.join(declared)} runs per tenant; "
                          "select a per-tenant report (see 'tributary report list')")
    return out
