from tenants.tests.api_client import anonymous, member, operator, other_member  # noqa: F401
