"""The cost bench's child processes (``python -m benchmarks.cost.child MODE PLAN``).

``native``: migrate the dedicated database, seed it, write the requests into the plan,
then replay each request natively (warm-up first), inside a transaction rolled back, for
its queries and the EXPLAIN (ANALYZE, BUFFERS) of each SELECT it sent.

``measure``, under ``valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no``:
start up and warm every request up uninstrumented, then per request: collect garbage,
disable the collector, zero, collect only around the WSGI call (body consumed, closed),
dump. The dumps and the perf map are read by the parent.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import django
import orjson

WARM_UPS = 2


def _call(application: Any, environ: dict[str, Any]) -> int:
    status: list[str] = []

    def start_response(code: str, headers: Any, exc_info: Any = None) -> None:
        status.append(code)

    body: Iterable[bytes] = application(environ, start_response)
    try:
        for _ in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return int(status[0].split()[0])


def _expect(request: Any, status: int) -> None:
    expected = 201 if request.method == "POST" else 200
    if status != expected:
        raise SystemExit(f"{request.key}: {request.method} {request.path} answered {status}")


def native(plan_path: Path) -> None:
    from django.core.management import call_command
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections, transaction

    from benchmarks.cost import dataset
    from perf.explain import capture, explain
    from perf.recording import record_queries
    from shelfwise.wsgi import application

    call_command("migrate", verbosity=0)
    # Each replay runs inside a transaction that is rolled back: the handler must not
    # close the connection around the request (it would, outside autocommit).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    dataset.seed()
    requests = dataset.requests()
    results: dict[str, Any] = {}
    for request in requests:
        with transaction.atomic():
            for _ in range(WARM_UPS):
                _expect(request, _call(application, dataset.environ(request)))
            with record_queries(include_savepoints=False) as recording, capture() as stmts:
                _expect(request, _call(application, dataset.environ(request)))
            hits = reads = rows = 0
            for i, statement in enumerate(stmts):
                summary = explain(f"{request.key}.{i}", statement)
                hits += summary.shared_hit
                reads += summary.shared_read
                rows += summary.actual_rows
            results[request.key] = {
                "queries": recording.count,
                "selects": len(stmts),
                "buffers": hits + reads,
                "rows": rows,
            }
            transaction.set_rollback(True)
    plan_path.write_bytes(
        orjson.dumps(
            {"requests": [r.as_json() for r in requests], "database": results},
            option=orjson.OPT_INDENT_2,
        )
    )


def measure(plan_path: Path, helper: Path) -> None:
    from benchmarks.cost.callgrind import Client
    from benchmarks.cost.dataset import Request, environ
    from shelfwise.wsgi import application

    plan = orjson.loads(plan_path.read_bytes())
    requests = [Request.from_json(r) for r in plan["requests"]]
    client = Client(helper)
    for request in requests:
        for _ in range(WARM_UPS):
            _expect(request, _call(application, environ(request)))
    client.start()
    for request in requests:
        gc.collect()
        gc.disable()
        # The environ is the harness's work: built before collection starts.
        prepared = environ(request)
        client.zero()
        client.toggle()
        status = _call(application, prepared)
        client.toggle()
        client.dump(request.key)
        gc.enable()
        _expect(request, status)


def main(argv: list[str]) -> None:
    mode, plan = argv[1], Path(argv[2])
    if mode == "measure":
        # Before Django: every Python function then runs through its own trampoline.
        sys.activate_stack_trampoline("perf")
    django.setup()
    if mode == "native":
        native(plan)
    else:
        measure(plan, Path(argv[3]))


if __name__ == "__main__":
    main(sys.argv)
