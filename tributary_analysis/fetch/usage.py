"""Per-tenant usage histories: one ``by (tenant_id)`` query per measure, all tenants at once.

Counters (requests, searches, vector operations, rate-limit hits) come as counts per bin;
gauges (datasets, vectors, cache hit ratio) as sampled values — datasets and vectors are
reported identically by every replica, so they are combined with ``max``, never ``sum``.

Two shapes: :func:`tenant_usage_data` (the fleet tenant report: every tenant's usage per
bin) and :func:`tenant_report_data` (the report *for one tenant*: that tenant's slice of
every family and the fleet's aggregate beside it, from one query per family for all
tenants — shared by every tenant report of a batch through :mod:`.batch`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from tributary_analysis.fetch.batch import FrameSet, MemoryFrameSet, shared_frames
from tributary_analysis.fetch.prometheus import MetricsSource, count_frame, range_frame
from tributary_analysis.frames.meta import FrameMeta, carry, merge_meta
from tributary_analysis.ground.time import DurationLike, Window, parse_step
from tributary_analysis.promql import LabelSpec, Matcher, selector
from tributary_analysis.promql import catalog as queries

__all__ = [
    "GROWTH_HISTORY", "GROWTH_STEP", "REPORT_FAMILIES", "FleetReportData", "ReportFamily",
    "TenantReportData", "TenantUsageData", "fleet_report_data", "growth_history",
    "report_step", "tenant_report_data", "tenant_usage_data",
]

_BY = ("tenant_id",)


@dataclass(frozen=True)
class TenantUsageData:
    """What the tenant-usage analyses take, per tenant and bin (keyword names of
    :func:`tributary_analysis.analysis.tenants.tenant_usage`)."""

    requests: pd.DataFrame
    searches: pd.DataFrame
    vector_ops: pd.DataFrame
    rate_limit_hits: pd.DataFrame
    datasets: pd.DataFrame
    vectors: pd.DataFrame
    cache_hit_ratio: pd.DataFrame

    def frames(self) -> list[pd.DataFrame]:
        """Every frame, for the page's warning box."""
        return [self.requests, self.searches, self.vector_ops, self.rate_limit_hits,
                self.datasets, self.vectors, self.cache_hit_ratio]

    def as_kwargs(self) -> dict[str, pd.DataFrame]:
        """``tenant_usage(**data.as_kwargs())``."""
        return {"requests": self.requests, "searches": self.searches,
                "vector_ops": self.vector_ops, "rate_limit_hits": self.rate_limit_hits,
                "datasets": self.datasets, "vectors": self.vectors,
                "cache_hit_ratio": self.cache_hit_ratio}


def tenant_usage_data(source: MetricsSource, window: Window, step: DurationLike, *,
                      tenant: LabelSpec | None = None) -> TenantUsageData:
    """Every usage measure per tenant over ``window`` every ``step``.

    An empty result (e.g. no tenant ever hit a rate limit) still has a ``tenant_id``
    column, so "none" is zero rows, not a malformed frame.
    """
    st = parse_step(step)

    def counts(expr: str) -> pd.DataFrame:
        return count_frame(source, expr, window, st, labels=_BY)

    def gauge(expr: str) -> pd.DataFrame:
        return range_frame(source, expr, window, st, labels=_BY)

    return TenantUsageData(
        requests=counts(queries.request_rate(window=st, by=_BY, tenant=tenant)),
        searches=counts(queries.search_rate(window=st, by=_BY, tenant=tenant)),
        vector_ops=counts(queries.vector_ops_rate(window=st, by=_BY, tenant=tenant)),
        rate_limit_hits=counts(queries.rate_limit_hits(window=st, by=_BY, tenant=tenant)),
        datasets=gauge(queries.datasets_by_tenant(tenant=tenant)),
        vectors=gauge(queries.vectors_by_tenant(tenant=tenant)),
        cache_hit_ratio=gauge(queries.cache_hit_ratio(by=_BY, tenant=tenant)),
    )


# ---------------------------------------------------------------- the report for one tenant

