"""Django's createsuperuser, told that usernames are unique among users without a tenant.

Django asks the database whether a name is taken only when the username is unique on its
own. Here it is unique per tenant, and among tenant-less users (a partial constraint, which
Django's check does not count); ``get_by_natural_key`` looks a bare name up among exactly
those, so the question is the right one and a taken name is refused at the prompt (or as a
CommandError with --noinput) rather than as an IntegrityError on save.
"""

from __future__ import annotations

from django.contrib.auth.management.commands import createsuperuser


class Command(createsuperuser.Command):
    username_is_unique = True  # type: ignore[assignment]
