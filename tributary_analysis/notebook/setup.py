"""Prepare a notebook kernel: plotly theme and renderer, pandas display, logging.

The renderer is ``plotly_mimetype`` unless ``TRIBUTARY_PLOTLY_RENDERER`` says otherwise: it
emits ``application/vnd.plotly.v1+json`` — JupyterLab draws it natively, and the report
exporter turns it into a data block drawn with one shared plotly.js. No renderer here ever
embeds plotly.js in a figure. Displayed tables are tables a person reads
(:mod:`tributary_analysis.notebook.tables`: ``2 min``, not ``0 days 00:02:00``; no index,
no ``NaN``, no ``1.438e+04``).
"""

from __future__ import annotations

import logging
import os
import warnings
from datetime import timedelta
from typing import Any

import pandas as pd

from tributary_analysis.errors import ConfigError
from tributary_analysis.ground.format import human_duration

__all__ = ["DEFAULT_RENDERER", "setup"]

DEFAULT_RENDERER = "plotly_mimetype"
#: renderers that inline or open plotly.js per figure (4.8 MB each in a report)
_EMBEDDING = frozenset({"notebook", "iframe", "iframe_connected", "browser", "firefox",
                        "chrome", "chromium", "cocalc", "databricks", "kaggle", "colab",
                        "sphinx_gallery"})


def setup(renderer: str | None = None, *, log_level: str = "WARNING") -> str:
    """Prepare a notebook: theme, renderer, pandas display, logging, the page's answer
    block (filled by :func:`~tributary_analysis.notebook.summary.show_summary`) and its one
    warning box (empty until a source has something to say). Returns the renderer.

    Parameters
    ----------
    renderer : str, optional
        A plotly renderer name; default ``$TRIBUTARY_PLOTLY_RENDERER`` or
        ``plotly_mimetype``. Renderers that inline plotly.js per figure (``notebook``,
        ``iframe``, ``browser``…) are refused: a report would carry 4.8 MB per figure.
    log_level : str
        Logging level of the kernel (``WARNING``: only what the reader should see).
    """
    import plotly.io as pio

    from tributary_analysis.notebook.display import start_page
    from tributary_analysis.notebook.summary import start_answer
    from tributary_analysis.viz import use_theme

    name = renderer or os.environ.get("TRIBUTARY_PLOTLY_RENDERER") or DEFAULT_RENDERER
    if name in _EMBEDDING:
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
    start_answer()  # the answer first (filled by show_summary at the end) ...
    start_page()  # ... then the one warning box
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
    """Every displayed DataFrame is a table a person reads (:mod:`.tables`: no index,
    formatted cells, nothing cut): the report is the table's HTML."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the notebooks
        return
    ip = get_ipython()
    if ip is None:
        return
    formatters = ip.display_formatter.formatters

    from tributary_analysis.notebook.tables import table_html, table_text

    def as_html(df: pd.DataFrame) -> str | None:
        return table_html(df)

    def as_text(df: pd.DataFrame, p: Any, cycle: bool) -> None:
        p.text(table_text(df).to_string(index=False))

    formatters["text/html"].for_type(pd.DataFrame, as_html)
    formatters["text/plain"].for_type(pd.DataFrame, as_text)
