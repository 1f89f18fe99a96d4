"""Tenant scoping for the Django admin, in one place.

Every tenant-owned ModelAdmin and inline uses these mixins. Operators (role operator,
staff, active, with a tenant) see, pick and change only their tenant's rows: the
querysets, every foreign-key and many-to-many choice, the list filters, and (through the
target admin's ``get_queryset``) autocomplete and raw-id lookups. The tenant is set on
save and never offered to them as a field; another tenant's object is a 404. They need no
Django model permissions: the role grants the admin. Superusers see every tenant, with a
tenant column and list filter. Anyone else (members, staff without the operator role)
gets nothing.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models, transaction
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse

from tenants.models import Role, Tenant
from tenants.querysets import TenantScopedQuerySet, validating_for
from tenants.scoping import is_tenant_owned

ACTION_FORM_TEMPLATE = "admin/tenants/action_form.html"


# --- Who is asking -------------------------------------------------------------------------


def is_superuser(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_superuser)


def operator_tenant_id(request: HttpRequest) -> uuid.UUID | None:
    """The tenant an operator manages; None for superusers, members and anyone else."""
    user = request.user
    if (
        user.is_active
        and user.is_staff
        and not user.is_superuser
        and getattr(user, "role", None) == Role.OPERATOR
        and getattr(user, "tenant_id", None) is not None
        # A deactivated tenant loses the admin as it loses the API (the tenant row is
        # loaded once per request, with the user).
        and user.tenant.is_active
    ):
        return user.tenant_id
    return None


SUPERUSER_REASON = "a superuser's admin shows and edits every tenant's rows"


def superuser_rows(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """A superuser's view of a model: every tenant's rows. Tenant-owned models' default
    managers fail closed (tenants.querysets), so this is their one escape in the admin."""
    if isinstance(queryset, TenantScopedQuerySet):
        return queryset.across_tenants(SUPERUSER_REASON)
    return queryset


def _grant(request: HttpRequest, obj: models.Model | None = None) -> bool:
    """Operators may use the admin on their own tenant's rows (and on new rows)."""
    tenant_id = operator_tenant_id(request)
    if tenant_id is None:
        return False
    return obj is None or getattr(obj, "tenant_id", None) == tenant_id


# The checks that a read-only admin refuses to everyone (its rows are written by services).
_WRITES = frozenset({"add", "change", "delete"})


