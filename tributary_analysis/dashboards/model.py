"""A Grafana dashboard JSON as typed records: sections (rows), panels, targets, field config.

Read once here, so the planner, the review and the figures never look into raw JSON. Both
shapes Grafana writes are accepted: the HTTP API's ``{"dashboard": {...}}`` wrapper (what the
seed guide shows) and the bare model ("Export → Save to file"), including the pre-5.0
``rows`` layout. Legacy panel types are read as Grafana migrates them (``graph`` →
``timeseries`` with ``yaxes[0].format`` as the unit, ``singlestat`` → ``stat``,
``grafana-piechart-panel`` → ``piechart``, ``table-old`` → ``table``). Nothing is dropped
silently: a panel this suite cannot draw keeps its place with the reason.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tributary_analysis.errors import DataError

__all__ = [
    "BUILTIN", "Dashboard", "DatasourceRef", "FieldConfig", "FieldDefaults", "GridPos",
    "Override", "Panel", "Section", "Target", "Threshold", "Thresholds", "Variable",
    "builtin_path", "load_dashboard", "parse_dashboard",
]

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "dashboards"
#: the seed guide's dashboards, shipped as data files: name → file
BUILTIN: dict[str, str] = {"overview": "overview.json", "business": "business.json"}

#: what each legacy type becomes (Grafana's own panel migrations)
LEGACY_TYPES = {"graph": "timeseries", "singlestat": "stat", "grafana-singlestat-panel": "stat",
                "grafana-piechart-panel": "piechart", "table-old": "table"}
DRAWN_TYPES = ("timeseries", "stat", "gauge", "bargauge", "table", "piechart", "heatmap")
#: why a type is not drawn, said beside the panel's place in the report
UNSUPPORTED_REASONS = {
    "text": "a text panel holds free Markdown/HTML written for Grafana; a report does not "
            "run it",
    "logs": "a logs panel reads a log data source (Loki/Elasticsearch), not Prometheus",
    "traces": "a traces panel reads a tracing data source, not Prometheus",
    "nodeGraph": "a node graph needs a tracing or service-graph data source",
    "news": "a news panel fetches an RSS feed from the internet; reports are offline",
    "dashlist": "a dashboard list lives in Grafana's database",
    "alertlist": "an alert list reads Grafana's alerting state",
    "annolist": "an annotation list reads Grafana's annotation store",
    "row": "a row is a section heading",
}


@dataclass(frozen=True)
class Threshold:
    """One threshold step: from ``value`` upwards the colour is ``color`` (Grafana names)."""

    value: float
    color: str


@dataclass(frozen=True)
class Thresholds:
    """Grafana threshold steps; the first step is the base (from −∞), as Grafana treats it."""

    steps: tuple[Threshold, ...]
    mode: str = "absolute"  # or "percentage" (of min..max)

    def step_for(self, value: float, lo: float | None = None, hi: float | None = None
                 ) -> Threshold | None:
        """The step ``value`` falls in (``None`` for NaN or no steps)."""
        if not self.steps or value is None or not math.isfinite(value):
            return None
        v = value
        if self.mode == "percentage":
            if lo is None or hi is None or hi <= lo:
                return self.steps[0]
            v = (value - lo) / (hi - lo) * 100.0
        chosen = self.steps[0]
        for s in self.steps[1:]:
            if v >= s.value:
                chosen = s
        return chosen


@dataclass(frozen=True)
class FieldDefaults:
    """The field options the report uses: unit, decimals, range, thresholds, names, colour."""

    unit: str | None = None
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    thresholds: Thresholds | None = None
    display_name: str | None = None
    color_mode: str | None = None  # fixed | thresholds | palette-classic | ...
    fixed_color: str | None = None
    no_value: str | None = None
    custom: Mapping[str, Any] = field(default_factory=dict)
    has_mappings: bool = False

    def merged(self, props: Mapping[str, Any]) -> FieldDefaults:
        """These defaults with an override's properties applied (Grafana property ids)."""
        changes: dict[str, Any] = {}
        custom = dict(self.custom)
        for key, value in props.items():
            if key == "unit":
                changes["unit"] = value
            elif key == "decimals":
                changes["decimals"] = _opt_int(value, "override decimals")
            elif key in ("min", "max"):
                changes[key] = _opt_float(value, f"override {key}")
            elif key == "thresholds":
                changes["thresholds"] = _thresholds(value)
            elif key == "displayName":
                changes["display_name"] = str(value)
            elif key == "color" and isinstance(value, Mapping):
                changes["color_mode"] = value.get("mode")
                changes["fixed_color"] = value.get("fixedColor")
            elif key == "noValue":
                changes["no_value"] = str(value)
            elif key.startswith("custom."):
                custom[key.removeprefix("custom.")] = value
            elif key == "mappings":
                changes["has_mappings"] = bool(value)
        if custom != dict(self.custom):
            changes["custom"] = custom
        return replace(self, **changes)


