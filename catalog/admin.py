"""The catalog in the admin, tenant-scoped (tenants.admin_scoping) and sized for 50,000 books.

Every changelist and change form runs a fixed number of queries: list_select_related
for the row's relations, autocomplete widgets (one query for the selected options, never
a select of every author), the genres as one multi-select field instead of an inline
(an inline's rows each cost a query or three on display and on save), no facet counts
and no full result count. Book search runs on the tenant-leading GIN index.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelectMultiple
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from catalog.isbn import isbn_compact, looks_like_isbn
from catalog.models import Author, Book, BookGenre, Genre, Publisher
from catalog.querysets import BOOK_CATALOG_ORDER, BookQuerySet
from catalog.services import (
    REPRICE_PERCENT_MAX,
    REPRICE_PERCENT_MIN,
    RESTOCK_MAX,
    BulkEditError,
    author_rename,
    book_create,
    book_update,
    books_reprice,
    books_restock,
)
from tenants.admin_scoping import (
    TenantRelatedFieldListFilter,
    TenantScopedAdminMixin,
    TenantScopedModelForm,
    superuser_rows,
)
from tenants.models import Tenant


class _NamedAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    """Authors, publishers and genres: a name, ordered and searched by it. The tenant's
    rows are a range of the (tenant_id, name, id) index, which also serves the
    autocomplete's ORDER BY name, id LIMIT 20."""

    list_display = ("name",)
    list_select_related = ()
    search_fields = ("name",)
    ordering = ("name", "id")
    fields = ("name",)
    list_per_page = 50
    show_full_result_count = False


@admin.register(Author)
class AuthorAdmin(_NamedAdmin):
    def save_model(self, request: HttpRequest, obj: Author, form: Any, change: bool) -> None:
        if change and "name" in form.changed_data:
            # The name is part of every one of the author's books' search documents.
            author_rename(tenant=self.request_tenant(request, obj), author_id=obj.pk, name=obj.name)
        else:
            super().save_model(request, obj, form, change)


@admin.register(Publisher)
class PublisherAdmin(_NamedAdmin):
    pass


@admin.register(Genre)
class GenreAdmin(_NamedAdmin):
    pass


# --- Books -------------------------------------------------------------------------------


class BookAdminForm(TenantScopedModelForm):
    """Genres are one autocomplete multi-select, saved by the catalog services."""

    genre_ids = forms.ModelMultipleChoiceField(
        queryset=Genre.objects.none(),
        required=False,
        label="Genres",
        widget=AutocompleteSelectMultiple(Book._meta.get_field("genres"), admin.site),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tenant_id = self.instance.tenant_id
        genres = Genre.objects.order_by("name", "id")
        # A superuser's new book has no tenant yet: any genre, checked against the chosen
        # tenant by TenantScopedModelForm.clean.
        self.fields["genre_ids"].queryset = (
            genres.filter(tenant_id=tenant_id) if tenant_id is not None else superuser_rows(genres)
        )
        if not self.instance._state.adding:
            self.initial.setdefault(
                "genre_ids",
                list(
                    BookGenre.objects.filter(
                        tenant_id=tenant_id, book_id=self.instance.pk
                    ).values_list("genre_id", flat=True)
                ),
            )


class StockListFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "stock"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("out", "Out of stock"), ("low", "5 or fewer"), ("in", "In stock")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Book]) -> QuerySet[Book]:
        match self.value():
            case "out":
                return queryset.filter(stock=0)
            case "low":
                return queryset.filter(stock__lte=5)
            case "in":
                return queryset.filter(stock__gt=0)
        return queryset


class BulkEditForm(forms.Form):
    """The form of a bulk-edit action: what it asks, the service call it makes with the
    answer, and what the admin says afterwards."""

    title: str
    refused: str  # the start of the message when the service refuses the edit

    def edit(self, tenant: Tenant, book_ids: list[Any]) -> int:
        """Run the edit on the tenant's books ``book_ids``; the number of books changed."""
        raise NotImplementedError

    def done(self, count: int) -> str:
        raise NotImplementedError


class RepriceForm(BulkEditForm):
    title = "Change prices by a percentage"
    refused = "No prices changed"

    percent = forms.DecimalField(
        label="Change prices by (%)",
        max_digits=6,
        decimal_places=2,
        min_value=REPRICE_PERCENT_MIN,
        max_value=REPRICE_PERCENT_MAX,
        help_text="10 raises prices by 10%, -25 lowers them by 25%. New prices are rounded "
        "to the cent and never go below 0.00.",
    )

    def edit(self, tenant: Tenant, book_ids: list[Any]) -> int:
        return books_reprice(tenant=tenant, book_ids=book_ids, percent=self.cleaned_data["percent"])

    def done(self, count: int) -> str:
        return f"Changed the price of {count} books by {self.cleaned_data['percent']}%."


