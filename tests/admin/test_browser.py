"""The real-browser check (scripts/admin_screenshot.py) against a live test server: headless
Chromium logs in as an operator, browses, searches and opens a book."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from catalog.services import book_search_documents_refresh
from tests.admin.conftest import catalog
from tests.factories import BookFactory, OperatorFactory

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "admin_screenshot.py"
MISSING = [p for p in ("/usr/bin/chromium", "/usr/bin/chromedriver") if not Path(p).exists()]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"{', '.join(MISSING)} missing: install Debian's chromium and chromium-driver",
    ),
]


def test_operator_browses_searches_and_opens_a_book(live_server, transactional_db, tmp_path):
    operator = OperatorFactory(username="browser-operator")
    operator.set_password("browser-check-pw")
    operator.save()
    tenant = operator.tenant
    books = catalog(tenant, 30)
    BookFactory(
        tenant=tenant, author=books[0].author, publisher=books[0].publisher, title="The Moon Harbor"
    )
    catalog(OperatorFactory().tenant, 5, prefix="Elsewhere ")  # another tenant's books
    book_search_documents_refresh(tenant=tenant)

    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            live_server.url,
            str(tmp_path),
            "--username",
            operator.login,
            "--password",
            "browser-check-pw",
            "--search",
            "moon",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    shots = sorted(p.name for p in tmp_path.glob("*.png"))
    assert shots == [
        "01-login.png",
        "02-books-changelist.png",
        "03-books-search.png",
        "04-book-change-form.png",
    ]
    assert all((tmp_path / name).stat().st_size > 10_000 for name in shots)
    # The first page holds this tenant's 31 books and none of the other tenant's.
    assert "changelist: 31 rows on the first page" in result.stdout
    assert "search 'moon': 1 rows on the first page" in result.stdout
    assert "change form: 'The Moon Harbor'" in result.stdout
