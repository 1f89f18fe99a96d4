"""shelfwise/checks.py: prod refuses to start without its collected static files, and
says what to run; `migrate` and `collectstatic`, which run before them, are not blocked."""

from __future__ import annotations

import json
import secrets

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from shelfwise.checks import (
    COLLECTSTATIC,
    STATIC_NOT_COLLECTED,
    collected_static_files,
    refuse_to_serve_without_collected_static,
)
from shelfwise.serving import gunicorn_command

MANIFEST_STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"
PLAIN_STORAGE = "django.contrib.staticfiles.storage.StaticFilesStorage"


def _prod(static_root, backend=MANIFEST_STORAGE):
    """The prod profile's static settings (shelfwise/settings/base.py), with STATIC_ROOT in
    a folder of ours."""
    return override_settings(
        IS_PROD=True,
        STATIC_ROOT=static_root,
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": backend},
        },
    )


def _collect(static_root):
    """What `collectstatic` leaves for the check: the manifest."""
    (static_root / "staticfiles.json").write_text(json.dumps({"paths": {}, "version": "1.1"}))


def test_prod_without_the_manifest_is_an_error_naming_the_command(tmp_path):
    with _prod(tmp_path):
        (error,) = collected_static_files()
    assert error.id == STATIC_NOT_COLLECTED
    assert error.is_serious()
    assert str(tmp_path / "staticfiles.json") in error.msg
    assert COLLECTSTATIC in error.hint
    assert COLLECTSTATIC == "python manage.py collectstatic --no-input"


def test_prod_with_the_manifest_passes(tmp_path):
    _collect(tmp_path)
    with _prod(tmp_path):
        assert collected_static_files() == []
        refuse_to_serve_without_collected_static()  # no exception


def test_prod_without_a_static_root_is_an_error():
    with _prod(None):
        (error,) = collected_static_files()
    assert "STATIC_ROOT is not set" in error.msg


def test_other_profiles_and_storages_without_a_manifest_pass(tmp_path):
    assert collected_static_files() == []  # the test settings: dev, nothing collected
    with _prod(tmp_path, backend=PLAIN_STORAGE):
        assert collected_static_files() == []


def test_the_servers_start_refuses_with_the_command_to_run(tmp_path):
    with _prod(tmp_path), pytest.raises(ImproperlyConfigured, match="collectstatic --no-input"):
        refuse_to_serve_without_collected_static()


def test_a_deployment_check_only_so_migrate_and_collectstatic_are_not_blocked(tmp_path):
    # `manage.py check --deploy` runs the deployment checks; `migrate` and `collectstatic`
    # (its requires_system_checks: the staticfiles tag) run the others only.
    with _prod(tmp_path):
        deploy = run_checks(include_deployment_checks=True, tags=["staticfiles"])
        assert STATIC_NOT_COLLECTED in {message.id for message in deploy}
        for tags in (None, ["staticfiles"]):
            assert STATIC_NOT_COLLECTED not in {message.id for message in run_checks(tags=tags)}


# gunicorn in a process whose STATIC_ROOT is the first argument: set in the master before
# any worker forks (and imports shelfwise.wsgi), so a staticfiles/ that a race or a
# developer collected in the source tree does not count.
GUNICORN_WITH_STATIC_ROOT = (
    "import sys; from django.conf import settings; settings.STATIC_ROOT = sys.argv.pop(1);"
    "from gunicorn.app.wsgiapp import run; sys.argv[0] = 'gunicorn'; run()"
)


def test_prods_gunicorn_refuses_to_start_without_collected_static_files(tmp_path, child_process):
    # The image's test (tests/test_image.py) sees the same refusal in the image.
    command = gunicorn_command(
        bind="127.0.0.1:0",  # any free port: it never serves
        workers=1,
        profile="prod",
        database_url="postgres://shelfwise@unused.invalid:5432/shelfwise",  # never connected
        env={
            "DJANGO_SETTINGS_MODULE": "shelfwise.settings",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
        },
        env_unset=("PROMETHEUS_MULTIPROC_DIR",),
    )
    assert command.argv[1:3] == ["-m", "gunicorn"]
    argv = [command.argv[0], "-c", GUNICORN_WITH_STATIC_ROOT, str(tmp_path), *command.argv[3:]]
    result = child_process(
        argv,
        env=command.env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 3, result.stderr[-3000:]  # gunicorn: a worker failed to boot
    assert f"{tmp_path / 'staticfiles.json'} is missing" in result.stderr
    assert f"run `{COLLECTSTATIC}`" in result.stderr
