"""Every service error becomes a 4xx in the one JSON shape: none falls through to a 500."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from rest_framework.test import APIRequestFactory

from core.errors import ServiceError
from shelfwise.http.errors import exception_handler


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return found


SERVICE_ERRORS = _all_subclasses(ServiceError)


def test_the_apps_service_errors_are_all_found():
    # Imported by the URLconf's views; the walk below covers each one.
    names = {cls.__name__ for cls in SERVICE_ERRORS}
    assert {"BulkEditError", "IsbnTakenError", "OutOfStockError"} <= names


@pytest.mark.parametrize("error_class", SERVICE_ERRORS, ids=lambda cls: cls.__name__)
def test_every_service_error_is_a_4xx_with_its_code(error_class):
    request = APIRequestFactory().post("/api/v2/anything")
    response = exception_handler(error_class("Refused.", {"why": 1}), {"request": request})
    assert response is not None, error_class
    assert 400 <= response.status_code < 500, error_class
    assert response.data == {
        "error": {"code": error_class.code, "message": "Refused.", "details": {"why": 1}}
    }


def test_an_error_without_a_status_gets_the_base_default():
    class NewError(ServiceError):
        code = "new_error"

    request = APIRequestFactory().get("/api/v2/anything")
    response = exception_handler(NewError("No."), {"request": request})
    assert response is not None and response.status_code == ServiceError.status == 400


def test_the_error_map_imports_no_app():
    # Each error class carries its status, so the handler needs no app's error classes.
    source = Path(__file__).resolve().parents[1] / "shelfwise" / "http" / "errors.py"
    imported = {
        (node.module or "").split(".")[0]
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.ImportFrom)
    }
    assert imported.isdisjoint({"catalog", "orders", "tenants"}), imported