#: traffic without a tenant header (health probes): not a tenant, not part of the fleet
NO_TENANT = "unknown"
_TENANTS_ONLY = Matcher.ne("tenant_id", NO_TENANT)
#: the growth history before a window's end: week over week needs 8 days
GROWTH_HISTORY = pd.Timedelta(days=8)
GROWTH_STEP = pd.Timedelta(hours=1)
#: labels of a per-replica series that a replicated gauge is collapsed over
_REPLICA = ("instance", "pod", "job", "metric", "__name__")


@dataclass(frozen=True)
class ReportFamily:
    """One query of the tenant report, asked for every tenant at once.

    ``query(step)`` is the PromQL (``by (tenant_id, labels…)``, health probes excluded);
    ``counts`` turns per-second rates into counts per bin; ``replicated`` marks a raw gauge
    that every replica reports identically (collapsed with ``max`` across replicas);
    ``fleet`` the labels its fleet aggregate keeps (``None``: no fleet aggregate);
    ``history`` asks over the growth history instead of the report window.
    """

    name: str
    query: Callable[[pd.Timedelta], str]
    labels: tuple[str, ...]
    counts: bool = True
    replicated: bool = False
    fleet: tuple[str, ...] | None = ()
    history: bool = False


def _by(*labels: str) -> tuple[str, ...]:
    return ("tenant_id", *labels)


REPORT_FAMILIES: tuple[ReportFamily, ...] = (
    ReportFamily("requests", lambda s: queries.request_rate(
        s, by=_by("endpoint", "status_code"), tenant=_TENANTS_ONLY),
        ("endpoint", "status_code"), fleet=("endpoint", "status_code")),
    ReportFamily("searches", lambda s: queries.search_rate(
        s, by=_by("search_type"), tenant=_TENANTS_ONLY), ("search_type",),
        fleet=("search_type",)),
    ReportFamily("vector_ops", lambda s: queries.vector_ops_rate(
        s, by=_by("operation"), tenant=_TENANTS_ONLY), ("operation",), fleet=("operation",)),
    ReportFamily("rate_limit_hits", lambda s: queries.rate_limit_hits(
        s, by=_by("limit_type"), tenant=_TENANTS_ONLY), ("limit_type",),
        fleet=("limit_type",)),
    ReportFamily("errors", lambda s: queries.errors_rate(
        s, by=_by("error_type", "error_code"), tenant=_TENANTS_ONLY),
        ("error_type", "error_code"), fleet=("error_type", "error_code")),
    ReportFamily("latency", lambda s: queries.latency_buckets(
        s, by=_by(), tenant=_TENANTS_ONLY), ("le",), fleet=("le",)),
    ReportFamily("search_latency", lambda s: queries.search_latency_buckets(
        s, by=_by("search_type"), tenant=_TENANTS_ONLY), ("search_type", "le"),
        fleet=("search_type", "le")),
    # gauges: sampled at each step. rate_limit_remaining and vectors_total are raw series
    # (the catalog has no max-by for them yet), collapsed here with max across replicas
    ReportFamily("rate_limit_remaining", lambda s: selector(
        "rate_limit_remaining", tenant_id=_TENANTS_ONLY), ("limit_type",), counts=False,
        replicated=True, fleet=None),
    ReportFamily("datasets", lambda s: queries.datasets_by_tenant(tenant=_TENANTS_ONLY),
                 (), counts=False),
    ReportFamily("vectors", lambda s: selector("vectors_total", tenant_id=_TENANTS_ONLY),
                 ("dataset_id",), counts=False, replicated=True),
    ReportFamily("requests_hourly", lambda s: queries.request_rate(
        s, by=_by(), tenant=_TENANTS_ONLY), (), history=True),
    ReportFamily("cache_hit_ratio", lambda s: queries.cache_hit_ratio(
        by=_by(), tenant=_TENANTS_ONLY), (), counts=False, fleet=None),
)


def report_step(window: Window) -> pd.Timedelta:
    """The tenant report's bin: at most 200 bins and at least 15 minutes (15 min for a day,
    1 h for a week) — per-tenant latency quantiles need enough requests per bin, and one
    all-tenant query stays small (tenants × series × 200 points)."""
    return window.step(max_points=200, minimum="15m")


