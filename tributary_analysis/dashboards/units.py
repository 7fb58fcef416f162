"""Grafana's unit ids and colours, as a reader of the report sees them.

A panel says ``"unit": "bytes"`` or ``"percentunit"``; here that becomes a *scale* (divide
the values by 2³⁰ and say ``GiB``; multiply ratios by 100 and say ``%``) chosen once per axis
or value from its magnitude, so an axis reads ``0 … 3.5 GiB`` instead of ``3.7e+09`` and a
stat reads ``250 ms`` instead of ``0.25``. Numbers carry thousands separators and at most
three significant digits unless the panel fixes ``decimals``. Threshold colours keep
Grafana's named palette (``green`` is Grafana's ``#73BF69``), so a reader recognises the
dashboard's meaning. Pure functions, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from tributary_analysis.ground.format import human_duration

__all__ = ["Scale", "color_hex", "format_number", "format_value", "is_known_unit",
           "scale_for", "shown_decimals", "unit_label"]

#: Grafana's named colours (light theme values)
NAMED_COLORS: dict[str, str] = {
    "green": "#73BF69", "dark-green": "#37872D", "semi-dark-green": "#56A64B",
    "light-green": "#96D98D", "super-light-green": "#C8F2C2",
    "yellow": "#FADE2A", "dark-yellow": "#E0B400", "semi-dark-yellow": "#F2CC0C",
    "light-yellow": "#FFEE52", "super-light-yellow": "#FFF899",
    "red": "#F2495C", "dark-red": "#C4162A", "semi-dark-red": "#E02F44",
    "light-red": "#FF7383", "super-light-red": "#FFA6B0",
    "blue": "#5794F2", "dark-blue": "#1F60C4", "semi-dark-blue": "#3274D9",
    "light-blue": "#8AB8FF", "super-light-blue": "#C0D8FF",
    "orange": "#FF9830", "dark-orange": "#FA6400", "semi-dark-orange": "#FF780A",
    "light-orange": "#FFB357", "super-light-orange": "#FFCB7D",
    "purple": "#B877D9", "dark-purple": "#8F3BB8", "semi-dark-purple": "#A352CC",
    "light-purple": "#CA95E5", "super-light-purple": "#DEB6F2",
    "text": "#24292E", "transparent": "rgba(0,0,0,0)",
}


def color_hex(name: str | None, default: str = "#5794F2") -> str:
    """A Grafana colour name (or ``#hex`` / ``rgb()``) as a CSS colour."""
    if not name:
        return default
    text = str(name).strip()
    if text.startswith(("#", "rgb", "hsl")):
        return text
    return NAMED_COLORS.get(text.lower(), default)


@dataclass(frozen=True)
class Scale:
    """Divide values by ``factor`` and write ``suffix`` (or ``prefix``) after them."""

    factor: float = 1.0
    suffix: str = ""
    prefix: str = ""

    def apply(self, value: float) -> float:
        return value / self.factor


_SHORT = ((1e12, " Tri"), (1e9, " Bil"), (1e6, " Mil"), (1e3, " K"))
_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_IEC = ((2.0 ** 40, "Ti"), (2.0 ** 30, "Gi"), (2.0 ** 20, "Mi"), (2.0 ** 10, "Ki"))
#: time units → seconds
_TIME = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
         "d": 86400.0}
_TIME_STEPS = ((86400.0, "d"), (3600.0, "h"), (60.0, "min"), (1.0, "s"), (1e-3, "ms"),
               (1e-6, "µs"), (1e-9, "ns"))
#: counted-rate units: suffix after a short-scaled number
_RATES = {"reqps": "req/s", "rps": "reads/s", "wps": "writes/s", "iops": "io/s",
          "ops": "ops/s", "cps": "/s", "opm": "ops/min", "reqpm": "req/min", "rpm": "reads/min",
          "wpm": "writes/min", "cpm": "/min", "mps": "msg/s", "eps": "events/s",
          "hertz": "Hz"}