class RestockForm(BulkEditForm):
    title = "Restock"
    refused = "No stock changed"

    quantity = forms.IntegerField(
        label="Copies to add to each book", min_value=1, max_value=RESTOCK_MAX
    )

    def edit(self, tenant: Tenant, book_ids: list[Any]) -> int:
        return books_restock(
            tenant=tenant, book_ids=book_ids, quantity=self.cleaned_data["quantity"]
        )

    def done(self, count: int) -> str:
        return f"Added {self.cleaned_data['quantity']} copies to each of {count} books."


# Form fields that book_update takes, by the model attribute it expects.
_BOOK_UPDATE_FIELDS = {
    "title": "title",
    "isbn": "isbn",
    "price": "price",
    "stock": "stock",
    "author": "author_id",
    "publisher": "publisher_id",
    "published_on": "published_on",
    "description": "description",
}


@admin.register(Book)
class BookAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    form = BookAdminForm
    list_display = ("title", "isbn", "author", "publisher", "price", "stock", "published_on")
    list_select_related = ("author", "publisher")
    list_filter = (
        ("publisher", TenantRelatedFieldListFilter),
        ("genres", TenantRelatedFieldListFilter),
        StockListFilter,
    )
    # The search box; get_search_results decides how it searches.
    search_fields = ("title",)
    search_help_text = (
        'Words of the title, author or description (web search syntax: "exact phrase", '
        "-word, or), or an exact ISBN."
    )
    # The (tenant_id, title, id) index serves the page: no sort step.
    ordering = BOOK_CATALOG_ORDER
    # Columns with an index that leads with tenant_id (title; price, id).
    sortable_by = ("title", "price")
    autocomplete_fields = ("author", "publisher")
    fields = (
        "title",
        "isbn",
        "author",
        "publisher",
        "genre_ids",
        "price",
        "stock",
        "published_on",
        "description",
    )
    list_per_page = 50
    show_full_result_count = False
    actions = ("reprice", "restock")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Book]:
        return super().get_queryset(request).defer("search_document")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Book], search_term: str
    ) -> tuple[QuerySet[Book], bool]:
        """An ISBN-looking term is an exact ISBN lookup (the unique (tenant_id, isbn)
        index); anything else is a full-text query on the (tenant_id, search_document)
        GIN index, with the configuration the documents are built with."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if looks_like_isbn(term):
            return queryset.filter(isbn__in=sorted({term, isbn_compact(term)})), False
        return cast(BookQuerySet, queryset).text_match(term), False

    def save_model(self, request: HttpRequest, obj: Book, form: Any, change: bool) -> None:
        """Through the catalog services: they keep the search document in step and
        replace the genres in two queries."""
        self.set_tenant(request, obj)
        tenant = self.request_tenant(request, obj)
        genre_ids = [genre.pk for genre in form.cleaned_data.get("genre_ids") or ()]
        if change:
            changes: dict[str, Any] = {
                attname: getattr(obj, attname)
                for name, attname in _BOOK_UPDATE_FIELDS.items()
                if name in form.changed_data
            }
            if "genre_ids" in form.changed_data:
                changes["genre_ids"] = genre_ids
            book_update(tenant=tenant, book_id=obj.pk, **changes)
            return
        created = book_create(
            tenant=tenant,
            title=obj.title,
            isbn=obj.isbn,
            price=obj.price,
            stock=obj.stock,
            author_id=obj.author_id,
            publisher_id=obj.publisher_id,
            genre_ids=genre_ids,
            published_on=obj.published_on,
            description=obj.description,
        )
        # The admin goes on with ``obj`` (its log entry, the redirect): make it the row.
        obj.pk = created.pk
        obj._state.adding = False
        obj._state.db = created._state.db

    # --- Actions ---------------------------------------------------------------------

    def _bulk_edit_action(
        self,
        request: HttpRequest,
        queryset: QuerySet[Book],
        action: str,
        form_class: type[BulkEditForm],
    ) -> TemplateResponse | None:
        """The form, then its edit per tenant of the selection, all or nothing."""

        def apply(form: forms.Form) -> None:
            edit = cast(BulkEditForm, form)
            try:
                _, count = self.apply_per_tenant(queryset, edit.edit)
            except BulkEditError as exc:
                self.message_user(request, f"{edit.refused}: {exc.message}", messages.ERROR)
                return
            self.message_user(request, edit.done(count), messages.SUCCESS)

        return self.action_with_form(
            request,
            queryset,
            action=action,
            form_class=form_class,
            title=form_class.title,
            apply=apply,
        )

    @admin.action(description="Change prices by a percentage", permissions=["change"])
    def reprice(self, request: HttpRequest, queryset: QuerySet[Book]) -> TemplateResponse | None:
        return self._bulk_edit_action(request, queryset, "reprice", RepriceForm)

    @admin.action(description="Restock (add copies)", permissions=["change"])
    def restock(self, request: HttpRequest, queryset: QuerySet[Book]) -> TemplateResponse | None:
        return self._bulk_edit_action(request, queryset, "restock", RestockForm)
