"""The local demo stack: real Prometheus (3.16 or 2.42), Elasticsearch and Jaeger v2 servers
holding simulated telemetry, and the live demo service that continues it in real time.

Modules, one concern each:

- :mod:`~tributary_analysis.stack.procs`: start detached servers, wait for HTTP, stop by PID;
- :mod:`~tributary_analysis.stack.state`: the ``stack.json`` state file under ``Settings.home``;
- :mod:`~tributary_analysis.stack.gobuild`: Prometheus 3 and Jaeger v2 built from their Go
  modules, cached outside the clone by version;
- :mod:`~tributary_analysis.stack.prometheus`: promtool backfill, config, start (both lines);
- :mod:`~tributary_analysis.stack.jaeger`: Jaeger v2 on loopback, in memory;
- :mod:`~tributary_analysis.stack.live`: the live demo service wired to Prometheus;
- :mod:`~tributary_analysis.stack.elasticsearch`: fetch (Maven), install, users, start;
- :mod:`~tributary_analysis.stack.es_logs`: index template, envelope → flat document, bulk load;
- :mod:`~tributary_analysis.stack.demo`: ``up`` / ``down`` / ``status`` orchestration.
"""
