"""Small helpers the investigation notebooks call, so the notebooks stay thin.

* :func:`setup`: the plotly template and renderer, pandas display, logging;
* :func:`check_parameters`: every notebook parameter validated in one place, with errors
  that name the parameter and the fix (parameters are written into executed notebooks,
  so credentials are refused here: they belong in the environment or the config file);
* :func:`open_prometheus`, :func:`open_logs`: the sources the parameters ask for;
* :func:`show_source_warnings`: every warning the sources reported, in a visible box and
  in the bundle the report header collects;
* :func:`write_summary`: the last cell's small JSON summary (tests and reports read it);
* :func:`human_duration`: durations as a reader says them (``2 min``, not
  ``0 days 00:02:00``) — :func:`setup` also makes every displayed table show its
  timedelta columns that way.

The renderer is ``plotly_mimetype`` unless ``TRIBUTARY_PLOTLY_RENDERER`` says otherwise: it
emits ``application/vnd.plotly.v1+json`` — JupyterLab draws it natively, and the report
exporter turns it into a data block drawn with one shared plotly.js. No renderer here ever
embeds plotly.js in a figure.
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from tributary_analysis.analysis.windows import Window, parse_duration, parse_window
from tributary_analysis.errors import ConfigError
from tributary_analysis.ground.format import human_duration, human_seconds

__all__ = [
    "Params", "Window", "check_parameters", "collect_warnings", "counts_step",
    "human_duration", "human_seconds", "mean_latency_query", "open_logs", "open_prometheus",
    "parse_duration", "quantile_step", "range_query", "rate_to_count", "setup",
    "show_source_warnings", "show_sources", "write_summary",
]

DEFAULT_RENDERER = "plotly_mimetype"
LOG_SOURCES = ("files", "elasticsearch")
WARNINGS_MIMETYPE = "application/vnd.tributary.warnings+json"
SOURCES_MIMETYPE = "application/vnd.tributary.sources+json"


def setup(renderer: str | None = None, *, log_level: str = "WARNING") -> str:
    """Prepare a notebook: theme, renderer, pandas display, logging. Returns the renderer.

    Parameters
    ----------
    renderer : str, optional
        A plotly renderer name; default ``$TRIBUTARY_PLOTLY_RENDERER`` or
        ``plotly_mimetype``. Renderers that inline plotly.js per figure (``notebook``,
        ``iframe``, ``browser``…) are refused: a report would carry 4.8 MB per figure.
    """
    import plotly.io as pio

    from tributary_analysis.viz import use_theme

    name = renderer or os.environ.get("TRIBUTARY_PLOTLY_RENDERER") or DEFAULT_RENDERER
    embedding = {"notebook", "iframe", "iframe_connected", "browser", "firefox", "chrome",
                 "chromium", "cocalc", "databricks", "kaggle", "colab", "sphinx_gallery"}
    if name in embedding:
        raise ConfigError(f"plotly renderer {name!r} embeds or opens plotly.js per figure; "
                          "use 'plotly_mimetype' (JupyterLab and reports) or "
                          "'notebook_connected'")
    if name not in pio.renderers:
        raise ConfigError(f"unknown plotly renderer {name!r}; e.g. 'plotly_mimetype'")
    pio.renderers.default = name
    use_theme()
    with warnings.catch_warnings():  # tqdm's "IProgress not found" would land in the report
        warnings.simplefilter("ignore")
        import tqdm.auto  # noqa: F401
    pd.set_option("display.max_columns", 30)
    pd.set_option("display.width", 160)
    pd.set_option("display.float_format", lambda v: f"{v:,.4g}")
    _register_table_formatters()
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.WARNING),
                        format="%(levelname)s %(name)s: %(message)s")
    return name


def _humane_table(df: pd.DataFrame) -> pd.DataFrame:
    """A display copy of ``df`` with timedelta values as ``"2 min"``-style text: columns of
    timedelta dtype, and object columns holding Timedeltas (as rule tables do)."""
    def fmt(v: Any) -> Any:
        if v is pd.NaT:
            return "n/a"
        return human_duration(v) if isinstance(v, timedelta) else v

    out: pd.DataFrame | None = None
    for i in range(df.shape[1]):
        s = df.iloc[:, i]
        if not (pd.api.types.is_timedelta64_dtype(s.dtype) or (
                s.dtype == object and any(isinstance(v, timedelta) for v in s.head(50)))):
            continue
        if out is None:
            out = df.copy()
        out.isetitem(i, [fmt(v) for v in s])
    return df if out is None else out


def _register_table_formatters() -> None:
    """Tables in the kernel show durations humanely: the report is the table's HTML."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the notebooks
        return
    ip = get_ipython()
    if ip is None:
        return
    formatters = ip.display_formatter.formatters

    def as_html(df: pd.DataFrame) -> str | None:
        return _humane_table(df)._repr_html_()  # type: ignore[operator]

    def as_text(df: pd.DataFrame, p: Any, cycle: bool) -> None:
        p.text(repr(_humane_table(df)))

    formatters["text/html"].for_type(pd.DataFrame, as_html)
    formatters["text/plain"].for_type(pd.DataFrame, as_text)