#: data units: (bytes per unit, IEC?)
_DATA = {"bytes": (1.0, True), "decbytes": (1.0, False), "kbytes": (1024.0, True),
         "mbytes": (2.0 ** 20, True), "gbytes": (2.0 ** 30, True),
         "tbytes": (2.0 ** 40, True), "deckbytes": (1e3, False), "decmbytes": (1e6, False),
         "decgbytes": (1e9, False), "bits": (1.0, True), "decbits": (1.0, False)}
_DATA_RATE = {"Bps": (1.0, False, "B/s"), "binBps": (1.0, True, "B/s"),
              "bps": (1.0, False, "b/s"), "binbps": (1.0, True, "b/s"),
              "KBs": (1e3, False, "B/s"), "MBs": (1e6, False, "B/s")}
_PLAIN = {"none", "short", "percent", "percentunit", "dtdurations", "dtdurationms",
          "dateTimeAsIso", "dateTimeAsSystem", "dateTimeAsUS",
          "dateTimeFromNow", "bool", "bool_yes_no", "bool_on_off", "currencyUSD",
          "currencyEUR", "currencyGBP", "celsius", "fahrenheit", "watt", "kwatt",
          "volt", "amp", "lengthm", "velocityms", "string"}
_CURRENCY = {"currencyUSD": "$", "currencyEUR": "€", "currencyGBP": "£"}
_PHYSICAL = {"celsius": "°C", "fahrenheit": "°F", "watt": "W", "kwatt": "kW", "volt": "V",
             "amp": "A", "lengthm": "m", "velocityms": "m/s"}


def is_known_unit(unit: str | None) -> bool:
    """Whether this module knows ``unit`` (unknown ones are shown as a plain suffix)."""
    if not unit:
        return True
    return (unit in _PLAIN or unit in _TIME or unit in _RATES or unit in _DATA
            or unit in _DATA_RATE or unit.startswith(("suffix:", "prefix:", "count:")))


def _pick(steps: tuple[tuple[float, str], ...], magnitude: float) -> tuple[float, str]:
    for size, label in steps:
        if magnitude >= size * 0.9995:
            return size, label
    return 1.0, ""


def scale_for(unit: str | None, magnitude: float) -> Scale:
    """The display scale for values of ``unit`` whose typical size is ``magnitude``.

    Examples
    --------
    >>> scale_for("bytes", 3.5 * 2**30)
    Scale(factor=1073741824.0, suffix=' GiB', prefix='')
    >>> scale_for("s", 0.25)
    Scale(factor=0.001, suffix=' ms', prefix='')
    >>> scale_for("percentunit", 0.5)
    Scale(factor=0.01, suffix=' %', prefix='')
    """
    u = unit or "none"
    m = abs(magnitude) if magnitude is not None and math.isfinite(magnitude) else 0.0
    if u in ("none", "string"):
        return Scale()
    if u == "short":
        size, label = _pick(_SHORT, m)
        return Scale(size, label)
    if u == "percent":
        return Scale(1.0, " %")
    if u == "percentunit":
        return Scale(0.01, " %")
    if u in _TIME:
        base = _TIME[u]
        seconds = m * base
        size, label = _pick(_TIME_STEPS, seconds) if seconds else (base, _short_time(u))
        return Scale(size / base, " " + (label or _short_time(u)))
    if u in _RATES:
        size, label = _pick(_SHORT, m)
        return Scale(size, f"{label} {_RATES[u]}".replace("  ", " "))
    if u in _DATA:
        base, iec = _DATA[u]
        bits = u in ("bits", "decbits")
        size, label = _pick(_IEC if iec else _SI, m * base)
        return Scale(size / base, f" {label}{'b' if bits else 'B'}")
    if u in _DATA_RATE:
        base, iec, tail = _DATA_RATE[u]
        size, label = _pick(_IEC if iec else _SI, m * base)
        return Scale(size / base, f" {label}{tail}")
    if u in _CURRENCY:
        return Scale(1.0, "", _CURRENCY[u])
    if u in _PHYSICAL:
        return Scale(1.0, " " + _PHYSICAL[u])
    if u.startswith("suffix:"):
        return Scale(1.0, " " + u.removeprefix("suffix:").strip())
    if u.startswith("prefix:"):
        return Scale(1.0, "", u.removeprefix("prefix:"))
    if u.startswith("count:"):
        size, label = _pick(_SHORT, m)
        return Scale(size, f"{label} {u.removeprefix('count:')}")
    if u in _PLAIN:
        return Scale()
    return Scale(1.0, " " + u)  # unknown id: shown as it is, the page notes it


