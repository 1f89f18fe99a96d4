"""The production image, built (scripts/build_image.py: podman on a debootstrapped Debian
trixie base, cached between runs) and run against this machine's PostgreSQL: the migrate
job, then gunicorn, probed over HTTP; and a copy without its static files refusing to
start. Skipped where podman, runc or debootstrap are missing or the base cannot be made."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from perf.process import free_port
from tests.harness.postgres import PG_BIN

ROOT = Path(__file__).resolve().parent.parent
TAG = "localhost/shelfwise:test"
HOST = "shelfwise.example"  # the server's only allowed host: not 127.0.0.1, as in prod
START_TIMEOUT_S = 90
RUN_TIMEOUT_S = 300
CONTAINER = f"shelfwise-image-test-{os.getpid()}"
GUNICORN = "gunicorn --config shelfwise/serving/gunicorn.conf.py"  # the image's CMD

pytestmark = pytest.mark.slow


def _build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_image", ROOT / "scripts/build_image.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_image = _build_script()


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> str:
    """The Dockerfile built on the local base (made once, then reused), as TAG."""
    log = tmp_path_factory.mktemp("image") / "build.log"
    try:
        base = build_image.make_base()
        build_image.build(TAG, base, log=log)
    except build_image.Unavailable as error:
        pytest.skip(f"the image cannot be built here: {error}")
    except RuntimeError as error:
        pytest.fail(f"{error}\n{log.read_text()[-4000:]}")
    return TAG


@pytest.fixture(scope="module")
def database_url(request, django_db_blocker) -> Iterator[str]:
    """A fresh database reached over TCP (the container shares the host's network),
    dropped afterwards: on the test run's server when that listens on TCP, else (the
    embedded server listens on a unix socket only) on the harness's loopback primary."""
    from django.db import connection

    params = connection.settings_dict
    host = params["HOST"] or ""
    name = f"shelfwise_image_{os.getpid()}"
    if host and not host.startswith("/"):
        with django_db_blocker.unblock(), connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cursor.execute(f'CREATE DATABASE "{name}"')
        password = f":{params['PASSWORD']}" if params["PASSWORD"] else ""
        port = params["PORT"] or "5432"
        yield f"postgres://{params['USER']}{password}@{host}:{port}/{name}"
        with django_db_blocker.unblock(), connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    if PG_BIN is None:
        pytest.skip(
            f"the test database is on a unix socket (HOST={host!r}) and the PostgreSQL "
            "server binaries that would give the container a TCP one are missing (postgresql)"
        )
    cluster = request.getfixturevalue("migrated_cluster")
    cluster.sql_admin(f'CREATE DATABASE "{name}"')
    yield f"postgres://postgres@127.0.0.1:{cluster.primary_port}/{name}"
    cluster.sql_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _podman(*args: str, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*build_image.engine(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _env(database_url: str, **extra: str) -> list[str]:
    env = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": database_url,
        "ALLOWED_HOSTS": HOST,
        **extra,
    }
    return [flag for name, value in env.items() for flag in ("-e", f"{name}={value}")]


def _get(url: str) -> tuple[int, bytes]:
    try:
        request = urllib.request.Request(url, headers={"Host": HOST})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture(scope="module")
def server(image, database_url) -> Iterator[str]:
    """The migrate job, then the image's own command (gunicorn) on a free port."""
    migrated = _podman("run", "--rm", *build_image.RUN_FLAGS, *_env(database_url), image,
                       "python", "manage.py", "migrate", "--no-input")  # fmt: skip
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    port = free_port()
    started = _podman(
        "run", "--detach", "--name", CONTAINER, *build_image.RUN_FLAGS,
        *_env(database_url, GUNICORN_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="2"), image,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if _get(f"{base}/api/v2/health")[0] == 200:
                    break
            except OSError:
                pass
            running = _podman("container", "inspect", "--format", "{{.State.Running}}", CONTAINER)
            if running.stdout.strip() != "true" or time.monotonic() > deadline:
                logs = _podman("logs", CONTAINER, timeout=60)
                pytest.fail(
                    f"the image's server did not start:\n{(logs.stdout + logs.stderr)[-4000:]}"
                )
            time.sleep(0.5)
        yield base
    finally:
        _podman("stop", "--time", "40", CONTAINER, timeout=60)
        _podman("rm", "--force", CONTAINER, timeout=60)


def test_the_image_serves_health_readiness_and_the_admin(server):
    assert _get(f"{server}/api/v2/health") == (200, b'{"status": "ok"}')
    status, body = _get(f"{server}/api/v2/ready")
    assert status == 200 and json.loads(body)["database"] == "ok", body
    status, page = _get(f"{server}/admin/login/")
    assert status == 200, page[-2000:]
    # The admin's stylesheet by its hashed name: collectstatic ran in the build.
    css = page.decode().split('href="/static/admin/css/base.')[1].split('"')[0]
    assert css.endswith(".css") and css.count(".") == 1, css
    assert _get(f"{server}/static/admin/css/base.{css}")[0] == 200


def test_the_images_healthcheck_passes_on_another_port_and_host(server):
    # The server binds a free port (GUNICORN_BIND) and admits HOST only: the Dockerfile's
    # HEALTHCHECK must follow both, or every real deployment reports "unhealthy".
    checked = _podman("healthcheck", "run", CONTAINER, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_image_runs_as_a_user_without_tests_and_passes_check_deploy(image, database_url):
    result = _podman(
        "run", "--rm", *build_image.RUN_FLAGS, *_env(database_url), image, "sh", "-c",
        "id -u && find /app -name tests -o -name conftest.py && python manage.py check --deploy",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == "10001", result.stdout
    assert "/app/" not in result.stdout, result.stdout  # no tests/ shipped
    assert "shelfwise.E001" not in result.stderr


def test_without_its_static_files_the_image_refuses_to_start(image, database_url):
    assert f"CMD {json.dumps(GUNICORN.split())}" in (ROOT / "Dockerfile").read_text()
    result = _podman(
        "run", "--rm", "--user", "root", *build_image.RUN_FLAGS,
        *_env(database_url, GUNICORN_BIND="127.0.0.1:0", WEB_CONCURRENCY="1"),
        image, "sh", "-c", f"rm -rf /app/staticfiles && exec {GUNICORN}",
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr  # gunicorn: worker boot error
    assert "run `python manage.py collectstatic --no-input`" in result.stdout + result.stderr
