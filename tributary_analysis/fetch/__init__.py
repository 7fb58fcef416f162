"""The fetch layer: the only code that calls a server on behalf of an analysis.

Analyses are pure (:mod:`tributary_analysis.analysis`); notebooks and reports ask this layer
for the frames an analysis needs, with aggregation pushed down to the server (PromQL,
Elasticsearch aggregations, DuckDB) and batched (all tenants in one query, split in the
client). Modules: :mod:`.planning` (alert review and capacity histories).
"""