# ---------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Params:
    """Validated notebook parameters."""

    window: Window
    tenants: tuple[str, ...] = ()
    endpoint: str | None = None
    prometheus_url: str | None = None
    log_source: str = "files"
    log_files: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def tenant_filter(self) -> str | list[str] | None:
        """The value to pass as a ``tenant=`` filter (None = all tenants)."""
        if not self.tenants:
            return None
        return self.tenants[0] if len(self.tenants) == 1 else list(self.tenants)

    def describe(self, step: pd.Timedelta | str | None = None) -> str:
        """One line for the notebook header (no credentials: URLs are shown without them);
        with ``step``, the bin width as a reader says it (``· bins of 2 min``)."""
        tenants = ", ".join(self.tenants) if self.tenants else "all tenants"
        ep = self.endpoint or "all endpoints"
        bins = f" · bins of {human_duration(step)}" if step is not None else ""
        return f"{self.window.label()} · {tenants} · {ep}{bins}"


def _check_url(url: str | None) -> str | None:
    if url in (None, ""):
        return None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(f"prometheus_url={url!r} must start with http:// or https://")
    parts = urlsplit(url)
    if parts.username or parts.password or "token=" in parts.query.lower():
        raise ConfigError(
            "prometheus_url carries credentials; notebook parameters are saved in the "
            "executed notebook. Put them in TRIBUTARY_PROMETHEUS_USERNAME/_PASSWORD/_TOKEN "
            "or the config file and pass the URL without them")
    return url


def _as_tuple(value: object, name: str) -> tuple[str, ...]:
    if value in (None, "", "all", ["all"]):
        return ()
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")] if "," in value else [value]
    elif isinstance(value, Iterable):
        items = [str(v) for v in value]
    else:
        raise ConfigError(f"{name}={value!r} must be a list of strings (or None for all)")
    if any(not v for v in items):
        raise ConfigError(f"{name}={value!r} contains an empty value; remove it")
    return tuple(dict.fromkeys(items))


def check_parameters(
    *,
    since: str | None = "24h",
    start: str | None = None,
    end: str | None = None,
    tenants: Sequence[str] | str | None = None,
    endpoint: str | None = None,
    prometheus_url: str | None = None,
    log_source: str = "files",
    log_files: Sequence[str] | str | None = None,
    now: str | datetime | None = None,
    **extra: Any,
) -> Params:
    """Validate the parameters cell and resolve the window.

    ``start`` wins over the default ``since``: a notebook's parameters cell says
    ``since="24h"`` and papermill may inject ``start``/``end`` — giving both on purpose is
    fine, and the explicit window is used.

    Examples
    --------
    >>> p = check_parameters(since="6h", tenants=["acme"], now="2026-01-01T06:00:00Z")
    >>> p.window.start.isoformat(), p.tenants
    ('2026-01-01T00:00:00+00:00', ('acme',))
    """
    for key in extra:
        low = key.lower()
        if any(s in low for s in ("token", "password", "passwd", "secret", "api_key",
                                  "apikey", "credential")):
            raise ConfigError(f"parameter {key!r} looks like a credential; notebook "
                              "parameters are saved in the output. Use the environment "
                              "(TRIBUTARY_*) or the config file instead")
    window = parse_window(None if start not in (None, "") else since, start, end, now=now)
    if log_source not in LOG_SOURCES:
        raise ConfigError(f"log_source={log_source!r}; use one of {', '.join(LOG_SOURCES)}")
    if endpoint not in (None, "") and not str(endpoint).startswith("/"):
        raise ConfigError(f"endpoint={endpoint!r} must be a normalized path such as "
                          "'/api/v1/datasets/{id}/search' (or None for all)")
    files = _as_tuple(log_files, "log_files")
    return Params(window=window, tenants=_as_tuple(tenants, "tenants"),
                  endpoint=endpoint or None, prometheus_url=_check_url(prometheus_url),
                  log_source=log_source, log_files=files, extra=dict(extra))