@dataclass(frozen=True)
class Override:
    """One ``fieldConfig.overrides`` entry: which series (matcher) get which properties."""

    matcher: str  # byName | byRegexp | byFrameRefID | byType | ...
    options: Any
    properties: Mapping[str, Any]

    def matches(self, name: str, ref_id: str) -> bool:
        if self.matcher == "byName":
            return name == str(self.options)
        if self.matcher == "byRegexp":
            try:
                return re.search(_js_regex(str(self.options)), name) is not None
            except re.error:
                return False
        if self.matcher == "byFrameRefID":
            return ref_id == str(self.options)
        if self.matcher == "byType":
            return str(self.options) == "number"
        return False


@dataclass(frozen=True)
class FieldConfig:
    """``fieldConfig``: defaults for every series, overrides for some."""

    defaults: FieldDefaults = field(default_factory=FieldDefaults)
    overrides: tuple[Override, ...] = ()

    def for_series(self, name: str, ref_id: str = "") -> FieldDefaults:
        out = self.defaults
        for o in self.overrides:
            if o.matches(name, ref_id):
                out = out.merged(o.properties)
        return out


@dataclass(frozen=True)
class DatasourceRef:
    """Where a panel or target reads: ``type``/``uid`` (Grafana ≥ 8) or a bare name."""

    type: str | None = None
    uid: str | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        return self.type or self.name or self.uid or "default"


@dataclass(frozen=True)
class Target:
    """One query of a panel."""

    ref_id: str
    expr: str
    legend_format: str = ""
    instant: bool = False
    range: bool = False
    format: str = "time_series"
    interval: str = ""  # the target's "Min step"
    interval_factor: int = 1
    hide: bool = False
    datasource: DatasourceRef | None = None


@dataclass(frozen=True)
class GridPos:
    x: int = 0
    y: int = 0
    w: int = 12
    h: int = 8


@dataclass(frozen=True)
class Panel:
    """One panel as the report needs it."""

    key: str  # stable id for anchors: "panel-<id>" or "panel-<index>"
    title: str
    type: str  # normalised (graph → timeseries)
    raw_type: str
    grid: GridPos
    targets: tuple[Target, ...] = ()
    field_config: FieldConfig = field(default_factory=FieldConfig)
    options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    datasource: DatasourceRef | None = None
    interval: str = ""  # the panel's "Min interval"
    max_data_points: int | None = None
    transformations: tuple[str, ...] = ()
    library_panel: str = ""
    repeat: str = ""
    legacy: Mapping[str, Any] = field(default_factory=dict)  # heatmap dataFormat, valueName…

    @property
    def drawable(self) -> bool:
        return self.type in DRAWN_TYPES


@dataclass(frozen=True)
class Section:
    """A dashboard row (``title`` None for the panels above the first row)."""

    title: str | None
    panels: tuple[Panel, ...]
    collapsed: bool = False
    repeat: str = ""


