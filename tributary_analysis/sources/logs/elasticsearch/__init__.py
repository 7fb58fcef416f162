"""``ElasticsearchLogs``, split by job as the Prometheus source is.

=================  ==============================================================
module             job
=================  ==============================================================
``client``         the client from settings, and the one translation of its errors
``fields``         which field holds each column (``field_caps``), shape detection
``query``          query building, partial answers (``timed_out``, shard failures)
``export``         PIT + ``search_after`` pages, sliced, parsed by Arrow
``aggregations``   summaries and top errors as ``composite`` aggregations
``source``         :class:`ElasticsearchLogs`, tying them together
=================  ==============================================================

Importing this package imports the ``elasticsearch`` client; ``FileLogs`` never does.
"""

from __future__ import annotations

from tributary_analysis.sources.logs.elasticsearch.client import make_client
from tributary_analysis.sources.logs.elasticsearch.source import ElasticsearchLogs

__all__ = ["ElasticsearchLogs", "make_client"]
