"""Traces of the Tributary service as span and trace frames, from OTLP files or Jaeger.

>>> from tributary_analysis.sources.traces import OtlpFiles, JaegerTraces   # doctest: +SKIP
>>> src = OtlpFiles("~/.local/state/tributary/demo/sim/traces/*.jsonl")      # doctest: +SKIP
>>> spans = src.spans(since="1h", tenant="tenant-acme")                      # doctest: +SKIP

Both implement :class:`TraceSource`; see ``docs/traces.md``. The sources load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tributary_analysis.frames.traces import TRACE_COLUMNS, trace_frame
from tributary_analysis.sources.traces.base import TraceSource
from tributary_analysis.sources.traces.store import SPAN_COLUMNS

if TYPE_CHECKING:
    from tributary_analysis.sources.traces.files import OtlpFiles
    from tributary_analysis.sources.traces.jaeger import JaegerTraces

_LAZY = {"OtlpFiles": "tributary_analysis.sources.traces.files",
         "JaegerTraces": "tributary_analysis.sources.traces.jaeger"}

__all__ = ["SPAN_COLUMNS", "TRACE_COLUMNS", "JaegerTraces", "OtlpFiles", "TraceSource",
           "trace_frame"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
