from __future__ import annotations

import signal
import socket
import subprocess
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from catalog.selectors import tenants_by_size
from perf.process import ServerProcess
from shelfwise.db.embedded.server import server_at
from shelfwise.seeding import OPERATOR_PASSWORD
from shelfwise.serving import gunicorn_command, health_url
from tenants.models import Role, Tenant
from tenants.services import api_token_issue, user_get_or_create

# How often the demo checks that its embedded PostgreSQL is still running.
WATCH_INTERVAL_S = 1.0


class Command(BaseCommand):
    help = (
        "Run ShelfWise locally: migrate, seed when empty, issue one API token per tenant "
        "and serve with gunicorn on 127.0.0.1. Ctrl-C stops the server and the embedded "
        "database."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="gunicorn workers (default: 2 x cores + 1, at most 8)",
        )
        parser.add_argument("--seed", type=int, default=42, help="seed for an empty database")
        parser.add_argument(
            "--scale", type=float, default=1.0, help="scale of the seeded mix (default 1)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        port: int = options["port"]
        if _port_in_use(port):
            raise CommandError(f"127.0.0.1:{port} is already in use; choose another --port")
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        signal.signal(signal.SIGINT, _raise_keyboard_interrupt)

        embedded = not settings.DATABASE_URL
        try:
            call_command("migrate", interactive=False, verbosity=0)
            self.stdout.write("Database migrated.")
            with self._gunicorn(port, options["workers"], embedded) as server:
                self.stdout.write(f"Serving on http://127.0.0.1:{port}/ (health answers).")
                if not Tenant.objects.exists():
                    self.stdout.write("Empty database: seeding the tenant mix ...")
                    call_command("seed", seed=options["seed"], scale=options["scale"])
                self._print_welcome(port)
                returncode = self._serve(server, embedded)
                # Ctrl-C reaches gunicorn too (same process group); it may exit before we
                # see the signal, cleanly (0) or by the signal itself.
                if returncode not in (0, -signal.SIGINT, -signal.SIGTERM):
                    raise CommandError(f"gunicorn exited with status {returncode}")
                self.stdout.write("\nStopping ...")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping ...")
        except RuntimeError as exc:  # gunicorn did not start
            raise CommandError(str(exc)) from None
        finally:
            connections.close_all()
            if embedded and server_at(settings.EMBEDDED_POSTGRES_ROOT).release():
                self.stdout.write("Embedded PostgreSQL stopped.")

    def _serve(self, server: ServerProcess, embedded: bool) -> int:
        """Wait for gunicorn to exit; meanwhile restart the embedded PostgreSQL if it dies
        (same data, same socket: the workers reconnect on their next request)."""
        assert server.process is not None
        postgres = server_at(settings.EMBEDDED_POSTGRES_ROOT)
        while True:
            try:
                return server.process.wait(timeout=WATCH_INTERVAL_S)
            except subprocess.TimeoutExpired:
                pass
            if not embedded or postgres.status() is not None:
                continue
            self.stdout.write("Embedded PostgreSQL stopped unexpectedly; restarting it ...")
            try:
                postgres.acquire()
            except Exception as exc:  # said, and tried again at the next tick
                self.stderr.write(f"Embedded PostgreSQL did not start ({exc}); retrying ...")
                continue
            self.stdout.write("Embedded PostgreSQL restarted.")

    def _gunicorn(self, port: int, workers: int | None, embedded: bool) -> ServerProcess:
        """gunicorn on 127.0.0.1:port, its logs on this terminal; stopped on leaving."""
        database_url = None
        if embedded:
            # Workers connect to the server this process started and holds; they are not
            # its owners, so they never stop it.
            database_url = server_at(settings.EMBEDDED_POSTGRES_ROOT).acquire().url()
        argv, env = gunicorn_command(
            bind=f"127.0.0.1:{port}", workers=workers, database_url=database_url
        )
        # Its own session: the terminal's Ctrl-C reaches this command alone, which stops
        # gunicorn through its master (ServerProcess.stop), so no worker is left behind.
        return ServerProcess(
            argv, env=env, health_url=health_url(port), inherit_output=True, new_session=True
        )

    def _print_welcome(self, port: int) -> None:
        base = f"http://127.0.0.1:{port}"
        tenants = tenants_by_size().order_by("n_books", "slug")
        rows = []
        for tenant in tenants:
            user = user_get_or_create(tenant=tenant, username="member")
            _, raw = api_token_issue(user=user, name="demo")
            rows.append((tenant.slug, tenant.n_books, raw))

        out = self.stdout.write
        out("")
        out(f"ShelfWise is running at {base}/")
        out(f"  API      {base}/api/v2/books   (Authorization: Bearer <token>)")
        out(f"  Docs     {base}/api/docs/")
        out(f"  Admin    {base}/admin/         (<tenant>/operator / {OPERATOR_PASSWORD})")
        out(f"  Health   {base}/api/v2/health  and  {base}/api/v2/ready")
        out("")
        out(f"  {'tenant':<22} {'books':>7}  member token")
        for slug, n_books, raw in rows:
            out(f"  {slug:<22} {n_books:>7,}  {raw}")
        if rows:
            out("")
            token = rows[0][2]
            out(f"  try: curl -H 'Authorization: Bearer {token}' '{base}/api/v2/books?limit=5'")
        out(
            f"  operators: role {Role.OPERATOR.value}; new tokens: "
            "python manage.py issue_token <tenant-slug> <username> --role operator"
        )
        out("Press Ctrl-C to stop.")


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    # Once: a second Ctrl-C must not cut the clean shutdown short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt
