# Production image: gunicorn serving ShelfWise against DATABASE_URL.
#
# Two stages: "build" installs the runtime requirements (requirements-runtime.txt, the
# part of the README's requirements.txt that serves the API) into a venv and collects the
# static files; the final stage holds that venv, the apps and the static files only (no
# tests, scripts, docs, dev tools or embedded PostgreSQL). Migrations are their own
# command, run once per release, never at container start (replicas would race):
#   docker run --rm -e SECRET_KEY=... -e DATABASE_URL=... shelfwise python manage.py migrate
# Stop grace: gunicorn gives requests in flight GUNICORN_GRACEFUL_TIMEOUT (30 s) after
# SIGTERM, so give the container longer than that: docker run --stop-timeout 40 (compose:
# stop_grace_period: 40s). Workers: 2 x the CPUs the container may use + 1, at most 8
# (WEB_CONCURRENCY overrides).

# The base: any Debian-like image whose `python` is 3.12 or newer (Django 6) with venv.
# Without a registry, scripts/build_image.py makes one with debootstrap and passes it here.
ARG BASE_IMAGE=python:3.13-slim

FROM ${BASE_IMAGE} AS build

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
COPY requirements-runtime.txt /tmp/
# The build machine's pip settings (an index, a proxy's CA bundle) come in as build secrets,
# never as layers: scripts/build_image.py writes them from the machine's own pip config.
RUN --mount=type=secret,id=pip.conf --mount=type=secret,id=pip-cert \
    if [ -s /run/secrets/pip.conf ]; then export PIP_CONFIG_FILE=/run/secrets/pip.conf; fi; \
    /opt/venv/bin/pip install -r /tmp/requirements-runtime.txt

WORKDIR /app
COPY manage.py ./
COPY shelfwise/ shelfwise/
COPY core/ core/
COPY tenants/ tenants/
COPY catalog/ catalog/
COPY orders/ orders/
COPY perf/ perf/
# Tests live beside the apps; the image does not ship them.
RUN find . -type d -name tests -prune -exec rm -rf {} +
# prod settings refuse to load without a strong SECRET_KEY and a DATABASE_URL; collectstatic
# uses neither, so a throwaway key and an address never connected to stand in.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    DATABASE_URL=postgres://collectstatic.invalid/unused \
    SHELFWISE_ENV=prod \
    /opt/venv/bin/python manage.py collectstatic --noinput


FROM ${BASE_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    SHELFWISE_ENV=prod \
    GUNICORN_BIND=0.0.0.0:8000

RUN useradd --create-home --uid 10001 shelfwise
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=root:root /app /app
WORKDIR /app

USER shelfwise
EXPOSE 8000
STOPSIGNAL SIGTERM
# Liveness without the database (/api/v2/health); the slim image has no curl. On the port
# GUNICORN_BIND names, with a Host that ALLOWED_HOSTS admits: Django answers a request
# for 127.0.0.1 with a 400 unless 127.0.0.1 is an allowed host, which in prod it is not.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; \
        hosts = [h.strip() for h in os.environ.get('ALLOWED_HOSTS', '').split(',') if h.strip()]; \
        host = hosts[0].lstrip('.') if hosts and hosts[0] != '*' else 'localhost'; \
        port = os.environ.get('GUNICORN_BIND', ':8000').rpartition(':')[2]; \
        url = f'http://127.0.0.1:{port}/api/v2/health'; \
        r.urlopen(r.Request(url, headers={'Host': host}), timeout=2)"]
CMD ["gunicorn", "--config", "shelfwise/serving/gunicorn.conf.py"]
