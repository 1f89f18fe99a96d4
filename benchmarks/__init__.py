"""Every bench and load test of ShelfWise, and the policies that judge them.

- ``twin``: the raw psycopg + orjson WSGI twin that ``race`` runs ShelfWise against.
- ``race``: ShelfWise against its twin under gunicorn and wrk (``engine``), the ratio
  ``gate``, the slowed contender (``handicap``) and the race as ``manage.py bench --race``
  runs it (``run``).
- ``story``: the seed's before/after table (``manage.py bench --story``).
- ``cost``: the exact cost of one request per endpoint (instructions under callgrind,
  PostgreSQL buffers, queries, the functions that spend them) and its gate against
  ``baselines/cost.json`` (``manage.py bench --cost``).
- ``loadtest``: locust load tests and soaks: the engine (runner, stats, memory, recorder,
  protocol, report, gate), the scenarios, the gate policy with its measured limits, the
  load data and the run (``manage.py loadtest``).
- ``silk``: django-silk's overhead on one URL (``manage.py silk_overhead``).
- ``baselines``: every committed baseline file, and their paths.
- ``signals``: SIGTERM and SIGHUP unwind like Ctrl-C, so that servers started for a run stop.

Reserved for the coming bench (not built yet): ``layers`` (which layer of a request
costs: routing, auth, the selector, the serializer, the renderer).

Imports run one way: benchmarks may import every ShelfWise package; no app, ``perf`` or
``shelfwise`` module imports benchmarks, except the thin management commands that run them
(tests/test_import_directions.py). This module and ``benchmarks.loadtest`` import nothing:
locust's side (``benchmarks.loadtest.recorder``) loads them without Django.
"""
