"""Deterministic telemetry simulator of the Tributary service (metrics, logs, ground truth).

Entry point: :func:`simulate`. See ``docs/simulator.md`` for the output contract.
"""

from __future__ import annotations

from tributary_analysis.demo.incidents import KINDS, Incident, load_incidents
from tributary_analysis.demo.profiles import PROFILES, Profile, get_profile
from tributary_analysis.demo.simulate import SimulationResult, simulate

__all__ = ["KINDS", "PROFILES", "Incident", "Profile", "SimulationResult", "get_profile",
           "load_incidents", "simulate"]
