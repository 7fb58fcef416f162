"""Injected incidents: the ground truth that analyses and tests are checked against.

Six kinds, each with a window, what it ``affects`` (endpoints, tenants, instances, versions:
the injected cause) and what it is ``expected`` to show (magnitudes, the alert that should
fire, the memory model's limit crossings)::

    error_spike         5xx on one endpoint, all replicas, ~40 min (HighErrorRate fires)
    latency_regression  a deploy (version change) multiplies latency on named endpoints;
                        a fix deploy ends it
    noisy_tenant        one tenant's traffic ramps to ~10x: 429s, rate_limit_hits_total,
                        rate_limit_remaining near 0, and every tenant's latency rises
    memory_trend        one replica's used memory grows linearly towards the limit; runs to
                        the end of data and crosses 90 % / 100 % after it
    scrape_gap          one replica is not scraped (up == 0, no other samples); it keeps
                        serving, so its counters catch up afterwards
    restart             one replica's process restarts right after a scrape: its counters,
                        histograms and memory start again from zero; no count is lost

Episodic incidents never overlap and avoid the first 2 hours and the last hour;
``memory_trend`` is a slow background trend and overlaps the others by nature.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tributary_analysis.demo.profiles import Profile
from tributary_analysis.demo.world import ENDPOINTS, World
from tributary_analysis.errors import ConfigError, DataError
from tributary_analysis.ground.time import iso, parse_time

KINDS = ("error_spike", "latency_regression", "noisy_tenant", "memory_trend", "scrape_gap",
         "restart")
EPISODIC = ("error_spike", "latency_regression", "noisy_tenant", "scrape_gap", "restart")
#: the endpoints a latency regression or error spike may name (normalised form)
API_ENDPOINTS = tuple(e.normalized for e in ENDPOINTS if e.key != "health")
BASE_VERSION = "1.4.2"
BAD_VERSION = "1.5.0"
FIX_VERSION = "1.5.1"
RESTART_DOWNTIME_S = 10
LIMIT_TYPE = "requests_per_minute"


@dataclass(frozen=True)
class Incident:
    """One injected incident (see the module docstring for the kinds)."""

    id: str
    kind: str
    start: datetime
    end: datetime
    description: str = ""
    affects: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)

    @property
    def start_s(self) -> int:
        """Start in unix seconds."""
        return int(self.start.timestamp())

    @property
    def end_s(self) -> int:
        """End in unix seconds."""
        return int(self.end.timestamp())

    def to_json(self) -> dict[str, Any]:
        """The ``incidents.json`` form (ISO-8601 UTC with ``Z``)."""
        return {
            "id": self.id, "kind": self.kind, "start": iso_z(self.start), "end": iso_z(self.end),
            "description": self.description, "affects": self.affects, "expected": self.expected,
        }


def iso_z(t: datetime) -> str:
    """ISO-8601 UTC with a ``Z`` suffix and whole seconds (:func:`ground.time.iso`)."""
    return iso(pd.Timestamp(t).floor("s"))


def from_unix(s: float) -> datetime:
    """A UTC datetime from unix seconds."""
    return datetime.fromtimestamp(s, tz=UTC)


def _parse_time(value: Any, where: str) -> datetime:
    """An incident's time, read by the suite's one time vocabulary (naive means UTC)."""
    try:
        if not isinstance(value, str | datetime):  # a number: seconds or ms? say it in ISO
            raise ConfigError(where)
        t = parse_time(value, name=where)
    except ConfigError:
        raise DataError(
            f"{where} must be an ISO-8601 UTC time such as '2026-11-27T08:00:00Z', got {value!r}"
        ) from None
    return t.to_pydatetime()


def load_incidents(source: str | Path | list[Incident] | list[dict[str, Any]],
                   ) -> list[Incident]:
    """Read incidents from an ``incidents.json`` file or a list of dicts.

    Only the shape is checked here; :func:`validate_incidents` checks them against a world.

    Raises
    ------
    DataError
        Naming the file, the incident and the field that is wrong.
    """
    origin = "incident list"
    if isinstance(source, str | Path):
        origin = str(source)
        try:
            raw = json.loads(Path(source).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"cannot read incidents from {origin}: {exc}") from None
    else:
        raw = source
    if not isinstance(raw, list):
        raise DataError(f"{origin}: expected a JSON list of incidents, got {type(raw).__name__}")
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, Incident):
            out.append(item)
            continue
        where = f"{origin}: incident {i}"
        if not isinstance(item, dict):
            raise DataError(f"{where}: expected an object, got {type(item).__name__}")
        for key in ("id", "kind", "start", "end"):
            if key not in item:
                raise DataError(f"{where}: field '{key}' is missing")
        if not isinstance(item["id"], str) or not item["id"]:
            raise DataError(f"{where}: field 'id' must be a non-empty string")
        where = f"{origin}: incident {item['id']!r}"
        if item["kind"] not in KINDS:
            raise DataError(
                f"{where}: field 'kind' is {item['kind']!r}; use one of {', '.join(KINDS)}"
            )
        for key in ("affects", "expected"):
            if not isinstance(item.get(key, {}), dict):
                raise DataError(f"{where}: field '{key}' must be an object")
        out.append(Incident(
            id=item["id"], kind=item["kind"],
            start=_parse_time(item["start"], f"{where}: field 'start'"),
            end=_parse_time(item["end"], f"{where}: field 'end'"),
            description=str(item.get("description", "")),
            affects=dict(item.get("affects", {})), expected=dict(item.get("expected", {})),
        ))
    return out


def _need(inc: Incident, key: str, allowed: tuple[str, ...] | list[str]) -> None:
    value = inc.affects.get(key)
    values = value if isinstance(value, list) else [value]
    if value is None or value == [] or any(v not in allowed for v in values):
        shown = ", ".join(map(str, allowed))
        raise DataError(
            f"incident {inc.id!r} ({inc.kind}): field 'affects.{key}' is {value!r}; "
            f"use one of {shown}"
        )


def validate_incidents(incidents: list[Incident], world: World, start_s: int, end_s: int,
                       step: int) -> list[Incident]:
    """Check incidents against the simulated world and window; align times to the scrape grid.

    Raises
    ------
    DataError
        Naming the incident and the field (``start``, ``affects.tenant``, ...) that is wrong.
    """
    seen: set[str] = set()
    out = []
    for inc in incidents:
        if inc.id in seen:
            raise DataError(f"incident {inc.id!r}: field 'id' is used twice; ids must be unique")
        seen.add(inc.id)
        s, e = inc.start_s, inc.end_s
        if not start_s <= s < end_s:
            raise DataError(
                f"incident {inc.id!r}: field 'start' ({iso_z(inc.start)}) is outside the "
                f"simulated window {iso_z(from_unix(start_s))} .. {iso_z(from_unix(end_s))}"
            )
        if e > end_s or e < s or (e == s and inc.kind != "restart"):
            raise DataError(
                f"incident {inc.id!r}: field 'end' ({iso_z(inc.end)}) must be after 'start' "
                f"and not after the end of the window {iso_z(from_unix(end_s))}"
            )
        if inc.kind in ("error_spike",):
            _need(inc, "endpoint", API_ENDPOINTS)
        if inc.kind == "latency_regression":
            _need(inc, "endpoints", API_ENDPOINTS)
        if inc.kind == "noisy_tenant":
            _need(inc, "tenant", world.tenants)
        if inc.kind in ("memory_trend", "scrape_gap", "restart"):
            _need(inc, "instance", world.instances)
        s_al = start_s + (s - start_s) // step * step
        e_al = e if inc.kind == "restart" else start_s + -(-(e - start_s) // step) * step
        if inc.kind == "restart":
            e_al = s_al + RESTART_DOWNTIME_S
        out.append(Incident(inc.id, inc.kind, from_unix(s_al), from_unix(min(e_al, end_s)),
                            inc.description, dict(inc.affects), dict(inc.expected)))
    kinds = [i.kind for i in out]
    for k in ("latency_regression", "memory_trend", "restart"):
        if kinds.count(k) > 1:
            raise DataError(f"incidents: field 'kind' {k!r} appears {kinds.count(k)} times; "
                            "the simulator injects at most one")
    return out


def _durations(profile: Profile, rng: np.random.Generator) -> dict[str, int]:
    day = profile.days >= 3
    return {
        "error_spike": int(rng.uniform(36, 44) * 60),
        "latency_regression": int(rng.uniform(6, 10) * 3600 if day else rng.uniform(3, 4) * 3600),
        "noisy_tenant": int(rng.uniform(3, 5) * 3600 if day else rng.uniform(1.75, 2.5) * 3600),
        "scrape_gap": int(rng.uniform(15, 20) * 60),
        "restart": RESTART_DOWNTIME_S,
    }


def place_incidents(profile: Profile, world: World, rng: np.random.Generator, start_s: int,
                    end_s: int) -> list[Incident]:
    """Draw the default incident set: one of each kind, placed by the seed.

    Episodic incidents are laid out in a random order with random slack between them (at least
    45 minutes apart), inside ``[start + 2 h, end - 1 h]``.
    """
    step = profile.scrape_interval_s
    dur = {k: (v if k == "restart" else -(-v // step) * step)
           for k, v in _durations(profile, rng).items()}
    order = [EPISODIC[i] for i in rng.permutation(len(EPISODIC))]
    lo, hi = start_s + 2 * 3600, end_s - 3600
    min_gap = 45 * 60
    slack = (hi - lo) - sum(dur.values()) - min_gap * (len(order) - 1)
    if slack <= 0:
        raise ValueError("the profile's window is too short for its incidents")
    parts = rng.dirichlet(np.ones(len(order) + 1)) * slack
    t = float(lo)
    starts: dict[str, int] = {}
    for j, kind in enumerate(order):
        t += parts[j]
        s = lo + -(-(int(t) - lo) // step) * step
        starts[kind] = s
        t = s + dur[kind] + min_gap

    inst = list(rng.permutation(len(world.instances)))
    inst = (inst * 3)[:3]
    mem_i, restart_i, gap_i = (world.instances[int(i)] for i in inst)
    endpoints = [e.normalized for e in ENDPOINTS]
    n_t = len(world.tenants)
    by_size = np.argsort(-world.share)
    noisy = world.tenants[int(by_size[int(rng.integers(1, max(2, min(n_t, 6))))])]

    def window(kind: str) -> tuple[datetime, datetime]:
        s = starts[kind]
        return from_unix(s), from_unix(s + dur[kind])

    spike_ep = endpoints[0]
    reg_eps = [endpoints[0]] if rng.random() < 0.5 else [endpoints[0], endpoints[1]]
    frac = float(rng.uniform(0.6, 0.75))
    out = [
        Incident("inc-error-spike", "error_spike", *window("error_spike"),
                 description=f"5xx spike on POST {spike_ep}: the search backend fails",
                 affects={"endpoint": spike_ep, "method": "POST",
                          "instances": list(world.instances), "status_codes": [500, 503]},
                 expected={"error_fraction": round(frac, 3), "alert": "HighErrorRate"}),
        Incident("inc-latency-regression", "latency_regression", *window("latency_regression"),
                 description=f"deploy {BAD_VERSION} slows {', '.join(reg_eps)}; "
                             f"fixed by {FIX_VERSION}",
                 affects={"endpoints": reg_eps, "version": BAD_VERSION,
                          "previous_version": BASE_VERSION, "fix_version": FIX_VERSION,
                          "instances": list(world.instances)},
                 expected={"latency_factor": round(float(rng.uniform(2.5, 3.5)), 2),
                           "alert": "none (p95 stays under HighResponseTime's 2 s)"}),
        Incident("inc-noisy-tenant", "noisy_tenant", *window("noisy_tenant"),
                 description=f"{noisy} runs a bulk job: traffic ~10x, rate limited",
                 affects={"tenant": noisy, "limit_type": LIMIT_TYPE,
                          "neighbours": [t for t in world.tenants if t != noisy]},
                 expected={"traffic_factor": 10.0, "neighbour_latency_factor": 1.6,
                           "status_code": 429, "rate_limit_remaining": 0}),
        Incident("inc-scrape-gap", "scrape_gap", *window("scrape_gap"),
                 description=f"{gap_i} is not scraped; it keeps serving",
                 affects={"instance": gap_i}, expected={"up": 0}),
        Incident("inc-restart", "restart", *window("restart"),
                 description=f"{restart_i} restarts right after a scrape: counters reset",
                 affects={"instance": restart_i}, expected={"counter_reset": True}),
    ]
    # memory trend: starts in the first half and runs to the end of data
    m_start = start_s + int((0.25 + 0.25 * rng.random()) * (end_s - start_s)) // step * step
    out.append(Incident(
        "inc-memory-trend", "memory_trend", from_unix(m_start), from_unix(end_s),
        description=f"memory leak on {mem_i}: used memory grows towards the limit",
        affects={"instance": mem_i, "memory_type": "used"},
        expected={"hours_to_limit_after_end": round(float(rng.uniform(
            *profile.crossing_after_end_h)), 2),
            "fraction_at_end": round(float(rng.uniform(0.72, 0.8)), 3)},
    ))
    return sorted(out, key=lambda i: (i.start, i.id))
