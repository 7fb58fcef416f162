"""Figures that may be withheld: the chart when the data carry it, the reason when not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tributary_analysis.analysis.forecast import Forecast, time_to_limit
from tributary_analysis.ground.claims import Insufficient

__all__ = ["show_forecast"]


def show_forecast(forecasts: Mapping[str, Forecast], gaps: Mapping[str, Insufficient],
                  name: str, *, limit: float | None = None, **chart: Any) -> None:
    """Display the forecast chart of resource ``name`` (with its limit and the
    time-to-limit range), or the sentence saying why it is withheld — never a forecast the
    history cannot carry."""
    from IPython.display import Markdown, display

    from tributary_analysis.viz import planning

    if name in gaps:
        display(Markdown(f"*{gaps[name].message()}: no forecast is drawn.*"))
        return
    if name not in forecasts:
        display(Markdown(f"*No forecast for {name}.*"))
        return
    fc = forecasts[name]
    ttl = time_to_limit(fc, limit) if limit is not None else None
    display(planning.forecast_chart(fc, limit=limit, ttl=ttl, **chart))