def _scoped_permission(check: str) -> Callable[..., bool]:
    """``has_<check>_permission`` of the scoping mixins: the operator role grants the admin
    on the operator's tenant's rows (``_grant``); superusers keep Django's checks. Django
    calls it with the signature of the class it overrides (``has_add_permission`` takes
    ``obj`` on inlines only), which it passes on as given."""
    name = f"has_{check}_permission"

    def has_permission(
        self: _TenantScoping, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> bool:
        if check in _WRITES and self.read_only:
            return False
        if is_superuser(request):
            return bool(getattr(super(_TenantScoping, self), name)(request, *args, **kwargs))
        return _grant(request, *args, **kwargs)

    has_permission.__name__ = has_permission.__qualname__ = name
    return has_permission


# --- Forms ---------------------------------------------------------------------------------


def _is_pk(field: Any, value: Any) -> bool:
    try:
        field.to_python(value)
    except ValidationError:
        return False
    return True


class TenantScopedModelForm(forms.ModelForm):
    """The base form of every scoped admin.

    ``scoped_tenant_id`` (set by the admin on the class it builds per request) is the
    operator's tenant: a new instance gets it before validation, so that unique
    constraints which include the tenant (ISBN per tenant, genre name per tenant) are
    validated although the tenant is not a field. ``clean`` refuses any chosen object of
    another tenant, the guard for superusers, whose choices span every tenant.
    """

    scoped_tenant_id: uuid.UUID | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.scoped_tenant_id is not None and self.instance._state.adding:
            self.instance.tenant_id = self.scoped_tenant_id

    def _unique_exclusions(self) -> set[str]:
        exclude = self._get_validation_exclusions()
        if self.scoped_tenant_id is not None:
            # Only uniqueness and constraints look at the tenant; field validation of it
            # would cost a query for a value that the admin set itself.
            exclude.discard("tenant")
        return exclude

    def validate_unique(self) -> None:
        self._validate_within_tenant(self.instance.validate_unique)

    def validate_constraints(self) -> None:
        self._validate_within_tenant(self.instance.validate_constraints)

    def _validate_within_tenant(self, validate: Callable[..., None]) -> None:
        """The model's uniqueness or constraint check, its queries scoped to the row's tenant."""
        try:
            with validating_for(getattr(self.instance, "tenant_id", None)):
                validate(exclude=self._unique_exclusions())
        except ValidationError as exc:
            self._update_errors(exc)

    def target_tenant_id(self) -> uuid.UUID | None:
        chosen = self.cleaned_data.get("tenant") if hasattr(self, "cleaned_data") else None
        if isinstance(chosen, Tenant):
            return chosen.pk
        return getattr(self.instance, "tenant_id", None)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        tenant_id = self.target_tenant_id()
        if tenant_id is None:
            return cleaned
        for name, value in list(cleaned.items()):
            # Model choice fields return instances or already evaluated querysets.
            values = value if isinstance(value, QuerySet | list | tuple) else [value]
            if any(
                isinstance(item, models.Model)
                and is_tenant_owned(type(item))
                and item.tenant_id != tenant_id
                for item in values
            ):
                self.add_error(name, "Choose objects of this object's tenant only.")
        return cleaned


class TenantRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A related-object list filter listing only the operator's tenant's rows: one query
    on the related table (its tenant-leading index), no DISTINCT over the big table as
    RelatedOnlyFieldListFilter would run."""

    def field_choices(
        self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[Any, str]]:
        ordering = self.field_admin_ordering(field, request, model_admin)
        if is_superuser(request):
            # Field.get_choices() without a tenant filter, through the escape.
            rows = superuser_rows(field.related_model._default_manager.all())
            return [(row.pk, str(row)) for row in rows.order_by(*ordering)]
        tenant_id = operator_tenant_id(request)
        limit = {"tenant_id": tenant_id} if tenant_id is not None else {"pk__in": []}
        return field.get_choices(include_blank=False, limit_choices_to=limit, ordering=ordering)


# --- Shared by ModelAdmins and inlines ----------------------------------------------------


class _TenantScoping:
    """Querysets, relation choices and permissions; mixed into BaseModelAdmin subclasses."""

    # True: the admin shows the rows and adds, changes and deletes none (not even for
    # superusers): services write them, and the admin's actions call the services.
    read_only = False

    has_view_permission = _scoped_permission("view")
    has_add_permission = _scoped_permission("add")
    has_change_permission = _scoped_permission("change")
    has_delete_permission = _scoped_permission("delete")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)  # type: ignore[misc]
        if is_superuser(request):
            return superuser_rows(queryset)
        tenant_id = operator_tenant_id(request)
        if tenant_id is None:
            return queryset.none()
        return queryset.filter(tenant_id=tenant_id)

    def scoped_choices(self, db_field: Any, request: HttpRequest) -> QuerySet[Any] | None:
        """The choices of a relation for an operator: the related model's rows of their
        tenant, in its admin's ordering; for a superuser, every tenant's; None (Django's
        default) for models that no tenant owns."""
        related = db_field.remote_field.model
        if is_superuser(request):
            if not is_tenant_owned(related):
                return None
            queryset = superuser_rows(related._default_manager.all())
        elif related is Tenant:
            return Tenant.objects.none()
        elif not is_tenant_owned(related):
            return None
        else:
            manager = related._default_manager
            tenant_id = operator_tenant_id(request)
            queryset = (
                manager.filter(tenant_id=tenant_id) if tenant_id is not None else manager.none()
            )
        related_admin = self.admin_site._registry.get(related)  # type: ignore[attr-defined]
        ordering = related_admin.get_ordering(request) if related_admin is not None else ()
        return queryset.order_by(*ordering) if ordering else queryset

    def _with_scoped_choices(
        self, db_field: Any, request: HttpRequest, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        """A relation's form field arguments, the scoped choices as its queryset (unless
        one is given)."""
        if "queryset" not in kwargs:
            queryset = self.scoped_choices(db_field, request)
            if queryset is not None:
                kwargs["queryset"] = queryset
        return kwargs

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        kwargs = self._with_scoped_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        kwargs = self._with_scoped_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]


# --- ModelAdmin ------------------------------------------------------------------------------


class TenantScopedAdminMixin(_TenantScoping):
    """Put before ``admin.ModelAdmin``:
    ``class BookAdmin(TenantScopedAdminMixin, admin.ModelAdmin)``."""

    form = TenantScopedModelForm
    # Facet counts are one aggregate per filter over the whole tenant: never on big tables.
    show_facets = admin.ShowFacets.NEVER

    # The app's entry on the admin index; view, add, change and delete: _TenantScoping.
    has_module_permission = _scoped_permission("module")

    def has_operator_permission(self, request: HttpRequest) -> bool:
        """For actions that call a service (``permissions=["operator"]``), which decides
        what the rows allow: every superuser and every operator."""
        return is_superuser(request) or _grant(request)

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        """Another tenant's object, like an unknown one, is a 404 (Django's default is a
        redirect to the index with a message, which tells the id exists somewhere)."""
        obj = super().get_object(request, object_id, from_field)  # type: ignore[misc]
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with this id.")  # type: ignore[attr-defined]
        return obj

    # The tenant: a column, filter and (on add) a field for superusers, invisible to operators.

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """Drop crafted ``?author=not-a-uuid`` initial values, which the autocomplete
        widget would otherwise feed to a uuid lookup (a 500)."""
        initial = dict(super().get_changeform_initial_data(request))  # type: ignore[misc]
        for name, value in list(initial.items()):
            try:
                field = self.model._meta.get_field(name)  # type: ignore[attr-defined]
            except FieldDoesNotExist:
                continue
            if not field.is_relation:
                continue
            values = value.split(",") if isinstance(value, str) else [value]
            if not all(_is_pk(field.target_field, v) for v in values if v != ""):
                del initial[name]
        return initial

    def response_action(self, request: HttpRequest, queryset: QuerySet[Any], **kwargs: Any) -> Any:
        """Selected ids that are not primary keys are dropped, not a 500."""
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        pk_field = self.model._meta.pk  # type: ignore[attr-defined]
        valid = [v for v in selected if _is_pk(pk_field, v)]
        if len(valid) != len(selected):
            post = request.POST.copy()
            post.setlist(helpers.ACTION_CHECKBOX_NAME, valid)
            request.POST = post  # type: ignore[assignment]
        return super().response_action(request, queryset, **kwargs)  # type: ignore[misc]

    def get_list_display(self, request: HttpRequest) -> Sequence[Any]:
        list_display = list(super().get_list_display(request))  # type: ignore[misc]
        if is_superuser(request) and "tenant" not in list_display:
            list_display.append("tenant")
        return list_display

    def get_list_filter(self, request: HttpRequest) -> Sequence[Any]:
        list_filter = list(super().get_list_filter(request))  # type: ignore[misc]
        if is_superuser(request):
            list_filter.insert(0, "tenant")
        return list_filter

    def get_list_select_related(self, request: HttpRequest) -> Any:
        select_related = super().get_list_select_related(request)  # type: ignore[misc]
        if is_superuser(request) and isinstance(select_related, list | tuple):
            return [*select_related, "tenant"]
        return select_related

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        exclude = list(super().get_exclude(request, obj) or ())  # type: ignore[misc]
        if not is_superuser(request):
            exclude.append("tenant")
        return exclude

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Sequence[str]:
        fields = [f for f in super().get_fields(request, obj) if f != "tenant"]  # type: ignore[misc]
        return ["tenant", *fields] if is_superuser(request) else fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Sequence[str]:
        readonly = list(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        # Moving a row to another tenant would strand its relations: tenant is set once.
        if is_superuser(request) and obj is not None and "tenant" not in readonly:
            readonly.append("tenant")
        return readonly

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)  # type: ignore[misc]
        # modelform_factory built a fresh class for this request: safe to set on it.
        form.scoped_tenant_id = operator_tenant_id(request)
        return form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        self.set_tenant(request, obj)
        super().save_model(request, obj, form, change)  # type: ignore[misc]

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Inline rows take their parent's tenant."""
        instances = formset.save(commit=False)
        for deleted in formset.deleted_objects:
            deleted.delete()
        for instance in instances:
            if is_tenant_owned(type(instance)):
                instance.tenant_id = form.instance.tenant_id
            instance.save()
        formset.save_m2m()

    def set_tenant(self, request: HttpRequest, obj: Any) -> None:
        tenant_id = operator_tenant_id(request)
        if tenant_id is not None:
            obj.tenant_id = tenant_id

    def request_tenant(self, request: HttpRequest, obj: Any) -> Tenant:
        """The tenant instance that services want: the operator's, or the object's."""
        if operator_tenant_id(request) is not None:
            return request.user.tenant  # type: ignore[union-attr,return-value]
        return obj.tenant

    def selected_by_tenant(self, queryset: QuerySet[Any]) -> list[tuple[Tenant, list[Any]]]:
        """The selected ids grouped by tenant (one tenant for an operator; a superuser's
        selection may span several), so that each service call gets its tenant: two queries."""
        ids_by_tenant: dict[Any, list[Any]] = defaultdict(list)
        for tenant_id, pk in queryset.order_by().values_list("tenant_id", "pk"):
            ids_by_tenant[tenant_id].append(pk)
        tenants = Tenant.objects.in_bulk(list(ids_by_tenant))
        return [(tenants[tenant_id], ids) for tenant_id, ids in ids_by_tenant.items()]

    def apply_per_tenant(
        self, queryset: QuerySet[Any], apply: Callable[[Tenant, list[Any]], int]
    ) -> tuple[int, int]:
        """Run the service call ``apply(tenant, ids)`` for each tenant of the selection, all
        or nothing; returns the number of rows selected and the sum of what ``apply``
        returned (the rows it changed)."""
        selected = changed = 0
        with transaction.atomic():
            for tenant, ids in self.selected_by_tenant(queryset):
                selected += len(ids)
                changed += apply(tenant, ids)
        return selected, changed

    def action_with_form(
        self,
        request: HttpRequest,
        queryset: QuerySet[Any],
        *,
        action: str,
        form_class: type[forms.Form],
        title: str,
        apply: Callable[[forms.Form], None],
    ) -> TemplateResponse | None:
        """An action with an intermediate form: the first POST (from the changelist)
        renders the form, the second (``apply``) validates it and runs ``apply``.

        The selection travels along: the selected ids, or ``select_across`` for "all
        matching" (the changelist's filters and search stay in the URL, which the form
        posts back to)."""
        if "apply" in request.POST:
            form = form_class(request.POST)
            if form.is_valid():
                apply(form)
                return None
        else:
            form = form_class()
        select_across = request.POST.get("select_across") == "1"
        opts = self.opts  # type: ignore[attr-defined]
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": title,
            "opts": opts,
            "app_label": opts.app_label,
            "form": form,
            "action": action,
            "select_across": select_across,
            # The page's ticked ids, also with select_across: the changelist refuses an
            # action without any.
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "count": queryset.count(),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name  # type: ignore[attr-defined]
        return TemplateResponse(request, ACTION_FORM_TEMPLATE, context)


# --- Inlines -------------------------------------------------------------------------------


class TenantScopedInlineFormSet(BaseInlineFormSet):
    """Inline rows belong to their parent's tenant: each form's row takes it before
    validation, so that Django's uniqueness checks run within that tenant
    (TenantScopedModelForm.validate_constraints)."""

    def _construct_form(self, i: int, **kwargs: Any) -> Any:
        form = super()._construct_form(i, **kwargs)
        tenant_id = getattr(self.instance, "tenant_id", None)
        if tenant_id is not None and is_tenant_owned(type(form.instance)):
            form.instance.tenant_id = tenant_id
        return form


class TenantScopedInlineMixin(_TenantScoping):
    """Put before ``admin.TabularInline``; the parent admin's save_formset sets the tenant."""

    form = TenantScopedModelForm
    formset = TenantScopedInlineFormSet

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        return [*(super().get_exclude(request, obj) or ()), "tenant"]  # type: ignore[misc]
