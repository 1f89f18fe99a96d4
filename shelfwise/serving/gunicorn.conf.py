"""Gunicorn configuration for ShelfWise (used by `manage.py demo` and the Docker image).

Command-line flags override these values; GUNICORN_BIND, WEB_CONCURRENCY and
GUNICORN_THREADS set them from the environment.
"""

import math
import os

wsgi_app = "shelfwise.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")


def _usable_cpus(cpu_max="/sys/fs/cgroup/cpu.max"):
    """The CPUs this process may use: its affinity (cpusets) and, in a container, its
    cgroup v2 CPU quota (``docker run --cpus``), not the host's count."""
    affinity = getattr(os, "sched_getaffinity", None)
    cpus = len(affinity(0)) if affinity else (os.cpu_count() or 1)
    try:
        with open(cpu_max) as quota_file:
            quota, period = quota_file.read().split()[:2]
    except (OSError, ValueError):
        return cpus
    if quota == "max":
        return cpus
    return max(1, min(cpus, math.ceil(int(quota) / int(period))))


# (2 x CPUs) + 1 processes, capped for small machines, each with GUNICORN_THREADS threads.
# Threaded workers because of the streamed export: a sync worker's heartbeat stops while it
# serves a request, so `timeout` killed any export that a slow client read for longer,
# mid-body and with a 200 already sent. A gthread worker's main thread beats while its
# threads serve, so `timeout` bounds a hung worker, not a request; a client that stops
# reading is bounded by EXPORT_SEND_TIMEOUT (settings/base.py) instead. Each thread keeps its
# own persistent database connection: up to workers x threads connections per server.
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * _usable_cpus() + 1, 8)))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 30
# On SIGTERM, requests in flight get this long to finish: longer than the slowest one (the
# API's statements stop at 5 s, DB_STATEMENT_TIMEOUT_MS; a 50,000-book export takes 2-4 s:
# docs/performance.md, "shelfwise/serving/gunicorn.conf.py: gc.freeze() after startup, and
# the stop grace"). A container's stop grace must be longer still (the Dockerfile).
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
max_requests = 5000
max_requests_jitter = 500
# Heartbeat files in memory, as gunicorn's docs advise for containers.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
# Staging and prod: an access line per request, and gunicorn's own lines in the app's
# format (shelfwise/serving/logs.py: JSON unless LOG_JSON=0, each request's id included).
# GUNICORN_ACCESS_LOG="" turns the access log off ("-": stdout, or a file path).
_DEV = os.environ.get("SHELFWISE_ENV", "dev") == "dev"
_LOG_JSON = (os.environ.get("LOG_JSON") or ("0" if _DEV else "1")).lower() in {
    "1", "true", "yes", "on",
}  # fmt: skip
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "" if _DEV else "-") or None
errorlog = "-"
logger_class = f"shelfwise.serving.gunicorn_logs.{'JsonLogger' if _LOG_JSON else 'ConsoleLogger'}"
# Gunicorn 27's control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl):
# every master on the machine (tests, demo, load tests) would bind and unlink the same
# file. ShelfWise does not use it.
control_socket_disable = True
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# Prometheus multiprocess mode: each worker writes its samples under this folder and
# /metrics aggregates them. Set here, in the master, before any worker imports
# prometheus_client; a folder of our own per master unless the environment names one.
_OWN_PROM_DIR = ""
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    import tempfile

    _OWN_PROM_DIR = tempfile.mkdtemp(prefix="shelfwise-prom-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _OWN_PROM_DIR


def on_starting(server):
    """Drop samples of a previous run that used the same folder."""
    import glob

    for path in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(path)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """Connect once now: the one-time setup queries (django.contrib.postgres's type
    lookups, cached per process) then never land in a request's X-Query-Count.

    Requests run in the worker's threads, each with its own connection, so this main-thread
    connection is closed again rather than kept idle.
    """
    import contextlib

    from django.db import connection

    # A database that is down now is reported by the first request (and /ready).
    with contextlib.suppress(Exception):
        connection.ensure_connection()
    connection.close()
    if _tracing_enabled():
        # The tracer provider's export thread must start in the worker, after the fork
        # (shelfwise/serving/tracing.py); the app load already instrumented Django and psycopg.
        from shelfwise.serving import tracing

        tracing.start()
    _freeze_startup_objects()


def worker_exit(server, worker):
    """Export the spans still queued before the worker goes."""
    if _tracing_enabled():
        from shelfwise.serving import tracing

        tracing.shutdown()


def _tracing_enabled():
    from django.apps import apps

    if not apps.ready:  # bench --race's twin, under this config too, is no Django app
        return False
    from django.conf import settings

    return settings.TRACING["ENABLED"]


def _freeze_startup_objects():
    """Move everything the worker holds after startup (Django, the apps, the URLconf and
    its views) out of the garbage collector's reach: full collections then scan only
    what requests allocate. Without it, those collections were the catalog page's tail
    latency under load (figures: docs/performance.md, "shelfwise/serving/gunicorn.conf.py:
    gc.freeze() after startup, and the stop grace")."""
    import gc

    from django.apps import apps
    from django.urls import get_resolver

    if apps.ready:  # a Django app (bench --race's twin, under this config too, is not)
        get_resolver().url_patterns  # noqa: B018 - imports the URLconf and every view now
    gc.collect()
    gc.freeze()


def on_exit(server):
    """Remove the metrics folder this master created (not one named by the environment)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR", "") == _OWN_PROM_DIR:
        import shutil

        shutil.rmtree(_OWN_PROM_DIR, ignore_errors=True)
