"""The API docs work offline: every asset is a pinned static file of the project."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings

# Any URL in the page: attributes, and strings in the inline script (Swagger UI's config).
URL = re.compile(r"""(?:src|href)=["']([^"']+)["']|["'](https?://[^"']+|//[^"']+)["']""")


def _asset_urls(html: str) -> list[str]:
    return [a or b for a, b in URL.findall(html)]


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_only_local_static_files(client, page):
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    assert "http://" not in html and "https://" not in html, "an asset from another host"
    assets = _asset_urls(html)
    assert assets, "no asset found: the page changed shape"
    assert all(url.startswith("/static/") for url in assets), assets
    for url in assets:
        assert client.get(url).status_code == 200, url


def test_redoc_renders_the_schema_url(client):
    assert b"/api/schema/" in client.get("/api/redoc/").content


@override_settings(SECURE_SSL_REDIRECT=True)
def test_ssl_redirect_spares_the_load_balancers_probes(client, db):
    assert client.get("/api/v2/health").status_code == 200
    assert client.get("/api/v2/ready").status_code == 200
    response = client.get("/api/v2/books")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
