"""Load tests with locust: exact per-endpoint percentiles, query counts and a p99 gate.

Library parts, none of which imports a ShelfWise app (the project hands them its
scenarios, locustfiles, data and server through ``manage.py loadtest``):

- ``recorder``: installed by a locustfile; records every request's unrounded response
  time and ``X-Query-Count`` (also across locust's distributed workers) into a JSON file.
- ``stats``: exact percentiles from those samples, warm-up excluded, the measured window
  cut into rounds whose median p99 is what the gate compares.
- ``gate``: baseline comparison (p99 ratio with a noise floor, exact query counts, no
  failures) and query budgets.
- ``runner``: scenarios, the locust command line, the server under test, live progress.
- ``report``: the per-endpoint table.
"""