def _collapse_replicas(frame: pd.DataFrame, labels: tuple[str, ...]) -> pd.DataFrame:
    """Max across replicas per (timestamp, tenant, labels): every replica reports the same
    value, so a sum would multiply it by the replica count."""
    keys = ["timestamp", "tenant_id", *labels]
    if len(frame) == 0:
        return carry(pd.DataFrame({k: pd.Series(dtype="datetime64[ns, UTC]")
                                   if k == "timestamp" else pd.Series(dtype=object)
                                   for k in keys} | {"value": pd.Series(dtype="float64")}),
                     frame)
    out = frame.groupby(keys, observed=True, sort=True)["value"].max().reset_index()
    return carry(out, frame)


def _fleet(frame: pd.DataFrame, fam: ReportFamily) -> pd.DataFrame:
    """The family summed over tenants (per timestamp and the fleet labels)."""
    keys = ["timestamp", *(fam.fleet or ())]
    if len(frame) == 0:
        return pd.DataFrame({**{k: pd.Series(dtype="datetime64[ns, UTC]")
                                if k == "timestamp" else pd.Series(dtype=object)
                                for k in keys}, "value": pd.Series(dtype="float64")})
    if fam.name == "vectors":  # per dataset first, then the fleet's sum over datasets
        keys = ["timestamp"]
    grouped = frame.groupby(keys, observed=True, sort=True)["value"].sum(min_count=1)
    out = grouped.reset_index()
    for k in keys[1:]:
        out[k] = out[k].astype(str)
    return out


def _family_frame(source: MetricsSource, fam: ReportFamily, window: Window,
                  step: pd.Timedelta) -> pd.DataFrame:
    if fam.history:
        span = Window(window.end - GROWTH_HISTORY + GROWTH_STEP, window.end)
        st = GROWTH_STEP
    elif fam.counts:  # bins (t - step, t] for t = start + step … end: they tile the window
        span, st = Window(window.start + step, window.end), step
    else:
        span, st = window, step
    expr = fam.query(st)
    labels = ("tenant_id", *fam.labels)
    if fam.counts:
        frame = count_frame(source, expr, span, st, labels=labels)
    else:
        frame = range_frame(source, expr, span, st, labels=labels)
    if fam.replicated:
        frame = _collapse_replicas(frame, fam.labels)
    else:
        drop = [c for c in frame.columns if c in _REPLICA]
        frame = carry(frame.drop(columns=drop), frame) if drop else frame
    return frame


def _build(source: MetricsSource, window: Window, step: pd.Timedelta) -> MemoryFrameSet:
    from concurrent.futures import ThreadPoolExecutor

    # a few families at once: the server evaluates them in parallel while we parse
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = list(pool.map(lambda f: _family_frame(source, f, window, step),
                             REPORT_FAMILIES))
    frames = {fam.name: frame for fam, frame in zip(REPORT_FAMILIES, done, strict=True)}
    fleets = {fam.name: _fleet(frames[fam.name], fam) for fam in REPORT_FAMILIES
              if fam.fleet is not None}
    return MemoryFrameSet(frames, fleets)


def growth_history(source: MetricsSource, window: Window) -> pd.DataFrame:
    """Requests per hour by tenant over the 8 days before the window's end: the input of
    week-over-week growth (:func:`tributary_analysis.analysis.tenants.week_over_week`),
    the same query the tenant report's ``requests_hourly`` family asks."""
    fam = next(f for f in REPORT_FAMILIES if f.name == "requests_hourly")
    return _family_frame(source, fam, window, GROWTH_STEP)


@dataclass(frozen=True)
class TenantReportData:
    """One tenant's slice of every report family, the fleet's aggregate beside it, and
    every tenant's totals (for ranks and the closest known ids).

    Attributes
    ----------
    tenant : str
        The tenant asked for (untrusted text, used only as a value).
    window : Window
        The report window; ``step`` its bin; counts bins end at ``start + step … end``.
    tenant_frames, fleet_frames : mapping of family name to DataFrame
        The tenant's rows (``tenant_id`` column) and the fleet's sums (health probes,
        ``tenant_id="unknown"``, are in neither).
    totals : mapping of family name to DataFrame
        ``tenant_id``, ``value``: every tenant's sum over the window (counts families).
    shared : bool
        Read from the batch's shared cache (one query per family for the whole batch).
    """

    tenant: str
    window: Window
    step: pd.Timedelta
    tenant_frames: Mapping[str, pd.DataFrame]
    fleet_frames: Mapping[str, pd.DataFrame]
    totals: Mapping[str, pd.DataFrame]
    shared: bool = False
    metas: Mapping[str, FrameMeta] = field(default_factory=dict)

    def frames(self) -> list[pd.DataFrame]:
        """One frame per family (the tenant's slice), for the page's warning box: each
        carries the metadata of the shared query it was cut from."""
        return list(self.tenant_frames.values())

    def known_tenants(self) -> list[str]:
        """Tenants that sent a request in the window, busiest first."""
        t = self.totals["requests"]
        t = t[t["value"] > 0].sort_values(["value", "tenant_id"], ascending=[False, True])
        return t["tenant_id"].astype(str).tolist()

    def meta(self) -> FrameMeta:
        """Everything the shared queries said, merged (for the page header)."""
        return merge_meta(*self.metas.values())


