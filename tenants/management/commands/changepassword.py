"""Django's changepassword for tenant logins: ``changepassword <tenant-slug>/<username>``
for a tenant's user, ``changepassword <username>`` for a user without a tenant (superusers).

Django's own looks the bare username up, which several tenants may share.
"""

from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth.management.commands import changepassword
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from tenants.models import LOGIN_SEPARATOR, User

MAX_TRIES = 3


class Command(changepassword.Command):
    help = (
        "Change a user's password. Name the user by login: <tenant-slug>/<username>, "
        "or a bare username for a user without a tenant."
    )

    def handle(self, *args: Any, **options: Any) -> str:
        login = options["username"] or getpass.getuser()
        try:
            user = User.objects.db_manager(options["database"]).get_by_natural_key(login)
        except User.DoesNotExist:
            hint = ""
            if LOGIN_SEPARATOR not in login:
                hint = " (a tenant's user logs in as <tenant-slug>/<username>)"
            raise CommandError(f"user '{login}' does not exist{hint}") from None

        self.stdout.write(f"Changing password for user '{login}'")
        for _ in range(MAX_TRIES):
            first = self._get_pass()
            second = self._get_pass("Password (again): ")
            if first != second:
                self.stdout.write("Passwords do not match. Please try again.")
                continue
            try:
                validate_password(second, user)
            except ValidationError as err:
                self.stderr.write("\n".join(err.messages))
                continue
            user.set_password(first)
            user.save(update_fields=["password"])
            return f"Password changed successfully for user '{login}'"
        raise CommandError(
            f"Aborting password change for user '{login}' after {MAX_TRIES} attempts"
        )
