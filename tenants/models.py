from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import ClassVar

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models


class Tenant(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Role(models.TextChoices):
    OPERATOR = "operator", "Operator"
    MEMBER = "member", "Member"


# Between the tenant's slug and the username in a login. Neither can contain it (slugs are
# [-a-zA-Z0-9_], usernames [\w.@+-]), so the first one splits a login unambiguously.
LOGIN_SEPARATOR = "/"


def login_split(login: str) -> tuple[str | None, str]:
    """``"<tenant-slug>/<username>"`` -> (slug, username); a bare name -> (None, name)."""
    slug, separator, username = login.partition(LOGIN_SEPARATOR)
    return (slug, username) if separator else (None, login)


class UserManager(DjangoUserManager["User"]):
    def get_by_natural_key(self, username: str | None) -> User:
        """The user whose login this is (see ``User.login``): the one natural key that the
        admin login (ModelBackend.authenticate), createsuperuser and changepassword use."""
        slug, name = login_split(username or "")
        if slug is None:
            return self.get(tenant__isnull=True, username=name)
        return self.get(tenant__slug=slug, username=name)


class User(AbstractUser):
    """A person or integration of one tenant; superusers may have no tenant.

    Usernames are unique per tenant (and among users without one), so that every tenant
    may have its own ``integration`` or ``alice``. Logins name the tenant: see ``login``.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    username = models.CharField(
        "username",
        max_length=150,
        help_text="Unique within the tenant. 150 characters or fewer. "
        "Letters, digits and @/./+/-/_ only.",
        validators=[AbstractUser.username_validator],
    )
    # db_index off: user_username_unique_per_tenant leads with tenant_id.
    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="users",
        db_index=False,
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)

    objects: ClassVar[UserManager] = UserManager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(tenant__isnull=False) | models.Q(is_superuser=True),
                name="user_tenant_required_unless_superuser",
            ),
            models.UniqueConstraint(
                fields=["tenant", "username"],
                name="user_username_unique_per_tenant",
                violation_error_message="This tenant already has a user with this username.",
            ),
            # NULLs are distinct in the constraint above: tenant-less users need their own.
            models.UniqueConstraint(
                fields=["username"],
                condition=models.Q(tenant__isnull=True),
                name="user_username_unique_without_tenant",
                violation_error_message="A user without a tenant already has this username.",
            ),
        ]

    @property
    def is_operator(self) -> bool:
        return self.role == Role.OPERATOR

    @property
    def login(self) -> str:
        """What this user types at the admin login: ``<tenant-slug>/<username>``, or the
        bare username for a user without a tenant (superusers). Loads the tenant."""
        if self.tenant_id is None:
            return self.username
        return f"{self.tenant.slug}{LOGIN_SEPARATOR}{self.username}"  # type: ignore[union-attr]

    def natural_key(self) -> tuple[str]:
        return (self.login,)


def hash_token(raw: str) -> str:
    """Tokens are 256-bit random, so a fast unsalted hash is enough to store them."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A revocable bearer token; only its SHA-256 is stored."""

    PREFIX = "sw_"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # db_index off: apitoken_tenant_user leads with tenant_id.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="api_tokens", db_index=False
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    key_prefix = models.CharField(max_length=12, help_text="First characters, for display")
    name = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Written at most once per interval by authentication, not on every request.
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "user"], name="apitoken_tenant_user")]

    def __str__(self) -> str:
        return f"{self.key_prefix}… ({self.user_id})"

    @classmethod
    def generate_key(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)


class AuthFailure(models.Model):
    """Failed API authentications of one client address in its current window.

    One row per address, shared by every worker through PostgreSQL; written only by
    ``tenants.services.auth_failure_record`` (an atomic upsert), read by the token lookup.
    """

    address = models.CharField(max_length=64, primary_key=True)
    window_start = models.DateTimeField()
    failures = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["window_start"], name="authfailure_window_start")]

    def __str__(self) -> str:
        return f"{self.address}: {self.failures} since {self.window_start:%Y-%m-%d %H:%M:%S}"
