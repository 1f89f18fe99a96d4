"""``manage.py silk_overhead``: django-silk's overhead on one URL. Two gunicorn servers on
the same database, the staging profile with and without silk, requests interleaved in one
run (alternating which server goes first, so drift hits both alike); latency percentiles
of each and their ratio."""

from __future__ import annotations

import statistics
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from typing import Any, TextIO

from django.core.management.base import CommandError

from perf.process import ServerProcess, free_port
from shelfwise.serving import gunicorn_command, health_url


def run(options: dict[str, Any], stdout: TextIO) -> None:
    """Both servers up, requests interleaved until --requests or --timeout, the table."""
    headers = dict(_parse_header(h) for h in options["header"])
    with ExitStack() as stack:
        ports: dict[str, int] = {}
        for name, silk in (("without silk", "0"), ("with silk", "1")):
            port = free_port()
            argv, env = gunicorn_command(
                bind=f"127.0.0.1:{port}",
                workers=1,
                profile="staging",
                env={
                    "SILK_ENABLED": silk,
                    "SILKY_INTERCEPT_PERCENT": str(options["intercept_percent"]),
                },
            )
            stack.enter_context(ServerProcess(argv, env=env, health_url=health_url(port)))
            ports[name] = port
        samples: dict[str, list[float]] = {name: [] for name in ports}
        deadline = time.monotonic() + options["timeout"]
        total = options["warmup"] + options["requests"]
        for i in range(total):
            if time.monotonic() > deadline:
                break
            # Alternate which server goes first, so drift hits both alike.
            order = list(ports) if i % 2 == 0 else list(reversed(ports))
            for name in order:
                elapsed = _timed_get(ports[name], options["path"], headers)
                if i >= options["warmup"]:
                    samples[name].append(elapsed)
    _report(samples, options, stdout)


def _report(samples: dict[str, list[float]], options: dict[str, Any], stdout: TextIO) -> None:
    base, silk = samples["without silk"], samples["with silk"]
    if len(base) < 10 or len(silk) < 10:
        raise CommandError("too few samples; raise --timeout or lower --requests")
    stdout.write(
        f"GET {options['path']}  ({len(base)} requests each, interleaved, "
        f"silk intercepting {options['intercept_percent']}%)"
    )
    for name, values in samples.items():
        q = statistics.quantiles(values, n=100)
        stdout.write(
            f"  {name:<13} p50 {q[49] * 1000:7.2f} ms   p95 {q[94] * 1000:7.2f} ms   "
            f"mean {statistics.fmean(values) * 1000:7.2f} ms"
        )
    ratio = statistics.median(silk) / statistics.median(base)
    stdout.write(f"  silk overhead: median latency x{ratio:.2f}")


def _parse_header(raw: str) -> tuple[str, str]:
    name, sep, value = raw.partition(":")
    if not sep:
        raise CommandError(f"--header {raw!r}: expected 'Name: value'")
    return name.strip(), value.strip()


def _timed_get(port: int, path: str, headers: dict[str, str]) -> float:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise CommandError(f"GET {path}: no answer from 127.0.0.1:{port} ({exc})") from None
    if status in (401, 403):
        raise CommandError(
            f"GET {path}: HTTP {status}: the path needs valid credentials; pass them with "
            "--header 'Authorization: Bearer <token>'"
        )
    if status != 200:
        raise CommandError(f"GET {path}: HTTP {status}, not 200")
    return time.perf_counter() - started
