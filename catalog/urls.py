from django.urls import path

from catalog import views

urlpatterns = [
    path("books", views.BookListCreateApi.as_view(), name="book-list"),
    path("books/search", views.BookSearchApi.as_view(), name="book-search"),
    path("books/bulk", views.BookBulkImportApi.as_view(), name="book-bulk"),
    path("books/export", views.BookExportApi.as_view(), name="book-export"),
    path("books/<uuid:book_id>", views.BookDetailApi.as_view(), name="book-detail"),
    path("authors", views.AuthorListApi.as_view(), name="author-list"),
    path("authors/<uuid:author_id>", views.AuthorDetailApi.as_view(), name="author-detail"),
    path("publishers", views.PublisherListApi.as_view(), name="publisher-list"),
    path(
        "publishers/<uuid:publisher_id>",
        views.PublisherDetailApi.as_view(),
        name="publisher-detail",
    ),
]
