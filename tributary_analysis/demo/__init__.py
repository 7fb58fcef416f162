"""Deterministic telemetry simulator of the Tributary service: metrics, logs, ground truth.

``simulate(profile, seed, end, out_dir, incidents, progress)`` writes into ``out_dir``:

``manifest.json``
    profile, seed, ``start``/``end`` (ISO-8601 UTC with ``Z``) and ``start_unix``/``end_unix``,
    ``scrape_interval_s``, ``instances``, ``tenants``, ``datasets`` {tenant: [ids]},
    ``versions`` [{version, start, start_unix}], ``files`` {metrics, logs} (relative paths),
    ``counts`` {requests, log_lines, series, samples}, ``memory_limit_bytes``; plus
    ``family_counts`` {family: {series, samples}} and ``truth`` (``datasets_total`` per tenant,
    ``vectors_total_at_end`` per dataset: every replica reports these business gauges, so
    ``sum()`` over instances overcounts).
``metrics/part-NNN.om`` (or ``metrics_dir=``, e.g. on a tmpfs; the manifest then lists
absolute paths)
    OpenMetrics for ``promtool tsdb create-blocks-from openmetrics``: whole families per file,
    balanced by samples, each file ending in ``# EOF``; timestamps in seconds on the scrape
    grid; every series carries ``job="deeplake-api"`` and ``instance``. Every family of
    :data:`tributary_analysis.seed.METRIC_FAMILIES` with exactly its labels, plus ``up`` and
    ``deeplake_api_info{version,environment}``. ``# TYPE`` names follow OpenMetrics (counters
    without ``_total``, the info family without ``_info``); no ``_created`` series.
``metrics/parts.json``
    ``{"parts": [file names], "samples": n}``, written (atomically) once every part is final:
    the signal to start promtool while the logs are still being written.
``logs/deeplake-api-YYYY-MM-DD.jsonl``
    the seed's ``StructuredLogger`` envelope through python-json-logger (see
    :mod:`~tributary_analysis.demo.logs`), sorted by time, one file per UTC day. Written into
    ``logs.tmp/`` at the same time as the parts and renamed to ``logs/`` after both are done,
    so ``logs/`` existing means the parts are final and every log file is complete.
``incidents.json``
    the injected incidents (see :mod:`~tributary_analysis.demo.incidents`).

The returned :class:`SimulationResult` holds the manifest, the incidents and a ``requests``
frame (one row per request) that logs and metrics both derive from, so they agree exactly.
"""

from __future__ import annotations

from tributary_analysis.demo.incidents import KINDS, Incident, load_incidents
from tributary_analysis.demo.profiles import PROFILES, Profile, get_profile
from tributary_analysis.demo.simulate import SimulationResult, simulate

__all__ = ["KINDS", "PROFILES", "Incident", "Profile", "SimulationResult", "get_profile",
           "load_incidents", "simulate"]
