"""The local demo stack: a real Prometheus and a real Elasticsearch holding simulated telemetry.

Modules, one concern each:

- :mod:`~tributary_analysis.stack.procs`: start detached servers, wait for HTTP, stop by PID;
- :mod:`~tributary_analysis.stack.state`: the ``stack.json`` state file under ``Settings.home``;
- :mod:`~tributary_analysis.stack.prometheus`: promtool backfill, config, start;
- :mod:`~tributary_analysis.stack.elasticsearch`: fetch (Maven), install, users, start;
- :mod:`~tributary_analysis.stack.es_logs`: index template, envelope → flat document, bulk load;
- :mod:`~tributary_analysis.stack.demo`: ``up`` / ``down`` / ``status`` orchestration.
"""
