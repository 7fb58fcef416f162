"""The reports the suite knows: name → notebook, default parameters, per-tenant fan-out.

A registry is a plain mapping so tests can build their own from fixture notebooks; the
default one (:func:`default_registry`) names the notebooks under ``notebooks/`` of the
repository: the daily and weekly fleet reports, the report for one tenant
(``tenant_usage``, fanned out per tenant) and the fleet's tenant report (``tenant_fleet``),
the traces report, and the seed's two Grafana dashboards as reports
(:func:`tributary_analysis.dashboards.specs.builtin_report_specs`).

Every report belongs to a group (:data:`GROUPS`: ``daily``, ``weekly``, ``tenants``), so
``tributary report run`` without names renders every report. A weekly report carries
``default_window="7d"``: rendered without an explicit window (``--since``/``--start``), it
covers a week — a weekly SLO, capacity or tenant report over 24 h would show estimates the
data cannot carry.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tributary_analysis.errors import ConfigError
from tributary_analysis.ground.time import parse_duration

#: the repository's notebooks directory (reports run from a source checkout)
NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"


@dataclass(frozen=True)
class ReportSpec:
    """One report: which notebook, with which defaults, and whether it fans out per tenant.

    Parameters
    ----------
    name : str
        Short identifier used on the command line and in output paths.
    notebook : Path
        The parameterized notebook (it has a cell tagged ``parameters``).
    title : str
        Human title shown in the report header and the index.
    parameters : dict
        Defaults injected on every run; ``-p key=value`` overrides them.
    per_tenant : bool
        When true the report takes a ``tenant`` parameter and ``--tenant all`` renders
        one report per tenant.
    schedule_hint : str
        How often it is meant to run (``daily``, ``weekly``); documentation only.
    summary : bool
        A summary links to the other reports of its batch, so the runner starts it only
        after they have finished (:mod:`tributary_analysis.reports.links`).
    default_window : str, optional
        The window a run covers when none is given (a duration such as ``"7d"``, read as
        ``--since``): weekly reports default to seven days wherever they are rendered.
        ``None``: the caller's default (24 hours).
    """

    name: str
    notebook: Path
    title: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    per_tenant: bool = False
    description: str = ""
    schedule_hint: str = ""
    summary: bool = False
    default_window: str | None = None

    def __post_init__(self) -> None:
        if self.default_window is not None:
            parse_duration(self.default_window, name=f"default_window of {self.name!r}")

    @property
    def display_title(self) -> str:
        return self.title or self.name.replace("_", " ").title()


class Registry(Mapping[str, ReportSpec]):
    """Reports by name; unknown names raise a :class:`ConfigError` listing the known ones."""

    def __init__(self, specs: list[ReportSpec] | None = None) -> None:
        self._specs: dict[str, ReportSpec] = {}
        for spec in specs or []:
            self.register(spec)

    def register(self, spec: ReportSpec) -> ReportSpec:
        """Add ``spec``; a second report with the same name is an error."""
        if spec.name in self._specs:
            raise ConfigError(f"report {spec.name!r} is registered twice; rename one")
        if not spec.name or not spec.name.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(
                f"report name {spec.name!r} must be letters, digits, '_' or '-' "
                "(it becomes a directory name)"
            )
        self._specs[spec.name] = spec
        return spec

    def __getitem__(self, name: str) -> ReportSpec:
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(sorted(self._specs)) or "(none)"
            raise ConfigError(
                f"unknown report {name!r}; known reports: {known} (see 'tributary report list')"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


#: named sets of reports (command line and schedules): what runs together; every report of
#: :func:`default_registry` is in one, so a run without names renders all of them
GROUPS: dict[str, tuple[str, ...]] = {
    "daily": ("daily_operations", "latency", "traces", "dashboard_overview"),
    "weekly": ("errors_slo", "capacity", "alert_review", "tenant_fleet", "dashboard_business"),
    "tenants": ("tenant_usage",),
}
#: what ``tributary report run`` renders without names (and what ``make demo`` needs)
DEFAULT_SET: tuple[str, ...] = ("daily", "weekly", "tenants")
#: group members registered only when their notebook exists
OPTIONAL = frozenset({"traces"})
#: the window of a weekly report rendered without one
WEEKLY_WINDOW = "7d"


def expand(names: list[str] | tuple[str, ...], registry: Registry) -> list[str]:
    """Report names with group names (:data:`GROUPS`) replaced by their members, in order
    and without duplicates; no names means :data:`DEFAULT_SET`. Unknown names raise."""
    out: list[str] = []
    for name in names or DEFAULT_SET:
        members = GROUPS.get(name, (name,)) if name not in registry else (name,)
        for member in members:
            if member not in registry and member in OPTIONAL and name in GROUPS:
                continue  # a group's member registered only when its notebook is there
            registry[member]  # raises ConfigError for an unknown name
            if member not in out:
                out.append(member)
    return out


def default_registry(notebooks_dir: Path = NOTEBOOKS_DIR) -> Registry:
    """The suite's scheduled reports over the notebooks in ``notebooks_dir``."""
    from tributary_analysis.dashboards.specs import builtin_report_specs

    nb = notebooks_dir
    week = WEEKLY_WINDOW
    specs = [
        ReportSpec(
            name="daily_operations",
            notebook=nb / "daily_operations.ipynb",
            title="Daily operations",
            description="Golden signals against last week's baseline, SLOs, top tenants, "
                        "alerts that would have fired, detected episodes.",
            schedule_hint="daily",
            summary=True,
        ),
        ReportSpec(
            name="errors_slo",
            notebook=nb / "errors.ipynb",
            title="Weekly errors and SLO",
            description="Error ratios, error budgets and burn rates.",
            schedule_hint="weekly",
            default_window=week,
        ),
        ReportSpec(
            name="capacity",
            notebook=nb / "capacity_planning.ipynb",
            title="Weekly capacity planning",
            description="Growth forecasts, time until a limit, headroom.",
            schedule_hint="weekly",
            default_window=week,
        ),
        ReportSpec(
            name="alert_review",
            notebook=nb / "alert_review.ipynb",
            title="Weekly alert review",
            description="Backtest of the alert rules over the window.",
            schedule_hint="weekly",
            default_window=week,
        ),
        ReportSpec(
            name="latency",
            notebook=nb / "latency.ipynb",
            title="Latency",
            description="Latency quantiles by endpoint and search type.",
            schedule_hint="daily",
        ),
        ReportSpec(
            name="tenant_usage",
            notebook=nb / "tenant_usage.ipynb",
            title="Tenant report",
            description="The report for one tenant: their requests, searches and vector "
                        "operations with their share of the fleet, latency and errors "
                        "against the fleet's, rate limits, growth, endpoints, datasets.",
            per_tenant=True,
            schedule_hint="weekly",
            default_window=week,
        ),
        ReportSpec(
            name="tenant_fleet",
            notebook=nb / "tenant_fleet.ipynb",
            title="Tenants of the fleet",
            description="All tenants: how few make most of the traffic, growth ranking, "
                        "noisy neighbours, rate-limit hits, chargeback export.",
            schedule_hint="weekly",
            default_window=week,
        ),
    ]
    if (nb / "traces.ipynb").exists():
        specs.append(ReportSpec(
            name="traces",
            notebook=nb / "traces.ipynb",
            title="Traces",
            description="What is slow and why, from the spans: critical path, slow against "
                        "normal traces, failures by exception, example traces and their "
                        "log lines.",
            schedule_hint="daily",
        ))
    for spec in builtin_report_specs(nb):
        weekly = spec.schedule_hint == "weekly"
        specs.append(replace(spec, default_window=week) if weekly else spec)
    return Registry(specs)
