import sys

from django.apps import AppConfig
from django.conf import settings


class ShelfwiseConfig(AppConfig):
    """Registered so that the project-level commands (seed, demo) are found."""

    name = "shelfwise"

    def ready(self) -> None:
        from django.core import checks as django_checks
        from django.core.signals import got_request_exception
        from django.db.backends.signals import connection_created

        from shelfwise import checks
        from shelfwise.http import outage
        from shelfwise.http.middleware import remember_database_error

        # A deployment check: `check --deploy` runs it, `migrate` and `collectstatic` do
        # not (they run before the static files exist); the server's start does (wsgi.py).
        django_checks.register(
            checks.collected_static_files, django_checks.Tags.staticfiles, deploy=True
        )

        connection_created.connect(outage.connection_created, dispatch_uid="shelfwise.outage")
        got_request_exception.connect(remember_database_error, dispatch_uid="shelfwise.outage")
        if settings.TRACING["ENABLED"]:
            _set_up_tracing()


def _set_up_tracing() -> None:
    from shelfwise.serving import tracing

    tracing.instrument()
    # Under gunicorn, each worker starts its own provider after the fork
    # (serving/gunicorn.conf.py's post_worker_init); any other process (runserver, a command)
    # starts it now.
    if "gunicorn.arbiter" not in sys.modules:
        tracing.start()
