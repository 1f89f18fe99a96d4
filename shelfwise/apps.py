from django.apps import AppConfig


class ShelfwiseConfig(AppConfig):
    """Registered so that the project-level commands (seed, demo) are found."""

    name = "shelfwise"

    def ready(self) -> None:
        from django.core.signals import got_request_exception
        from django.db.backends.signals import connection_created

        from shelfwise import outage
        from shelfwise.middleware import remember_database_error

        connection_created.connect(outage.connection_created, dispatch_uid="shelfwise.outage")
        got_request_exception.connect(remember_database_error, dispatch_uid="shelfwise.outage")
