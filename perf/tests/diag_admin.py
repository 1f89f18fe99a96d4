"""An admin site for perf's diagnosis tests: changelists that forget a relation, as a
ModelAdmin could."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from catalog.admin import AuthorAdmin, BookAdmin
from catalog.models import Author, Book

site = admin.AdminSite(name="diag_admin")


class ForgetfulBookAdmin(BookAdmin):
    # The author is in list_display but not joined: one query per row.
    list_select_related = ("publisher",)


class AuthorBookCountAdmin(AuthorAdmin):
    list_display = ("name", "book_count")

    @admin.display(description="books")
    def book_count(self, obj: Author) -> int:
        return obj.books.count()  # a COUNT per row


site.register(Book, ForgetfulBookAdmin)
site.register(Author, AuthorBookCountAdmin)

urlpatterns = [path("diag-admin/", site.urls)]
