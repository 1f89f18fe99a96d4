"""Benchmarks that measure what a request costs: ``race`` (two servers, the same endpoints,
alternating wrk rounds) and its ratio ``gate``. A library: the application hands it its
servers and endpoints (ShelfWise: ``shelfwise/bench_race.py``)."""
