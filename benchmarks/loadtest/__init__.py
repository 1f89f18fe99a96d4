"""Load tests with locust: exact per-endpoint percentiles, query counts and a p99 gate.

The engine, none of whose modules imports a ShelfWise app:

- ``recorder``: installed by a locustfile; records every request's unrounded response
  time and ``X-Query-Count`` (also across locust's distributed workers) into a JSON file.
- ``protocol``: what the locust side and the Django side share (never imports locust).
- ``stats``: exact percentiles from those samples, warm-up excluded, the measured window
  cut into rounds whose median p99 is what the gate compares.
- ``gate``: baseline comparison (p99 ratio with a noise floor, exact query counts, no
  failures) and query budgets.
- ``memory``: a soak's per-worker memory samples, fitted against the requests served.
- ``runner``: scenarios and the locust command line (the server under test is
  ``perf.process.ServerProcess``).
- ``report``: the per-endpoint table.

ShelfWise's side: ``scenarios`` (what runs, which locustfiles), ``policy`` (the gate's
measured limits), ``data`` (the tenants, tokens and ids the locustfiles read) and ``run``
(``manage.py loadtest``'s modes).
"""
