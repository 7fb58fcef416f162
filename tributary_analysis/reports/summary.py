"""``summary.json``: a report's answer in one documented, versioned schema.

Every run directory holds ``summary.json`` beside ``report.html``; the page's headline tiles
and findings are rendered *from the same* :class:`Summary` object, so the page and the
summary cannot disagree. The index, mail bodies, other tools and the tests read it.

Schema ``tributary.report-summary``, version 1 (every key is always present)::

    {
      "schema": "tributary.report-summary", "version": 1,
      "report": "daily_operations",            # the registry name of the report
      "status": "ok" | "warning" | "failed",   # warning: rendered, but read the warnings
      "window": {"start": "2026-01-31T00:00:00Z", "end": "2026-02-01T00:00:00Z"},
      "data_end": "2026-01-31T23:59:30Z" | null,   # the last sample the report saw
      "tenant": "acme" | null,
      "headline": [                            # the tiles, in page order
        {"key": "error_ratio", "name": "5xx ratio",
         "value": 0.0119, "unit": "ratio",     # value as stored, in ``unit`` (see below)
         "baseline": 0.00005 | null,           # same unit; null: no baseline
         "assessment": "worse",                # see ASSESSMENTS
         "definition": "5xx / all requests over the window; baseline: …",
         "text": "1.19 %", "baseline_text": "0.005 %",   # as the page prints them
         "change": "238×", "direction": "up" | "down" | "flat" | ""}
      ],
      "slo": null | {                          # where the report shows an SLO
        "objective": 0.999, "period": "30d",
        "attainment": 0.9988,                  # over the window
        "budget_remaining": 0.533,             # share of the period's budget left
        "budget_consumed": 0.467,
        "extrapolated": true, "data_covered": "7d",
        "burn_pairs_fired": [{"pair": "3d/6h", "factor": 1.0, "severity": "ticket",
                              "fired_for_s": 23400.0, "first_fired": "…Z",
                              "last_fired": "…Z"}],
        "definition": "53.3 % left of a 30-day budget, extrapolated from 7 days …"
      },
      "findings": ["What changed, what fired, what to look at (at most five)."],
      "warnings": ["What the sources said beyond the data (the page's warning box)."],
      "insufficient": [{"what": "request-rate forecast", "have": "1 d of history",
                        "need": "2 d of history"}],
      "details": {}                            # report-specific, not part of the contract
    }

Units of ``value`` and ``baseline``: ``ratio`` (a fraction, printed as %), ``s`` (seconds,
printed as ms/s), ``duration`` (seconds, printed ``2 h 30 min``), ``req/s`` and other
``…/s`` rates, ``bytes`` (printed in GiB…), ``count``, ``×`` (a factor), ``time`` (an ISO
instant, ``value`` is then a string); any other text is a unit printed after the number.
``text`` is what :func:`tributary_analysis.ground.format.value` makes of the value, and a
tile whose estimate was withheld has ``value: null``, ``assessment: "withheld"`` and the
"not enough data (have X, need Y)" sentence as ``text``.

:func:`read` and :meth:`Summary.from_json` validate (a :class:`SummaryError` names every
problem); :func:`coerce` turns an older or free-form summary (a notebook's ``dict``) into
this schema, keeping what does not fit under ``details``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tributary_analysis.errors import SummaryError
from tributary_analysis.ground import format as fmt
from tributary_analysis.ground.claims import Insufficient
from tributary_analysis.ground.time import iso, parse_time

__all__ = [
    "ASSESSMENTS", "FILENAME", "MAX_FINDINGS", "MIMETYPE", "SCHEMA", "STATUSES", "VERSION",
    "BurnPair", "Headline", "SloFigures", "Summary", "SummaryError", "coerce", "dumps",
    "failed", "jsonable", "read", "validate", "write",
]

SCHEMA = "tributary.report-summary"
VERSION = 1
FILENAME = "summary.json"
#: how a notebook hands its summary to the report (a display bundle; see notebook.summary)
MIMETYPE = "application/vnd.tributary.summary+json"
STATUSES = ("ok", "warning", "failed")
#: what a tile says about its value: against an objective (ok / warning / critical), against
#: a baseline (better / similar / worse), neither (info), or nothing to say (no baseline,
#: withheld: the data cannot carry the estimate)
ASSESSMENTS = ("ok", "better", "similar", "worse", "warning", "critical", "info",
               "no baseline", "withheld")
MAX_FINDINGS = 5
_DIRECTIONS = ("", "up", "down", "flat")


def _finite(v: Any) -> float | int | None:
    if v is None or isinstance(v, bool):
        return None if v is None else int(v)
    if isinstance(v, int):
        return v
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _time_text(v: Any) -> str | None:
    if v is None or fmt.is_missing(v):
        return None
    return iso(parse_time(v, name="time"))


@dataclass(frozen=True)
class Headline:
    """One tile: a number with its unit, baseline, assessment and definition.

    Build it with :meth:`of`, which fills ``text``, ``baseline_text``, ``change`` and
    ``direction`` from the formatting layer, or :meth:`withheld` for an estimate the data
    cannot carry.
    """

    name: str
    value: float | int | str | None
    unit: str = ""
    baseline: float | int | None = None
    assessment: str = "info"
    definition: str = ""
    text: str = ""
    baseline_text: str = ""
    change: str = ""
    direction: str = ""
    key: str = ""

    @classmethod
    def of(cls, name: str, value: Any, unit: str = "", *, baseline: Any = None,
           assessment: str = "info", definition: str = "", key: str = "",
           text: str | None = None) -> Headline:
        """A tile whose texts come from :mod:`tributary_analysis.ground.format`.

        Examples
        --------
        >>> h = Headline.of("5xx ratio", 0.0119, "ratio", baseline=0.00005,
        ...                 assessment="worse")
        >>> h.text, h.baseline_text, h.change, h.direction
        ('1.19 %', '0.005 %', '238×', 'up')
        """
        v: float | int | str | None
        if unit == "time":
            v = _time_text(value)
        elif isinstance(value, str):
            v = value
        else:
            v = _finite(value)
        b = _finite(baseline)
        shown = text if text is not None else (
            fmt.timestamp(v) if unit == "time" else fmt.value(v, unit))
        has_base = b is not None and isinstance(v, int | float)
        return cls(name=name, value=v, unit=unit, baseline=b, assessment=assessment,
                   definition=definition, text=shown,
                   baseline_text=fmt.value(b, unit) if b is not None else "",
                   change=fmt.change(v, b, unit) if has_base else "",  # type: ignore[arg-type]
                   direction=fmt.direction(v, b) if has_base else "",  # type: ignore[arg-type]
                   key=key)

    @classmethod
    def withheld(cls, name: str, gap: Insufficient, *, unit: str = "", key: str = "",
                 definition: str = "") -> Headline:
        """The tile of an estimate the data cannot carry: no number, the reason instead."""
        return cls(name=name, value=None, unit=unit, assessment="withheld",
                   definition=definition or gap.message(), text=gap.short(), key=key)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "value": self.value, "unit": self.unit,
                "baseline": self.baseline, "assessment": self.assessment,
                "definition": self.definition, "text": self.text,
                "baseline_text": self.baseline_text, "change": self.change,
                "direction": self.direction}


@dataclass(frozen=True)
class BurnPair:
    """A multi-window burn-rate pair that fired in the window."""

    pair: str
    factor: float
    severity: str
    fired_for_s: float
    first_fired: str | None
    last_fired: str | None

    def to_json(self) -> dict[str, Any]:
        return {"pair": self.pair, "factor": self.factor, "severity": self.severity,
                "fired_for_s": self.fired_for_s, "first_fired": self.first_fired,
                "last_fired": self.last_fired}


@dataclass(frozen=True)
class SloFigures:
    """The SLO block: one definition, computed once (``analysis.slo.slo_status``)."""

    objective: float
    period: str
    attainment: float | None
    budget_remaining: float | None
    burn_pairs_fired: tuple[BurnPair, ...] = ()
    definition: str = ""
    budget_consumed: float | None = None
    extrapolated: bool = False
    data_covered: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"objective": self.objective, "period": self.period,
                "attainment": _finite(self.attainment),
                "budget_remaining": _finite(self.budget_remaining),
                "budget_consumed": _finite(self.budget_consumed),
                "extrapolated": self.extrapolated, "data_covered": self.data_covered,
                "burn_pairs_fired": [b.to_json() for b in self.burn_pairs_fired],
                "definition": self.definition}


@dataclass(frozen=True)
class Summary:
    """A report's answer (see the module docstring for the JSON form)."""

    report: str
    status: str = "ok"
    window_start: str = ""
    window_end: str = ""
    data_end: str | None = None
    tenant: str | None = None
    headline: tuple[Headline, ...] = ()
    slo: SloFigures | None = None
    findings: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    insufficient: tuple[Insufficient, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = _check(self)
        if problems:
            raise SummaryError("summary does not follow the schema "
                               f"{SCHEMA} v{VERSION}: " + "; ".join(problems))

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict[str, Any]:
        """The ``summary.json`` document (JSON-safe: no NaN, ISO instants)."""
        return {
            "schema": SCHEMA, "version": VERSION, "report": self.report,
            "status": self.status,
            "window": {"start": self.window_start, "end": self.window_end},
            "data_end": self.data_end, "tenant": self.tenant,
            "headline": [h.to_json() for h in self.headline],
            "slo": self.slo.to_json() if self.slo is not None else None,
            "findings": list(self.findings), "warnings": list(self.warnings),
            "insufficient": [g.to_json() for g in self.insufficient],
            "details": jsonable(dict(self.details)),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Summary:
        """Read a document written by :meth:`to_json`; refuses anything else by name."""
        problems = validate(doc)
        if problems:
            raise SummaryError(f"not a {SCHEMA} v{VERSION} document: " + "; ".join(problems))
        slo = doc["slo"]
        return cls(
            report=str(doc["report"]), status=str(doc["status"]),
            window_start=str(doc["window"]["start"]), window_end=str(doc["window"]["end"]),
            data_end=doc["data_end"], tenant=doc["tenant"],
            headline=tuple(Headline(**{k: h.get(k, d) for k, d in _HEADLINE_DEFAULTS.items()})
                           for h in doc["headline"]),
            slo=None if slo is None else SloFigures(
                objective=float(slo["objective"]), period=str(slo["period"]),
                attainment=slo.get("attainment"), budget_remaining=slo.get("budget_remaining"),
                budget_consumed=slo.get("budget_consumed"),
                extrapolated=bool(slo.get("extrapolated", False)),
                data_covered=str(slo.get("data_covered", "")),
                burn_pairs_fired=tuple(BurnPair(**b) for b in slo["burn_pairs_fired"]),
                definition=str(slo.get("definition", ""))),
            findings=tuple(doc["findings"]), warnings=tuple(doc["warnings"]),
            insufficient=tuple(Insufficient(g["what"], g["have"], g["need"])
                               for g in doc["insufficient"]),
            details=dict(doc.get("details") or {}),
        )

    # ------------------------------------------------------------------ changes
    def with_run(self, *, report: str | None = None, status: str | None = None,
                 window: tuple[str, str] | None = None, tenant: str | None = None,
                 warnings: Iterable[str] = ()) -> Summary:
        """The summary as the runner publishes it: the registry's report name, the run's
        window and tenant, the run's status when it is worse, and more warnings."""
        worst = self.status
        if status is not None and STATUSES.index(status) > STATUSES.index(worst):
            worst = status
        more = tuple(w for w in warnings if w not in self.warnings)
        return replace(self, report=report or self.report, status=worst,
                       window_start=window[0] if window else self.window_start,
                       window_end=window[1] if window else self.window_end,
                       tenant=tenant if tenant is not None else self.tenant,
                       warnings=self.warnings + more)

    def tile(self, key: str) -> Headline | None:
        """The tile with ``key`` (or ``name``), if any."""
        return next((h for h in self.headline if h.key == key or h.name == key), None)


_HEADLINE_DEFAULTS: dict[str, Any] = {
    "name": "", "value": None, "unit": "", "baseline": None, "assessment": "info",
    "definition": "", "text": "", "baseline_text": "", "change": "", "direction": "",
    "key": "",
}


def _check(s: Summary) -> list[str]:
    out = []
    if not s.report:
        out.append("report is empty")
    if s.status not in STATUSES:
        out.append(f"status={s.status!r} is not one of {', '.join(STATUSES)}")
    for h in s.headline:
        if h.assessment not in ASSESSMENTS:
            out.append(f"headline {h.name!r}: assessment={h.assessment!r} is not one of "
                       f"{', '.join(ASSESSMENTS)}")
        if h.direction not in _DIRECTIONS:
            out.append(f"headline {h.name!r}: direction={h.direction!r}")
        if isinstance(h.value, float) and not math.isfinite(h.value):
            out.append(f"headline {h.name!r}: value is not finite (use None)")
    if len(s.findings) > MAX_FINDINGS:
        out.append(f"{len(s.findings)} findings; at most {MAX_FINDINGS} (the page opens "
                   "with them)")
    if not all(isinstance(f, str) and f for f in s.findings):
        out.append("findings must be non-empty sentences")
    return out


def validate(doc: Any) -> list[str]:
    """Every way ``doc`` departs from the schema (empty: it follows it)."""
    if not isinstance(doc, Mapping):
        return [f"a summary is a JSON object, not {type(doc).__name__}"]
    out = []
    if doc.get("schema") != SCHEMA:
        out.append(f"schema={doc.get('schema')!r}, expected {SCHEMA!r}")
    if doc.get("version") != VERSION:
        out.append(f"version={doc.get('version')!r}, expected {VERSION}")
    for key in ("report", "status", "window", "data_end", "tenant", "headline", "slo",
                "findings", "warnings", "insufficient"):
        if key not in doc:
            out.append(f"{key!r} is missing")
    if out:
        return out
    w = doc["window"]
    if not (isinstance(w, Mapping) and {"start", "end"} <= set(w)):
        out.append("window needs start and end")
    for name in ("headline", "findings", "warnings", "insufficient"):
        if not isinstance(doc[name], list):
            out.append(f"{name} must be a list")
    if out:
        return out
    if doc["status"] not in STATUSES:
        out.append(f"status={doc['status']!r} is not one of {', '.join(STATUSES)}")
    for i, h in enumerate(doc["headline"]):
        if not isinstance(h, Mapping) or "name" not in h or "value" not in h:
            out.append(f"headline[{i}] needs name and value")
        elif h.get("assessment", "info") not in ASSESSMENTS:
            out.append(f"headline[{i}].assessment={h.get('assessment')!r}")
        elif set(h) - set(_HEADLINE_DEFAULTS):
            out.append(f"headline[{i}] has unknown keys {sorted(set(h) - set(_HEADLINE_DEFAULTS))}")
    for i, g in enumerate(doc["insufficient"]):
        if not (isinstance(g, Mapping) and {"what", "have", "need"} <= set(g)):
            out.append(f"insufficient[{i}] needs what, have and need")
    slo = doc["slo"]
    if slo is not None:
        if not isinstance(slo, Mapping):
            out.append("slo must be an object or null")
        else:
            for key in ("objective", "period", "attainment", "budget_remaining",
                        "burn_pairs_fired", "definition"):
                if key not in slo:
                    out.append(f"slo.{key} is missing")
    if len(doc["findings"]) > MAX_FINDINGS:
        out.append(f"{len(doc['findings'])} findings; at most {MAX_FINDINGS}")
    return out


# ---------------------------------------------------------------------- reading and writing

def jsonable(value: Any) -> Any:
    """``value`` with timestamps as ISO strings, durations as seconds, NaN as ``None``,
    frames as lists of records — what ``json.dumps`` can write."""
    if isinstance(value, Insufficient):
        return value.to_json()
    if hasattr(value, "to_json") and callable(value.to_json) and not isinstance(
            value, pd.DataFrame | pd.Series):
        return jsonable(value.to_json())
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return [jsonable(r) for r in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return jsonable(value.to_dict())
    if isinstance(value, list | tuple | set | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat() if not pd.isna(value) else None
    if isinstance(value, pd.Timedelta | timedelta):
        return None if pd.isna(value) else pd.Timedelta(value).total_seconds()
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, int | str):
        return value
    return str(value)


def write(path: str | os.PathLike[str], summary: Summary) -> Path:
    """Write ``summary`` as ``summary.json`` (atomically: a reader never sees half)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    tmp.write_text(dumps(summary), encoding="utf-8")
    os.replace(tmp, p)
    return p


def dumps(summary: Summary) -> str:
    """The document as text (sorted keys inside objects, two-space indent)."""
    return json.dumps(summary.to_json(), indent=2, ensure_ascii=False, allow_nan=False)


def read(path: str | os.PathLike[str]) -> Summary:
    """Read and validate a ``summary.json``; :class:`SummaryError` names what is wrong."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SummaryError(f"cannot read the summary {p}: {exc}; re-render the report"
                           ) from None
    return Summary.from_json(doc)


# ---------------------------------------------------------------------- older shapes

def _finding_text(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping):
        text = str(item.get("message") or item.get("text") or "")
        panel = item.get("panel")
        return f"{panel}: {text}" if panel and text else text
    return str(item)


def coerce(doc: Mapping[str, Any], *, report: str = "report") -> Summary:
    """A :class:`Summary` from ``doc``: a schema document as it is, or a free-form summary
    (older notebooks, dashboards) with what fits mapped — ``headline`` items, findings as
    sentences (the first five; the rest stay in ``details``), ``window``, ``warnings`` —
    and everything else kept under ``details``."""
    if doc.get("schema") == SCHEMA:
        return Summary.from_json(doc)
    rest = {k: v for k, v in doc.items()}
    window = rest.pop("window", None) or {}
    tiles = []
    for h in rest.pop("headline", None) or []:
        if not isinstance(h, Mapping):
            continue
        assessment = str(h.get("assessment") or "info")
        assessment = assessment if assessment in ASSESSMENTS else (
            "critical" if assessment in ("error", "red", "bad") else
            "warning" if assessment in ("warn", "orange", "yellow") else
            "ok" if assessment in ("good", "green") else "info")
        value = h.get("value")
        tiles.append(Headline(
            name=str(h.get("name", "")), value=_finite(value) if not isinstance(value, str)
            else value, unit=str(h.get("unit") or ""), baseline=_finite(h.get("baseline")),
            assessment=assessment, definition=str(h.get("definition") or ""),
            text=str(h.get("text") or fmt.value(value, str(h.get("unit") or ""))),
            key=str(h.get("key") or "")))
    findings_raw = rest.pop("findings", None) or []
    findings = [t for t in (_finding_text(f) for f in findings_raw) if t]
    if len(findings) > MAX_FINDINGS:
        rest["more_findings"] = findings[MAX_FINDINGS:]
        findings = findings[:MAX_FINDINGS]
    warnings = [str(w) for w in rest.pop("warnings", None) or [] if str(w)]
    status = str(rest.pop("status", "ok"))
    if status not in STATUSES:  # a notebook's own word ("findings"): content, not the run's
        rest["notebook_status"] = status
        status = "ok"
    gaps = []
    for g in rest.pop("insufficient", None) or []:
        if isinstance(g, Mapping) and {"what", "have", "need"} <= set(g):
            gaps.append(Insufficient(str(g["what"]), str(g["have"]), str(g["need"])))
    start = window.get("start") if isinstance(window, Mapping) else None
    end = window.get("end") if isinstance(window, Mapping) else None
    return Summary(report=str(rest.pop("report", None) or report), status=status,
                   window_start=_time_text(start) or "", window_end=_time_text(end) or "",
                   data_end=_time_text(rest.pop("data_end", None)),
                   tenant=rest.pop("tenant", None), headline=tuple(tiles),
                   findings=tuple(findings), warnings=tuple(warnings),
                   insufficient=tuple(gaps), details=jsonable(rest))


def failed(report: str, *, window: tuple[str, str], tenant: str | None, what: str,
           warnings: Sequence[str] = ()) -> Summary:
    """The summary of a run that did not finish: status ``failed`` and why."""
    return Summary(report=report, status="failed", window_start=window[0],
                   window_end=window[1], tenant=tenant,
                   findings=(f"The report failed: {what}"[:400],),
                   warnings=tuple(warnings))
