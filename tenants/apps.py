from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"

    def ready(self) -> None:
        from perf.tenancy import register_tenant_tables
        from tenants.querysets import TenantScopedQuerySet
        from tenants.scoping import tenant_owned_models

        # The tables whose every read is scoped (their default manager is the fail-closed
        # queryset: tenants/tests/test_scoping.py): perf's tenant-scope guard checks every
        # statement on them in the tests.
        tables = {model._meta.db_table for model in tenant_owned_models(identity=False)}
        register_tenant_tables(
            tables,
            column="tenant_id",
            guarded_querysets=(TenantScopedQuerySet,),
            vetted=TenantScopedQuerySet.runs_without_tenant_filter,
            fix=(
                "read through the model's scoped manager, Model.objects.for_tenant(tenant) "
                "(raw SQL: a tenant_id = %s filter); a job that must read every tenant "
                "says so with Model.objects.across_tenants(reason)"
            ),
        )
