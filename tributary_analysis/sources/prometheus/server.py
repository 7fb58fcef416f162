"""Which server answers: detected once per source, so behaviour can follow its version.

``/api/v1/status/buildinfo`` (Prometheus 2.14+, and Thanos/Mimir with their own
``application``) gives the version; ``/api/v1/features`` (Prometheus 3.9+) lists what is
enabled. From the version follow the facts the client relies on:

==========================  =========  ==================================================
fact                        since      effect here
==========================  =========  ==================================================
``infos`` in responses      2.54       kept apart from ``warnings`` (older: none)
``limit`` on series/labels  2.51       sent to the server; older: cut client-side, said so
``limit`` on queries        3.2        sent to the server; older: cut client-side, said so
UTF-8 names, quoted syntax  3.0        selector builders quote them; refused for 2.x
left-open range selectors   3.0        ``range_semantics`` ``"left-open"`` (2.x ``"closed"``)
``le``/``quantile`` as      3.0        bucket bounds are compared as floats, never text
float text (``"1.0"``)
histogram_quantile          2.48/2.49  monotonicity tolerance and the accuracy fix;
                                       3.5: no result when classic and native coexist
==========================  =========  ==================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

RangeSemantics = Literal["closed", "left-open"]

_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class ServerInfo:
    """The server behind a source, as detected (or ``detected=False`` when it did not say).

    Attributes
    ----------
    application : str
        ``Prometheus``, or what a compatible server calls itself (``Grafana Mimir``).
    version : str
        As reported (``2.42.0+ds``, ``3.16.0``); empty when unknown.
    revision : str
        The build's revision, when reported.
    features : mapping
        ``/api/v1/features``: category → feature → enabled (empty when the server has no
        such endpoint).
    detected : bool
        Whether buildinfo answered.
    """

    application: str = "Prometheus"
    version: str = ""
    revision: str = ""
    features: Mapping[str, Mapping[str, bool]] = field(default_factory=dict)
    detected: bool = False

    @classmethod
    def from_api(cls, buildinfo: Mapping[str, Any] | None,
                 features: Mapping[str, Any] | None = None) -> ServerInfo:
        """Build from the ``data`` objects of buildinfo and features (either may be None)."""
        data = dict(buildinfo or {})
        feats = {str(cat): {str(k): bool(v) for k, v in (items or {}).items()}
                 for cat, items in (features or {}).items() if isinstance(items, Mapping)}
        return cls(application=str(data.get("application") or "Prometheus"),
                   version=str(data.get("version") or ""),
                   revision=str(data.get("revision") or ""), features=feats,
                   detected=buildinfo is not None)

    @property
    def release(self) -> tuple[int, int, int] | None:
        """``(major, minor, patch)`` of a Prometheus server, ``None`` if unknown."""
        if not self.is_prometheus:
            return None
        m = _VERSION.match(self.version.strip())
        if not m:
            return None
        return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)

    @property
    def is_prometheus(self) -> bool:
        return self.application.lower() == "prometheus"

    def at_least(self, major: int, minor: int = 0, patch: int = 0) -> bool:
        """Whether this is a Prometheus of at least that version (False when unknown)."""
        rel = self.release
        return rel is not None and rel >= (major, minor, patch)

    def feature(self, category: str, name: str) -> bool | None:
        """A flag from ``/api/v1/features`` (``None`` when the server does not list it)."""
        value = self.features.get(category, {}).get(name)
        return None if value is None else bool(value)

    @property
    def major(self) -> int | None:
        rel = self.release
        return None if rel is None else rel[0]

    @property
    def range_semantics(self) -> RangeSemantics:
        """How range selectors and lookback bound their window: ``"closed"`` ``[t-r, t]``
        for 2.x, ``"left-open"`` ``(t-r, t]`` for 3.x (unknown servers: ``"closed"``)."""
        return "left-open" if self.at_least(3) else "closed"

    @property
    def utf8_names(self) -> bool:
        """Quoted UTF-8 metric and label names (``{"a.b", "l.x"="v"}``) are understood."""
        return self.at_least(3)

    @property
    def has_infos(self) -> bool:
        return self.at_least(2, 54)

    @property
    def limit_on_metadata(self) -> bool:
        """``limit`` on ``/series``, ``/labels`` and label values (2.51+)."""
        return self.at_least(2, 51)

    @property
    def limit_on_queries(self) -> bool:
        """``limit`` on ``/query`` and ``/query_range`` (3.2+)."""
        return self.at_least(3, 2)

    @property
    def normalises_le(self) -> bool:
        """``le``/``quantile`` values are stored as float text (``"1"`` → ``"1.0"``)."""
        return self.at_least(3)

    @property
    def quantile_algorithm(self) -> str:
        """Which client-side ``histogram_quantile`` equals this server's: ``"2.42"`` (and
        older) or ``"3"`` (the 2.48 monotonicity tolerance, 2.49 accuracy fix and 3.5
        classic/native conflict rule)."""
        return "3" if self.at_least(3) else "2.42"

    def describe(self) -> str:
        """``Prometheus 2.42.0+ds`` — what frame metadata and report headers show."""
        if not self.detected:
            return ""
        return f"{self.application} {self.version}".strip()

    def __str__(self) -> str:
        return self.describe() or "unknown server"