def open_prometheus(params: Params) -> Any:
    """A :class:`~tributary_analysis.sources.prometheus.PrometheusSource` for the
    parameters: the given URL with credentials from the settings, else the settings' URL."""
    from dataclasses import replace

    from tributary_analysis.config import load_settings
    from tributary_analysis.sources.prometheus import PrometheusSource

    settings = load_settings()
    if params.prometheus_url:
        settings = replace(settings, prometheus_url=params.prometheus_url)
    return PrometheusSource.from_settings(settings)


def open_logs(params: Params, *, prune_by_date: bool = True) -> Any:
    """The log source the parameters name: ``FileLogs`` or ``ElasticsearchLogs``.

    With ``prune_by_date``, log files whose name carries a date (``…-2026-01-31.jsonl``,
    the usual daily rotation) are only read when that day overlaps the window (with an
    hour's margin for late lines): a week of logs is a gigabyte, a day's window needs two
    files. The
    number of files left out is recorded in the source's ``pruned_files`` attribute.
    """
    if params.log_source == "elasticsearch":
        from tributary_analysis.sources.logs.elasticsearch import ElasticsearchLogs

        return ElasticsearchLogs()
    from tributary_analysis.config import load_settings
    from tributary_analysis.sources.logs.files import FileLogs, resolve_paths

    given = list(params.log_files) if params.log_files else None
    if given is None:
        configured = load_settings().log_files
        given = [configured] if configured else None
    if given is None or not prune_by_date:
        return FileLogs(given)
    files = resolve_paths(given)
    keep = [f for f in files if _day_overlaps(f, params.window)]
    src = FileLogs(keep or files)
    src.pruned_files = len(files) - len(keep) if keep else 0  # type: ignore[attr-defined]
    return src


_DAY_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")


def _day_overlaps(path: str, window: Window) -> bool:
    m = _DAY_IN_NAME.search(Path(path).name)
    if not m:
        return True
    try:
        day = pd.Timestamp(m.group(1), tz="UTC")
    except ValueError:
        return True
    margin = pd.Timedelta(hours=1)
    return bool(day - margin < window.end and day + pd.Timedelta(days=1) + margin
                > window.start)


# ---------------------------------------------------------------- warnings


def collect_warnings(*items: object) -> list[str]:
    """Every warning in frames' ``attrs`` (``warnings``, ``partial``, ``problems``), dicts
    of attrs, or plain strings — de-duplicated, in order."""
    out: list[str] = []

    def add(text: object) -> None:
        s = str(text)
        if s and s not in out:
            out.append(s)

    for item in items:
        if item is None:
            continue
        if isinstance(item, str):
            add(item)
            continue
        attrs = getattr(item, "attrs", item)
        if not isinstance(attrs, Mapping):
            continue
        for w in attrs.get("warnings", []) or []:
            add(w.get("message", w) if isinstance(w, Mapping) else w)
        if attrs.get("partial"):
            q = attrs.get("query", "")
            add(f"partial response from the server{f' for {q}' if q else ''}: "
                "some data may be missing")
        problems = attrs.get("problems")
        if isinstance(problems, Mapping):
            counts = problems.get("counts", problems)
            if isinstance(counts, Mapping):
                for kind, n in counts.items():
                    if isinstance(n, int | float) and n:
                        add(f"log input problem {kind}: {int(n)} record(s) left out or nulled")
    return out


def show_source_warnings(*items: object, source: str = "") -> None:
    """Show every warning the sources reported, in a visible box.

    Returns nothing on purpose: it is often a cell's last line, and a returned list would be
    echoed into the report; :func:`collect_warnings` gives the list.

    The box is a ``text/html`` output (escaped: warnings can quote tenant ids) plus the
    ``application/vnd.tributary.warnings+json`` bundle the report header lifts out. When
    there is nothing to report, a one-line note says the check was done.
    """
    from IPython.display import display

    warnings = collect_warnings(*items)
    if not warnings:
        display({"text/html": "<p style='color:#2b7a3d'>✓ The sources reported no "
                              "warnings for this section.</p>",
                 "text/plain": "No source warnings."}, raw=True)
        return
    lis = "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
    label = f" from {html.escape(source)}" if source else ""
    box = ("<div style='border:2px solid #D55E00;background:#fff4ec;padding:8px 12px;"
           f"border-radius:6px'><b>⚠ {len(warnings)} warning(s){label}</b><ul>{lis}</ul>"
           "</div>")
    text = "\n".join(f"⚠ {w}" for w in warnings)
    display({"text/html": box, "text/plain": text,
             WARNINGS_MIMETYPE: {"source": source, "query": "", "warnings": warnings}},
            raw=True)


