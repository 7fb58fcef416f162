"""Every notebook parameter validated in one place, with errors that name the parameter
and the fix.

Parameters are written into executed notebooks, so credentials are refused here: they
belong in the environment or the config file. The window is resolved by
:func:`tributary_analysis.ground.time.parse_window`, as the CLI and schedules resolve it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from tributary_analysis.errors import ConfigError
from tributary_analysis.fetch.sources import LOG_SOURCES
from tributary_analysis.ground.format import human_duration
from tributary_analysis.ground.time import DurationLike, TimeLike, Window, parse_window

__all__ = ["CREDENTIAL_WORDS", "Params", "check_parameters", "counts_step", "quantile_bins",
           "quantile_step"]

#: parameter names that look like credentials (refused: they would be saved in the output)
CREDENTIAL_WORDS = ("token", "password", "passwd", "secret", "api_key", "apikey",
                    "credential")


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

    def selection(self) -> str:
        """Which tenants and endpoints the notebook covers (``all tenants · all
        endpoints``)."""
        tenants = ", ".join(self.tenants) if self.tenants else "all tenants"
        return f"{tenants} · {self.endpoint or 'all endpoints'}"

    def describe(self, step: DurationLike | None = None) -> str:
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
    since: DurationLike | None = "24h",
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    tenants: Sequence[str] | str | None = None,
    endpoint: str | None = None,
    prometheus_url: str | None = None,
    log_source: str = "files",
    log_files: Sequence[str] | str | None = None,
    now: TimeLike | None = None,
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
        if any(s in low for s in CREDENTIAL_WORDS):
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


def counts_step(window: Window, *, max_points: int = 2100, minimum: DurationLike = "2m"
                ) -> pd.Timedelta:
    """Bin width for counts: at least ``minimum`` (two scrapes even at 60 s) and at most
    ``max_points`` bins — 5 minutes for a week, fine enough to time an episode."""
    return window.step(max_points=max_points, minimum=minimum)


def quantile_step(window: Window, *, max_points: int = 200, minimum: DurationLike = "15m"
                  ) -> pd.Timedelta:
    """Bin width for quantiles of small groups (per tenant): at least ``minimum`` and at
    most ``max_points`` bins — 15 minutes for a day, 1 hour for a week.

    A tenant sends a few requests per 2-minute bin; the p95 of ten requests is the
    largest of them, and the line jumps between bucket bounds. Pooling 15 minutes gives
    each bin enough requests for a quantile that moves only when latency does.
    """
    return window.step(max_points=max_points, minimum=minimum)


def quantile_bins(window: Window, requests: float, *, need: int = 100,
                  minimum: DurationLike = "2m", max_points: int = 2100) -> pd.Timedelta:
    """Bin width for quantiles over time: wide enough that a bin holds about ``need``
    requests on average (100: a p99 then rests on one request beyond it), at least
    ``minimum`` and at most ``max_points`` bins.

    Examples
    --------
    >>> w = Window.of("2026-01-01", "2026-01-02")
    >>> quantile_bins(w, 60_000), quantile_bins(w, 6_000_000)
    (Timedelta('0 days 00:05:00'), Timedelta('0 days 00:02:00'))
    """
    points = max_points if requests <= 0 else max(1, min(max_points, int(requests // need)))
    return window.step(max_points=points, minimum=minimum)
