"""The reports the suite knows: name → notebook, default parameters, per-tenant fan-out.

A registry is a plain mapping so tests can build their own from fixture notebooks; the
default one (:data:`REPORTS`) names the notebooks under ``notebooks/`` of the repository.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tributary_analysis.errors import ConfigError

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
    """

    name: str
    notebook: Path
    title: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    per_tenant: bool = False
    description: str = ""
    schedule_hint: str = ""
    summary: bool = False

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


#: named sets of reports (command line and schedules): what runs together
GROUPS: dict[str, tuple[str, ...]] = {
    "daily": ("daily_operations", "latency"),
    "weekly": ("errors_slo", "capacity", "alert_review"),
    "tenants": ("tenant_usage",),
}
#: what ``tributary report run`` renders without names (and what ``make demo`` needs)
DEFAULT_SET: tuple[str, ...] = ("daily", "weekly", "tenants")


def expand(names: list[str] | tuple[str, ...], registry: Registry) -> list[str]:
    """Report names with group names (:data:`GROUPS`) replaced by their members, in order
    and without duplicates; no names means :data:`DEFAULT_SET`. Unknown names raise."""
    out: list[str] = []
    for name in names or DEFAULT_SET:
        members = GROUPS.get(name, (name,)) if name not in registry else (name,)
        for member in members:
            registry[member]  # raises ConfigError for an unknown name
            if member not in out:
                out.append(member)
    return out


def default_registry(notebooks_dir: Path = NOTEBOOKS_DIR) -> Registry:
    """The suite's scheduled reports over the notebooks in ``notebooks_dir``."""
    nb = notebooks_dir
    return Registry([
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
        ),
        ReportSpec(
            name="capacity",
            notebook=nb / "capacity_planning.ipynb",
            title="Weekly capacity planning",
            description="Growth forecasts, time until a limit, headroom.",
            schedule_hint="weekly",
        ),
        ReportSpec(
            name="alert_review",
            notebook=nb / "alert_review.ipynb",
            title="Weekly alert review",
            description="Backtest of the alert rules over the window.",
            schedule_hint="weekly",
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
            title="Tenant usage",
            description="One tenant's traffic, latency, errors and share.",
            per_tenant=True,
            schedule_hint="weekly",
        ),
    ])
