"""ShelfWise's own system checks (registered in apps.py's ready()).

The prod profile serves hashed static files (the admin's CSS and JavaScript) from
STATIC_ROOT, looked up in the manifest that `collectstatic` writes. Started without it,
the API answers but every admin page is a 500 ("Missing staticfiles manifest entry"). The
check is a deployment check (`manage.py check --deploy`), so that `migrate` and
`collectstatic` itself, which run before any static file is collected, are not blocked by
it; the server's start (shelfwise/wsgi.py) runs it on its own, because Django runs no
system checks under WSGI.
"""

from __future__ import annotations

from typing import Any

from django.conf import STATICFILES_STORAGE_ALIAS, settings
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages
from django.utils.module_loading import import_string

COLLECTSTATIC = "python manage.py collectstatic --no-input"
STATIC_NOT_COLLECTED = "shelfwise.E001"


def collected_static_files(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Under prod, an error unless the static files storage's manifest is in STATIC_ROOT
    (ManifestStaticFilesStorage and whitenoise's subclasses); elsewhere nothing."""
    if not settings.IS_PROD:
        return []
    backend = import_string(storages.backends[STATICFILES_STORAGE_ALIAS]["BACKEND"])
    if not issubclass(backend, ManifestFilesMixin):
        return []  # a storage without a manifest needs no collected files to render pages
    if not settings.STATIC_ROOT:
        return [_error("STATIC_ROOT is not set")]
    storage = staticfiles_storage
    if storage.manifest_storage.exists(storage.manifest_name):
        return []
    manifest = storage.manifest_storage.path(storage.manifest_name)
    return [_error(f"{manifest} is missing")]


def _error(problem: str) -> checks.Error:
    return checks.Error(
        f"static files are not collected ({problem}): the admin pages would all answer 500",
        hint=f"run `{COLLECTSTATIC}` (the Docker image's build does)",
        id=STATIC_NOT_COLLECTED,
    )


def refuse_to_serve_without_collected_static() -> None:
    """The server's start (shelfwise/wsgi.py): raise ImproperlyConfigured, naming the
    command to run, where collected_static_files finds an error."""
    for error in collected_static_files():
        raise ImproperlyConfigured(f"{error.msg}; {error.hint}")