def _frame_set(source: MetricsSource, window: Window, st: pd.Timedelta,
               batch: str | None) -> FrameSet:
    # one batch runs under one set of settings (server, scope headers), so the server's URL,
    # the window, the step and the queries identify the question
    server = str(getattr(source, "url", "")) or type(source).__name__
    parts = [server, window.start.isoformat(), window.end.isoformat(), st.isoformat(),
             *[f.query(st if not f.history else GROWTH_STEP) for f in REPORT_FAMILIES]]
    return shared_frames(lambda: _build(source, window, st), parts, batch=batch)


@dataclass(frozen=True)
class FleetReportData:
    """Every tenant's frames of the report families: the same numbers the reports for
    one tenant show (one definition), for the fleet tenant report."""

    window: Window
    step: pd.Timedelta
    all_frames: Mapping[str, pd.DataFrame]
    shared: bool = False

    def frames(self) -> list[pd.DataFrame]:
        """One frame per family, for the page's warning box."""
        return list(self.all_frames.values())


def fleet_report_data(source: MetricsSource, window: Window, *,
                      step: DurationLike | None = None, batch: str | None = None
                      ) -> FleetReportData:
    """Every tenant's frames of :data:`REPORT_FAMILIES` over ``window`` — from the batch's
    shared cache when the tenant reports of the same batch filled it (no query at all),
    else queried once per family."""
    st = parse_step(step) if step is not None else report_step(window)
    fs = _frame_set(source, window, st, batch)
    try:
        frames = {f.name: fs.frame(f.name) for f in REPORT_FAMILIES}
    finally:
        fs.close()
    return FleetReportData(window=window, step=st, all_frames=frames, shared=fs.shared)


def tenant_report_data(source: MetricsSource, window: Window, tenant: str, *,
                       step: DurationLike | None = None, batch: str | None = None
                       ) -> TenantReportData:
    """Everything the report for ``tenant`` shows, from one query per family for all
    tenants (:data:`REPORT_FAMILIES`).

    In a report batch (``TRIBUTARY_REPORT_BATCH`` set, or ``batch=``) the first kernel
    queries and stores every tenant's frames once; the others read their slice
    (:func:`tributary_analysis.fetch.batch.shared_frames`). Outside a batch the same queries
    run here. Either way each frame keeps the :class:`FrameMeta` of the query it came from
    (server warnings, partial responses), so they reach every tenant's page.

    Parameters
    ----------
    source : MetricsSource
        A ``PrometheusSource``.
    window : Window
        The report window.
    tenant : str
        The tenant id (untrusted: compared as a value, never put into a query).
    step : duration, optional
        Default :func:`report_step` of the window.
    batch : str, optional
        Default ``$TRIBUTARY_REPORT_BATCH``.
    """
    st = parse_step(step) if step is not None else report_step(window)
    fs = _frame_set(source, window, st, batch)
    try:
        tenant_frames = {f.name: fs.slice(f.name, tenant) for f in REPORT_FAMILIES}
        fleet_frames = {f.name: fs.fleet(f.name) for f in REPORT_FAMILIES
                        if f.fleet is not None}
        totals = {f.name: fs.totals(f.name) for f in REPORT_FAMILIES if f.counts}
        metas = {f.name: fs.meta(f.name) for f in REPORT_FAMILIES}
    finally:
        fs.close()
    return TenantReportData(tenant=str(tenant), window=window, step=st,
                            tenant_frames=tenant_frames, fleet_frames=fleet_frames,
                            totals=totals, shared=fs.shared, metas=metas)
