"""Simulation profiles: how big, how long and how often the simulated fleet is scraped.

A profile fixes the shape of the world (tenants, datasets, replicas) and the traffic volume;
the seed fixes everything random inside it. ``small`` is sized for CI, ``demo`` for the local
stack (a week of history so "week over week" and "nightly backups" mean something), ``large``
for measuring scale: 1,000 tenants whose sizes are heavy-tailed as in real multi-tenant
services (a few big tenants, a long tail of tiny ones, some idle), over one day.
"""

from __future__ import annotations

from dataclasses import dataclass

from tributary_analysis.errors import ConfigError


@dataclass(frozen=True)
class Profile:
    """Size and pace of one simulation.

    Attributes
    ----------
    name : str
        Profile name, recorded in the manifest.
    days : float
        Length of the simulated history.
    n_tenants : int
        Number of tenants (traffic shares are Zipf-like over them).
    datasets_per_tenant : tuple[int, int]
        Inclusive range of datasets per tenant.
    n_replicas : int
        Pods behind the load balancer; each is one ``instance``.
    scrape_interval_s : int
        Prometheus scrape interval; every timestamp lies on this grid.
    api_rate : float
        Mean API requests per second fleet-wide (before the noisy tenant; health probes are
        extra).
    probe_interval_s : float
        Kubernetes readiness probe period per pod (``GET /health``).
    memory_limit_bytes : int
        Container memory limit, reported as ``memory_usage_bytes{memory_type="total"}``.
    crossing_after_end_h : tuple[float, float]
        Range for when the memory trend would reach the limit, in hours after the end of data.
    sizes : str
        How tenant sizes are drawn: ``"zipf"`` (share of the tenant of rank r ∝ r^-1.1, for
        a few tenants) or ``"heavy_tail"`` (see :data:`HEAVY_TAIL`: a Zipf head times
        log-normal noise, and a share of idle tenants; datasets per tenant grow with size).
    metric_parts : int
        OpenMetrics part files the history is written into (promtool backfills two at a
        time, each holding its whole part in memory: more parts for more samples).
    parts_gb : float
        About how many GB those parts take (measured): whether they fit on a tmpfs.
    """

    name: str
    days: float
    n_tenants: int
    datasets_per_tenant: tuple[int, int]
    n_replicas: int
    scrape_interval_s: int
    api_rate: float = 1.0
    probe_interval_s: float = 10.0
    memory_limit_bytes: int = 4 * 1024**3
    crossing_after_end_h: tuple[float, float] = (24.0, 72.0)
    sizes: str = "zipf"
    metric_parts: int = 2
    parts_gb: float = 6.0

    @property
    def duration_s(self) -> int:
        """Window length in seconds, a whole number of scrape intervals."""
        steps = round(self.days * 86400 / self.scrape_interval_s)
        return steps * self.scrape_interval_s


PROFILES: dict[str, Profile] = {
    "small": Profile(
        name="small", days=1.0, n_tenants=5, datasets_per_tenant=(1, 3), n_replicas=3,
        scrape_interval_s=30, api_rate=1.0, crossing_after_end_h=(6.0, 18.0), parts_gb=0.9,
    ),
    "demo": Profile(
        name="demo", days=7.0, n_tenants=20, datasets_per_tenant=(2, 3), n_replicas=3,
        scrape_interval_s=60, api_rate=0.45, probe_interval_s=15.0,
        crossing_after_end_h=(24.0, 72.0), parts_gb=5.8,
    ),
    "large": Profile(
        name="large", days=1.0, n_tenants=1000, datasets_per_tenant=(1, 5), n_replicas=3,
        scrape_interval_s=60, api_rate=4.0, probe_interval_s=15.0,
        crossing_after_end_h=(6.0, 18.0), sizes="heavy_tail", metric_parts=8, parts_gb=17.0,
    ),
}

#: the ``heavy_tail`` size model: the tenant of size rank r gets weight
#: ``r ** -zipf * exp(N(0, sigma))``; a fraction ``idle`` of the smaller half is idle
#: (accounts with datasets but no API traffic in the window: trials, churned, seasonal)
HEAVY_TAIL: dict[str, float] = {"zipf": 1.0, "sigma": 1.0, "idle": 0.15}


def get_profile(profile: str | Profile) -> Profile:
    """Return a :class:`Profile` by name (or pass one through).

    Raises
    ------
    ConfigError
        For an unknown profile name; the message lists the known ones.
    """
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ConfigError(
            f"unknown simulator profile {profile!r}: use one of {known}"
        ) from None
