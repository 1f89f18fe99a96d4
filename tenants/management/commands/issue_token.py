from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError

from tenants.models import Role, Tenant
from tenants.services import api_token_issue, user_get_or_create


class Command(BaseCommand):
    help = (
        "Create an API token for a tenant's user (created if missing; usernames are unique "
        "per tenant). Prints only the token on stdout, so scripts can capture it; an "
        "operator's admin login goes to stderr."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant_slug")
        parser.add_argument("username")
        parser.add_argument(
            "--role",
            choices=[r.value for r in Role],
            help="role for a new user, or the new role of an existing one "
            "(default for new users: member)",
        )
        parser.add_argument("--name", default="", help="a label for the token")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant_slug"]).first()
        if tenant is None:
            raise CommandError(f"no tenant with slug {options['tenant_slug']!r}")
        role = Role(options["role"]) if options["role"] else None
        username = options["username"]
        try:
            user = user_get_or_create(tenant=tenant, username=username, role=role)
        except ValidationError as exc:
            raise CommandError(f"username {username!r}: {' '.join(exc.messages)}") from None
        except IntegrityError:
            # Unique per tenant: another run created this user between our read and write.
            raise CommandError(
                f"user {username!r} was just created by another run; run again"
            ) from None
        _, raw = api_token_issue(user=user, name=options["name"])
        self.stdout.write(raw)  # stdout holds the token alone, for scripts
        if user.is_operator:
            self.stderr.write(f"{username} logs in to the admin (/admin/) as {user.login}.")
            if not user.has_usable_password():
                self.stderr.write(
                    "They have no password yet: the token works now; for the admin, set one "
                    f"with `manage.py changepassword {user.login}`."
                )