def _short_time(u: str) -> str:
    return {"m": "min", "us": "µs"}.get(u, u)


def unit_label(unit: str | None, magnitude: float) -> str:
    """The axis-title form of a scale: ``GiB``, ``ms``, ``req/s``, ``%`` (``""`` for none)."""
    s = scale_for(unit, magnitude)
    return (s.prefix + s.suffix).strip()


def format_number(value: float, decimals: int | None = None) -> str:
    """A number with thousands separators: ``decimals`` fixed, else three significant
    digits (integers stay whole).

    Examples
    --------
    >>> format_number(14380.0), format_number(0.011894), format_number(2.5, 2)
    ('14,380', '0.0119', '2.50')
    """
    if value is None or not math.isfinite(value):
        return "—" if value is None or math.isnan(value) else ("∞" if value > 0 else "−∞")
    if decimals is not None:
        text = f"{value:,.{max(0, min(decimals, 12))}f}"
    elif value == int(value) and abs(value) < 1e15:
        text = f"{int(value):,}"
    else:
        a = abs(value)
        digits = 0 if a >= 100 else (1 if a >= 10 else (2 if a >= 1 else
                                                        max(2, 2 - math.floor(math.log10(a)))))
        text = f"{value:,.{digits}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    return text.replace("-", "−") if text.startswith("-") else text


def format_value(value: float | None, unit: str | None = None, decimals: int | None = None,
                 *, scale: Scale | None = None) -> str:
    """``value`` as the panel would print it: ``"12.3 req/s"``, ``"1.19 %"``, ``"3.2 GiB"``,
    ``"250 ms"``; ``"—"`` for no value.

    Examples
    --------
    >>> format_value(0.25, "s"), format_value(0.0119, "percentunit", 2)
    ('250 ms', '1.19 %')
    >>> format_value(3.5 * 2**30, "bytes"), format_value(14380, "short")
    ('3.5 GiB', '14.4 K')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    v = float(value)
    u = unit or "none"
    if u in ("dtdurations", "dtdurationms"):
        return human_duration(v / 1000.0 if u == "dtdurationms" else v)
    if u.startswith("dateTime"):
        ts = pd.Timestamp(v, unit="ms", tz="UTC")
        return ts.strftime("%Y-%m-%d %H:%M UTC")
    if u.startswith("bool"):
        yes, no = {"bool_yes_no": ("yes", "no"), "bool_on_off": ("on", "off")}.get(
            u, ("true", "false"))
        return yes if v else no
    s = scale or scale_for(u, v)
    return f"{s.prefix}{format_number(s.apply(v), shown_decimals(u, decimals, s))}{s.suffix}"


def shown_decimals(unit: str | None, decimals: int | None, scale: Scale) -> int | None:
    """The panel's ``decimals`` for a scaled value: they were written for the panel's own
    unit, so 0.173 s with 3 decimals reads ``173 ms``, not ``173.333 ms``."""
    if decimals is not None and (unit or "") in _TIME and scale.factor < 1:
        return max(0, decimals - round(math.log10(1 / scale.factor)))
    return decimals
