"""An estimate the data cannot carry is a value of its own: :class:`Insufficient`.

Analysis functions that need a minimum of data (history length, seasons, samples per bin,
requests per bin) return ``Insufficient(what, have, need)`` instead of a number below that
minimum. Pages show its :meth:`~Insufficient.message` where the number would be, and every
report lists them under ``insufficient`` in ``summary.json`` — a forecast from a day of
history or a p99 of five requests is withheld, never shown.

Examples
--------
>>> gap = check_enough("p99 latency", have=5, need=50, unit="requests")
>>> gap.message()
'not enough data for p99 latency (have 5 requests, need 50 requests)'
>>> check_enough("p99 latency", have=500, need=50, unit="requests") is None
True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Insufficient:
    """What was withheld, what the data holds, and what the estimate needs.

    ``have`` and ``need`` are short readable quantities with units (``"1 d of history"``,
    ``"2 weekly seasons"``, ``"5 requests"``), written by the function that knows the rule.
    """

    what: str
    have: str
    need: str

    def message(self) -> str:
        """``not enough data for <what> (have X, need Y)``: what a page prints."""
        return f"not enough data for {self.what} (have {self.have}, need {self.need})"

    def short(self) -> str:
        """``not enough data (have X, need Y)``: for a table cell or tile under its name."""
        return f"not enough data (have {self.have}, need {self.need})"

    def to_json(self) -> dict[str, str]:
        """The ``summary.json`` entry."""
        return {"what": self.what, "have": self.have, "need": self.need}

    def __str__(self) -> str:
        return self.message()


def _qty(value: float, unit: str) -> str:
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3g}"
    return f"{text} {unit}".strip()


def check_enough(what: str, *, have: float, need: float, unit: str = "") -> Insufficient | None:
    """``Insufficient`` when ``have < need`` (counts in one unit), else ``None``."""
    if have >= need:
        return None
    return Insufficient(what, _qty(have, unit), _qty(need, unit))


def is_claim(value: object) -> bool:
    """True when ``value`` is a number or result the data carries (not withheld)."""
    return not isinstance(value, Insufficient)


def withheld(values: Iterable[Any]) -> list[Insufficient]:
    """The :class:`Insufficient` items among ``values`` (for a summary's list)."""
    return [v for v in values if isinstance(v, Insufficient)]


def claim_or(value: T | Insufficient, default: T) -> T:
    """``value`` when it is a claim, else ``default`` (for code that must go on)."""
    return default if isinstance(value, Insufficient) else value
