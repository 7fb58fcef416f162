"""The ground layer: the vocabulary every other layer shares and nothing below it.

- :mod:`.time`: durations, UTC instants and the one :class:`~.time.Window` type;
- :mod:`.claims`: "not enough data (have X, need Y)" as a value, not a number.

Errors (:mod:`tributary_analysis.errors`), settings (:mod:`tributary_analysis.config`) and
the service's names (:mod:`tributary_analysis.seed`) belong to this layer too; they keep
their top-level module paths because users import them.
"""
