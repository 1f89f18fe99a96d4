"""The database this process uses, as a DATABASE_URL for processes it starts."""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from django.db import connection

from shelfwise.db.embedded.server import server_at


def current_database_url() -> str:
    """A URL for the database this process uses (the test database, under pytest).

    For the embedded server: connect through the server this process holds (the processes
    started with the URL are not its owners, so they never stop it).
    """
    db = connection.settings_dict
    if not settings.DATABASE_URL:
        url: str = server_at(settings.EMBEDDED_POSTGRES_ROOT).acquire().url(database=db["NAME"])
        return url
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = quote(db.get("HOST") or "", safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(db['NAME'], safe='')}"
