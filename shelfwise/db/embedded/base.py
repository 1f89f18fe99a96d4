"""PostgreSQL backend that starts the embedded server on the first connection.

Selected by settings when DATABASE_URL is unset. Everything else is Django's own
PostgreSQL backend; only where to connect is decided here, lazily, so that importing
settings or running a command that never touches the database starts nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.backends.postgresql import base, client

from shelfwise.db.embedded.server import ServerInfo, server_at


def _server_info() -> ServerInfo:
    return server_at(Path(settings.EMBEDDED_POSTGRES_ROOT)).acquire()


class DatabaseClient(client.DatabaseClient):
    """`manage.py dbshell` against the embedded server."""

    def runshell(self, parameters: list[str]) -> None:
        info = _server_info()
        self.connection.settings_dict["HOST"] = str(info.socket_dir)
        self.connection.settings_dict["PORT"] = str(info.port)
        super().runshell(parameters)


class DatabaseWrapper(base.DatabaseWrapper):
    client_class = DatabaseClient

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        info = _server_info()
        params["host"] = str(info.socket_dir)
        params["port"] = info.port
        return params
