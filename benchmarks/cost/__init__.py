"""``manage.py bench --cost``: what one request costs, exactly: instructions under
callgrind, PostgreSQL buffers and rows, queries, and the functions that spend them.

- ``dataset``: the fixed data (two tenants seeded with fixed ids) and the measured requests.
- ``child``: the two child processes: ``native`` (migrate, seed, plan, replay each request
  natively for its queries and the buffers of its statements) and ``measure`` (under
  callgrind: warm up uninstrumented, then count each request's own instructions).
- ``callgrind``: the client requests (a tiny C helper compiled at run time) and the parser
  that turns a dump into inclusive instructions per function, Python functions named
  through CPython's perf trampolines.
- ``gate``: the comparison against the committed baseline and the ratchet (pure).
- ``run``: the measurement as the command and the gate test run it.
"""