def show_sources(prometheus: Any = None, logs: Any = None) -> None:
    """Record which sources fed the notebook (kind and URL; never credentials)."""
    from IPython.display import display

    items = []
    if prometheus is not None:
        items.append({"kind": "prometheus", "url": str(getattr(prometheus, "url", ""))})
    if logs is not None:
        kind = str(getattr(logs, "kind", "logs"))
        files = list(getattr(logs, "files", []))
        where = getattr(logs, "url", None) or ", ".join(Path(f).name for f in files[:5]) + (
            f" (+{len(files) - 5} more)" if len(files) > 5 else "")
        pruned = int(getattr(logs, "pruned_files", 0) or 0)
        if pruned:
            where += f"; {pruned} dated file(s) outside the window not read"
        items.append({"kind": kind, "url": str(where)})
    if items:
        text = "\n".join(f"source: {i['kind']} {i['url']}" for i in items)
        display({SOURCES_MIMETYPE: items, "text/plain": text}, raw=True)


# ---------------------------------------------------------------- summary


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return [_jsonable(r) for r in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return _jsonable(value.to_dict())
    if isinstance(value, list | tuple | set | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat() if not pd.isna(value) else None
    if isinstance(value, pd.Timedelta | timedelta):
        return pd.Timedelta(value).total_seconds()
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


def write_summary(path: str | os.PathLike[str] | None, summary: Mapping[str, Any]) -> None:
    """Write the notebook's key results as JSON to ``path`` (no-op when ``path`` is empty).

    Used by the tests (papermill injects ``summary_path``) and by reports that link
    findings; values are made JSON-safe (timestamps → ISO, NaN → null).
    """
    if not path:
        return
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(_jsonable(summary), indent=1, sort_keys=True))


# ---------------------------------------------------------------- fetching


def range_query(prom: Any, expr: str, window: Window, step: pd.Timedelta,
                labels: Sequence[str] = ()) -> pd.DataFrame:
    """``query_range`` over the window; the frame's attrs keep the query and warnings.

    ``labels`` are the ``by (...)`` labels the caller groups on: a result with no series has
    no label columns at all, so they are added (empty) and "no data" flows through the
    analyses as zero rows instead of failing as a malformed frame.
    """
    frame = prom.query_range(expr, window.start, window.end, step.to_pytimedelta())
    missing = [label for label in labels if label not in frame.columns]
    if missing and len(frame) == 0:
        frame = frame.assign(**{label: pd.Categorical([]) for label in missing})
    return frame


def rate_to_count(frame: pd.DataFrame, step: pd.Timedelta) -> pd.DataFrame:
    """Turn per-second rates over ``[step]`` into counts per bin (``rate × step`` is exactly
    Prometheus's ``increase`` over the same range), keeping attrs."""
    out = frame.assign(value=frame["value"].astype("float64") * step.total_seconds())
    out.attrs = dict(frame.attrs)
    return out


def mean_latency_query(window: str | pd.Timedelta, by: Sequence[str] = ("tenant_id",)
                       ) -> str:
    """Mean HTTP latency (``_sum / _count``) per ``by`` group — more sensitive to a broad
    slowdown than a quantile interpolated inside coarse buckets."""
    from tributary_analysis.promql import check_label_name, format_duration

    w = format_duration(window.to_pytimedelta() if isinstance(window, pd.Timedelta)
                        else window)
    labels = ", ".join(check_label_name(b) for b in by)
    agg = f"sum by ({labels}) " if labels else "sum "
    return (f"{agg}(rate(http_request_duration_seconds_sum[{w}])) / "
            f"{agg}(rate(http_request_duration_seconds_count[{w}]))")


def counts_step(window: Window, *, max_points: int = 2100, minimum: str = "2m"
                ) -> pd.Timedelta:
    """Bin width for counts: at least ``minimum`` (two scrapes even at 60 s) and at most
    ``max_points`` bins — 5 minutes for a week, fine enough to time an episode."""
    return window.step(max_points=max_points, minimum=minimum)


def quantile_step(window: Window, *, max_points: int = 200, minimum: str = "15m"
                  ) -> pd.Timedelta:
    """Bin width for quantiles of small groups (per tenant): at least ``minimum`` and at
    most ``max_points`` bins — 15 minutes for a day, 1 hour for a week.

    A tenant sends a few requests per 2-minute bin; the p95 of ten requests is the
    largest of them, and the line jumps between bucket bounds. Pooling 15 minutes gives
    each bin enough requests for a quantile that moves only when latency does.
    """
    return window.step(max_points=max_points, minimum=minimum)
