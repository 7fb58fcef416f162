"""Fan-out: turn selected reports, ``--tenant`` options and parameters into run requests.

``--tenant all`` (and a per-tenant report run without ``--tenant``) asks the metrics
source which tenants had traffic in the window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tributary_analysis.errors import ConfigError
from tributary_analysis.reports.params import Window
from tributary_analysis.reports.registry import ReportSpec
from tributary_analysis.reports.runner import RunRequest

TenantLister = Callable[[Window], list[str]]


def list_tenants(window: Window) -> list[str]:
    """Tenants with any request in ``window``, from Prometheus (label values)."""
    from tributary_analysis.config import load_settings
    from tributary_analysis.sources.prometheus import PrometheusSource

    with PrometheusSource.from_settings(load_settings()) as source:
        tenants = source.label_values("tenant_id", match="http_requests_total",
                                      start=window.start, end=window.end)
    return sorted(t for t in tenants if t)


def plan(
    specs: Sequence[ReportSpec],
    window: Window,
    *,
    tenants: Sequence[str] = (),
    common: dict[str, Any] | None = None,
    scoped: dict[str, dict[str, Any]] | None = None,
    lister: TenantLister | None = None,
    schedule: str | None = None,
) -> list[RunRequest]:
    """One :class:`RunRequest` per report, or per (report, tenant) for tenant reports.

    ``common`` parameters go to every report that declares them (a parameter no selected
    report declares is an error); ``scoped[report]`` to that report only.
    """
    from tributary_analysis.reports.runner import notebook_parameters

    common, scoped = common or {}, scoped or {}
    declared = {s.name: notebook_parameters(s.notebook) for s in specs}
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
            resolved = (lister or list_tenants)(window)
            if not resolved:
                raise ConfigError(f"no tenants found in {window.describe()}; check the "
                                  "window or pass --tenant ID")
        return resolved

    out: list[RunRequest] = []
    used_explicit = False
    for spec in specs:
        params = {k: v for k, v in common.items() if k in declared[spec.name]}
        params.update(scoped.get(spec.name, {}))
        takes_tenant = bool({"tenant", "tenants"} & set(declared[spec.name]))
        if spec.per_tenant:
            ids = explicit or all_tenants()
            used_explicit = used_explicit or bool(explicit)
            out.extend(RunRequest(spec, window, params, t, schedule) for t in ids)
        elif explicit and takes_tenant and len(specs) == 1:
            used_explicit = True
            out.extend(RunRequest(spec, window, params, t, schedule) for t in explicit)
        else:
            out.append(RunRequest(spec, window, params, None, schedule))
    if explicit and not used_explicit:
        raise ConfigError(f"--tenant given but none of {', '.join(declared)} runs per tenant; "
                          "select a per-tenant report (see 'tributary report list')")
    return out
