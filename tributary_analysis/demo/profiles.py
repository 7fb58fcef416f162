"""Simulation profiles: how big, how long and how often the simulated fleet is scraped.

A profile fixes the shape of the world (tenants, datasets, replicas) and the traffic volume;
the seed fixes everything random inside it. ``small`` is sized for CI, ``demo`` for the local
stack (a week of history so "week over week" and "nightly backups" mean something).
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

    @property
    def duration_s(self) -> int:
        """Window length in seconds, a whole number of scrape intervals."""
        steps = round(self.days * 86400 / self.scrape_interval_s)
        return steps * self.scrape_interval_s


PROFILES: dict[str, Profile] = {
    "small": Profile(
        name="small", days=1.0, n_tenants=5, datasets_per_tenant=(1, 3), n_replicas=3,
        scrape_interval_s=30, api_rate=1.0, crossing_after_end_h=(6.0, 18.0),
    ),
    "demo": Profile(
        name="demo", days=7.0, n_tenants=20, datasets_per_tenant=(2, 3), n_replicas=3,
        scrape_interval_s=60, api_rate=0.45, probe_interval_s=15.0,
        crossing_after_end_h=(24.0, 72.0),
    ),
}


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