@dataclass(frozen=True)
class Variable:
    """One template variable (``templating.list`` entry)."""

    name: str
    type: str  # query | custom | constant | textbox | interval | datasource | adhoc
    label: str = ""
    query: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (text, value)
    current: tuple[str, ...] = ()
    current_all: bool = False
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    regex: str = ""
    sort: int = 0
    hide: int = 0
    auto: bool = False
    auto_count: int = 30
    auto_min: str = "10s"
    filters: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Dashboard:
    """A parsed dashboard."""

    title: str
    sections: tuple[Section, ...]
    variables: tuple[Variable, ...] = ()
    uid: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    timezone: str = ""
    time_from: str = ""
    time_to: str = ""
    refresh: str = ""
    source: str = ""
    notes: tuple[str, ...] = ()

    @property
    def panels(self) -> tuple[Panel, ...]:
        return tuple(p for s in self.sections for p in s.panels)


# ------------------------------------------------------------------------- parsing


def builtin_path(name: str) -> Path:
    """The data file of a built-in dashboard (``overview``, ``business``)."""
    try:
        return DATA_DIR / BUILTIN[name]
    except KeyError:
        raise DataError(f"unknown built-in dashboard {name!r}; built-ins: "
                        f"{', '.join(sorted(BUILTIN))}, or give a path to a dashboard "
                        "JSON file") from None


def load_dashboard(source: str | Path | Mapping[str, Any]) -> Dashboard:
    """A dashboard from a built-in name, a JSON file path, or an already-decoded dict.

    Examples
    --------
    >>> board = load_dashboard("business")
    >>> [p.type for p in board.panels]
    ['stat', 'stat', 'piechart', 'timeseries', 'table']
    """
    if isinstance(source, Mapping):
        return parse_dashboard(source, source_name="<dict>")
    text = str(source)
    path = builtin_path(text) if text in BUILTIN else Path(text)
    if not path.is_file():
        raise DataError(f"dashboard file {path} does not exist; give a Grafana dashboard "
                        f"JSON file or a built-in name ({', '.join(sorted(BUILTIN))})")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"dashboard file {path} is not JSON ({exc}); export it from Grafana "
                        "with Share → Export → Save to file") from exc
    name = f"built-in dashboard {text!r}" if text in BUILTIN else str(path)
    return parse_dashboard(doc, source_name=name)


def parse_dashboard(doc: Mapping[str, Any], *, source_name: str = "<dashboard>") -> Dashboard:
    """Parse a decoded dashboard JSON (API wrapper or bare model)."""
    if not isinstance(doc, Mapping):
        raise DataError(f"{source_name}: a dashboard is a JSON object, got "
                        f"{type(doc).__name__}")
    model: Mapping[str, Any] = _map(doc, "dashboard") or doc
    if "panels" not in model and "rows" not in model:
        raise DataError(f"{source_name}: no 'panels' (or pre-5.0 'rows') found; is this a "
                        "Grafana dashboard JSON?")
    notes: list[str] = []
    if "rows" in model and "panels" not in model:
        raw_panels: Any = _panels_from_old_rows(model.get("rows"), source_name)
    else:
        raw_panels = model.get("panels")
    if not isinstance(raw_panels, list):
        raise DataError(f"{source_name}: 'panels' must be a list")
    time = _map(model, "time")
    tags = model.get("tags") or []
    return Dashboard(
        title=str(model.get("title") or "Untitled dashboard"),
        sections=_sections(raw_panels, source_name),
        variables=_variables(model.get("templating"), source_name),
        uid=str(model.get("uid") or ""),
        description=str(model.get("description") or ""),
        tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        timezone=str(model.get("timezone") or ""),
        time_from=str(time.get("from") or ""), time_to=str(time.get("to") or ""),
        refresh=str(model.get("refresh") or ""),
        source=source_name,
        notes=tuple(notes),
    )


