"""shelfwise.serving.gunicorn_command: the argv and environment every server command uses."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.race import run as bench_race
from shelfwise.serving import GUNICORN_CONFIG, gunicorn_command, health_url

BASE = {"PATH": "/usr/bin", "GUNICORN_LOG_LEVEL": "debug", "PROMETHEUS_MULTIPROC_DIR": "/tmp/p"}


def test_the_config_file_is_the_projects_and_exists():
    assert (
        Path(__file__).resolve().parents[1] / "shelfwise" / "serving" / "gunicorn.conf.py"
        == GUNICORN_CONFIG
    )
    assert GUNICORN_CONFIG.is_file()


def test_argv_runs_this_interpreter_with_the_config_and_the_given_bind_only():
    argv, _ = gunicorn_command(bind="127.0.0.1:8123", base_env=BASE)
    assert argv == [
        sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONFIG),
        "--bind", "127.0.0.1:8123",
    ]  # fmt: skip


def test_workers_and_app_are_appended_when_given():
    argv, _ = gunicorn_command(bind="{bind}", workers=3, app="pkg.mod:app", base_env=BASE)
    assert argv[-5:] == ["--bind", "{bind}", "--workers", "3", "pkg.mod:app"]


def test_environment_precedence_defaults_then_named_then_forced_then_unset():
    base = dict(BASE)
    _, env = gunicorn_command(
        bind="x",
        profile="staging",
        database_url="postgres://db/x",
        access_log="",
        env_defaults={"GUNICORN_LOG_LEVEL": "warning", "DJANGO_DEBUG": "0"},
        env={"SILK_ENABLED": "1", "SHELFWISE_ENV": "prod"},
        env_unset=("PROMETHEUS_MULTIPROC_DIR",),
        base_env=base,
    )
    assert env == {
        "PATH": "/usr/bin",
        "GUNICORN_LOG_LEVEL": "debug",  # a default never overrides the caller's environment
        "DJANGO_DEBUG": "0",
        "SHELFWISE_ENV": "prod",  # env is forced last, over the named settings
        "DATABASE_URL": "postgres://db/x",
        "GUNICORN_ACCESS_LOG": "",  # "" is a value (access log off), not "unset"
        "SILK_ENABLED": "1",
    }
    assert base == BASE  # the caller's mapping is copied, not changed


def test_named_settings_left_none_keep_the_base_environment():
    _, env = gunicorn_command(bind="x", log_level=None, base_env=BASE)
    assert env == BASE


def test_the_process_environment_is_the_default_base(monkeypatch):
    monkeypatch.setenv("SERVING_TEST_MARKER", "kept")
    _, env = gunicorn_command(bind="x")
    assert env["SERVING_TEST_MARKER"] == "kept"


def test_health_url():
    assert health_url(8123) == "http://127.0.0.1:8123/api/v2/health"


def test_the_race_contenders_differ_only_in_the_wsgi_app(monkeypatch):
    monkeypatch.setattr(bench_race, "current_database_url", lambda: "postgres://db/race")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/tmp/shared")
    shelfwise, twin = bench_race._contenders(3)
    assert twin.argv == (*shelfwise.argv, bench_race.TWIN_APP)
    assert "{bind}" in shelfwise.argv and shelfwise.argv[-2:] == ("--workers", "3")
    assert twin.env == shelfwise.env
    assert shelfwise.env["SHELFWISE_ENV"] == "prod"
    assert shelfwise.env["DATABASE_URL"] == "postgres://db/race"
    assert shelfwise.env["GUNICORN_ACCESS_LOG"] == ""
    assert "PROMETHEUS_MULTIPROC_DIR" not in shelfwise.env