def _panels_from_old_rows(rows: Any, where: str) -> list[dict[str, Any]]:
    """Pre-5.0 ``rows[].panels`` → the flat list with row panels, as Grafana migrates it."""
    if not isinstance(rows, list):
        raise DataError(f"{where}: 'rows' must be a list")
    out: list[dict[str, Any]] = []
    y = 0
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        if row.get("showTitle") or row.get("title"):
            out.append({"type": "row", "title": row.get("title", ""),
                        "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}})
            y += 1
        x = 0
        for p in row.get("panels") or []:
            if isinstance(p, Mapping):
                span = int(p.get("span", 12) or 12)
                out.append({**p, "gridPos": {"x": x, "y": y, "w": span * 2, "h": 8}})
                x += span * 2
        y += 8
    return out


def _grid(p: Mapping[str, Any], index: int) -> GridPos:
    g = p.get("gridPos")
    if not isinstance(g, Mapping):
        return GridPos(x=0, y=index, w=24, h=8)  # no layout: keep the file's order
    return GridPos(*(int(g.get(k, d) or 0) for k, d in (("x", 0), ("y", 0), ("w", 12),
                                                        ("h", 8))))


def _sections(raw: list[Any], where: str) -> tuple[Section, ...]:
    items = [(p, _grid(p, i), i) for i, p in enumerate(raw) if isinstance(p, Mapping)]
    has_grid = any(isinstance(p.get("gridPos"), Mapping) for p, _g, _i in items)
    if has_grid:
        items.sort(key=lambda t: (t[1].y, t[1].x, t[2]))
    sections: list[Section] = []
    title: str | None = None
    collapsed, repeat = False, ""
    current: list[Panel] = []
    counter = 0
    for p, grid, _i in items:
        if p.get("type") == "row":
            if current or title is not None:
                sections.append(Section(title, tuple(current), collapsed, repeat))
            title = str(p.get("title") or "")
            collapsed, repeat = bool(p.get("collapsed")), str(p.get("repeat") or "")
            current = []
            for inner in p.get("panels") or []:  # a collapsed row keeps its panels inside
                if isinstance(inner, Mapping):
                    counter += 1
                    current.append(_panel(inner, _grid(inner, counter), counter, where))
            continue
        counter += 1
        current.append(_panel(p, grid, counter, where))
    if current or title is not None:
        sections.append(Section(title, tuple(current), collapsed, repeat))
    return tuple(sections)


def _panel(p: Mapping[str, Any], grid: GridPos, index: int, where: str) -> Panel:
    raw_type = str(p.get("type") or "")
    ptype = LEGACY_TYPES.get(raw_type, raw_type)
    title = str(p.get("title") or f"Panel {index}")
    here = f"{where}, panel {title!r}"
    fc = _field_config(p.get("fieldConfig"), here)
    legacy: dict[str, Any] = {}
    if raw_type == "graph":
        fc = _graph_field_config(p, fc)
    elif raw_type in ("singlestat", "grafana-singlestat-panel"):
        fc, legacy = _singlestat(p, fc)
    if raw_type == "heatmap":
        legacy["dataFormat"] = p.get("dataFormat")
        yaxis = _map(p, "yAxis")
        if yaxis.get("format") and fc.defaults.unit is None:
            fc = replace(fc, defaults=replace(fc.defaults, unit=str(yaxis["format"])))
    targets = tuple(_target(t, i, here) for i, t in enumerate(p.get("targets") or [])
                    if isinstance(t, Mapping))
    transformations = tuple(str(t.get("id")) for t in p.get("transformations") or []
                            if isinstance(t, Mapping) and not t.get("disabled"))
    lib = p.get("libraryPanel")
    mdp = p.get("maxDataPoints")
    pid = p.get("id")
    return Panel(
        key=f"panel-{pid}" if isinstance(pid, int) else f"panel-n{index}",
        title=title, type=ptype, raw_type=raw_type, grid=grid, targets=targets,
        field_config=fc,
        options=_map(p, "options"),
        description=str(p.get("description") or ""),
        datasource=_datasource(p.get("datasource")),
        interval=str(p.get("interval") or ""),
        max_data_points=int(mdp) if isinstance(mdp, int | float) and mdp > 0 else None,
        transformations=transformations,
        library_panel=str(lib.get("name") or lib.get("uid") or "") if isinstance(lib, Mapping)
        else "",
        repeat=str(p.get("repeat") or ""),
        legacy=legacy,
    )


def _target(t: Mapping[str, Any], i: int, where: str) -> Target:
    expr = t.get("expr", "")
    if not isinstance(expr, str):
        raise DataError(f"{where}: target {i + 1} has a non-string expr {expr!r}")
    factor = t.get("intervalFactor", 1)
    return Target(
        ref_id=str(t.get("refId") or chr(ord("A") + i % 26)),
        expr=expr, legend_format=str(t.get("legendFormat") or ""),
        instant=bool(t.get("instant")), range=bool(t.get("range")),
        format=str(t.get("format") or "time_series"),
        interval=str(t.get("interval") or ""),
        interval_factor=int(factor) if isinstance(factor, int | float) and factor >= 1 else 1,
        hide=bool(t.get("hide")),
        datasource=_datasource(t.get("datasource")),
    )


def _datasource(ds: Any) -> DatasourceRef | None:
    if ds is None:
        return None
    if isinstance(ds, str):
        return DatasourceRef(name=ds)
    if isinstance(ds, Mapping):
        return DatasourceRef(type=str(ds["type"]) if ds.get("type") else None,
                             uid=str(ds["uid"]) if ds.get("uid") else None)
    return None


def _field_config(raw: Any, where: str) -> FieldConfig:
    if not isinstance(raw, Mapping):
        return FieldConfig()
    d = _map(raw, "defaults")
    color = _map(d, "color")
    defaults = FieldDefaults(
        unit=str(d["unit"]) if d.get("unit") else None,
        decimals=_opt_int(d.get("decimals"), f"{where}: decimals"),
        min=_opt_float(d.get("min"), f"{where}: min"),
        max=_opt_float(d.get("max"), f"{where}: max"),
        thresholds=_thresholds(d.get("thresholds")),
        display_name=str(d["displayName"]) if d.get("displayName") else None,
        color_mode=str(color["mode"]) if color.get("mode") else None,
        fixed_color=str(color["fixedColor"]) if color.get("fixedColor") else None,
        no_value=str(d["noValue"]) if d.get("noValue") else None,
        custom=_map(d, "custom"),
        has_mappings=bool(d.get("mappings")),
    )
    overrides = []
    for o in raw.get("overrides") or []:
        if not isinstance(o, Mapping) or not isinstance(o.get("matcher"), Mapping):
            continue
        props = {str(p.get("id")): p.get("value") for p in o.get("properties") or []
                 if isinstance(p, Mapping) and p.get("id")}
        overrides.append(Override(str(o["matcher"].get("id") or ""),
                                  o["matcher"].get("options"), props))
    return FieldConfig(defaults, tuple(overrides))


def _thresholds(raw: Any) -> Thresholds | None:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("steps"), list):
        return None
    steps = []
    for i, s in enumerate(raw["steps"]):
        if not isinstance(s, Mapping):
            continue
        value = -math.inf if i == 0 else _opt_float(s.get("value"), "threshold value")
        steps.append(Threshold(-math.inf if value is None else value,
                               str(s.get("color") or "green")))
    return Thresholds(tuple(steps), str(raw.get("mode") or "absolute")) if steps else None


def _graph_field_config(p: Mapping[str, Any], fc: FieldConfig) -> FieldConfig:
    """Legacy graph panel: the left y axis format is the unit (Grafana's migration)."""
    yaxes = p.get("yaxes")
    if fc.defaults.unit is None and isinstance(yaxes, list) and yaxes and \
            isinstance(yaxes[0], Mapping) and yaxes[0].get("format"):
        fc = replace(fc, defaults=replace(fc.defaults, unit=str(yaxes[0]["format"])))
    return fc


def _singlestat(p: Mapping[str, Any], fc: FieldConfig) -> tuple[FieldConfig, dict[str, Any]]:
    """Legacy singlestat: ``format``, ``decimals``, ``thresholds: "1,5"`` + ``colors``,
    ``valueName`` (default ``avg``) — as Grafana migrates it to stat."""
    d = fc.defaults
    if d.unit is None and p.get("format"):
        d = replace(d, unit=str(p["format"]))
    if d.decimals is None and p.get("decimals") is not None:
        d = replace(d, decimals=_opt_int(p.get("decimals"), "decimals"))
    text = p.get("thresholds")
    colors = p.get("colors") if isinstance(p.get("colors"), list) else []
    if d.thresholds is None and isinstance(text, str) and text.strip() and colors:
        values = [float(v) for v in text.split(",") if v.strip()]
        steps = [Threshold(-math.inf, str(colors[0]))]
        steps += [Threshold(v, str(colors[min(i + 1, len(colors) - 1)]))
                  for i, v in enumerate(values)]
        d = replace(d, thresholds=Thresholds(tuple(steps)))
    return replace(fc, defaults=d), {"valueName": str(p.get("valueName") or "avg")}


def _variables(raw: Any, where: str) -> tuple[Variable, ...]:
    items = raw.get("list") if isinstance(raw, Mapping) else None
    out = []
    for v in items or []:
        if not isinstance(v, Mapping) or not v.get("name"):
            continue
        query = v.get("query", "")
        if isinstance(query, Mapping):  # Grafana 9+: {"query": "label_values(...)", ...}
            query = query.get("query", "")
        raw_current = v.get("current")
        current: Mapping[str, Any] = raw_current if isinstance(raw_current, Mapping) else {}
        cur = current.get("value")
        cur_values = tuple(str(x) for x in (cur if isinstance(cur, list) else
                                            ([] if cur in (None, "") else [cur])))
        is_all = "$__all" in cur_values
        options = tuple((str(o.get("text", o.get("value", ""))), str(o.get("value", "")))
                        for o in v.get("options") or [] if isinstance(o, Mapping)
                        and o.get("value") != "$__all")
        auto_count = v.get("auto_count", 30)
        out.append(Variable(
            name=str(v["name"]), type=str(v.get("type") or "query"),
            label=str(v.get("label") or ""), query=str(query or ""), options=options,
            current=tuple(x for x in cur_values if x != "$__all"), current_all=is_all,
            multi=bool(v.get("multi")), include_all=bool(v.get("includeAll")),
            all_value=str(v["allValue"]) if v.get("allValue") not in (None, "") else None,
            regex=str(v.get("regex") or ""), sort=int(v.get("sort") or 0),
            hide=int(v.get("hide") or 0), auto=bool(v.get("auto")),
            auto_count=int(auto_count) if isinstance(auto_count, int | float) else 30,
            auto_min=str(v.get("auto_min") or "10s"),
            filters=tuple(f for f in v.get("filters") or [] if isinstance(f, Mapping)),
        ))
    names = [v.name for v in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"{where}: template variable(s) {', '.join(dupes)} defined twice; "
                        "rename one")
    return tuple(out)


def _map(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``obj[key]`` when it is an object, else an empty mapping."""
    value = obj.get(key)
    return value if isinstance(value, Mapping) else {}


def _opt_float(value: Any, what: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(f"{what}: {value!r} is not a number") from None


def _opt_int(value: Any, what: str) -> int | None:
    f = _opt_float(value, what)
    return None if f is None else int(f)


def _js_regex(text: str) -> str:
    """A Grafana regex option (``/pattern/flags`` or bare) as a Python pattern."""
    m = re.fullmatch(r"/(.*)/([gimsuy]*)", text, re.S)
    if not m:
        return text
    flags = "".join(f for f in m.group(2) if f in "ims")
    return (f"(?{flags})" if flags else "") + m.group(1)
