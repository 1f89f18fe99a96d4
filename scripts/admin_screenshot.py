"""Real-browser check of the operator admin: headless Chromium logs in, browses, searches
and opens a book, saving a PNG of each step.

    .venv/bin/python scripts/admin_screenshot.py http://127.0.0.1:8011 [reports/admin/]
        [--username atlas-distribution/operator]
        [--password shelfwise-demo] [--search moon]

Uses Debian's /usr/bin/chromium and /usr/bin/chromedriver (packages chromium and
chromium-driver); Selenium never downloads a browser or driver (SE_OFFLINE). Exits 1 with
the reason when a step does not show what it should.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DEFAULT_OUT = Path("reports/admin")
WINDOW = (1400, 1000)
MAX_HEIGHT = 6000  # pixels of a full-page screenshot


class CheckFailed(RuntimeError):
    pass


@dataclass
class Outcome:
    screenshots: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def browser_missing() -> str | None:
    """Why the check cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} is missing (Debian packages chromium and chromium-driver)"
    return None


def _driver(profile_dir: str):  # -> selenium.webdriver.Chrome
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile_dir}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    return driver


def _static_served(base_url: str) -> bool:
    """Whether the server serves the admin's stylesheet (gunicorn alone does not)."""
    url = urljoin(base_url, "/static/admin/css/base.css")
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - http(s) URL given
            return response.status == 200
    except OSError:
        return False


def run(
    base_url: str,
    out_dir: Path = DEFAULT_OUT,
    *,
    username: str = "atlas-distribution/operator",
    password: str = "shelfwise-demo",  # noqa: S107 - the seeded demo operator's password
    search: str = "moon",
) -> Outcome:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    if reason := browser_missing():
        raise CheckFailed(reason)
    out_dir.mkdir(parents=True, exist_ok=True)
    base_url = base_url.rstrip("/") + "/"
    outcome = Outcome()
    if not _static_served(base_url):
        outcome.notes.append("the server does not serve /static/admin/: the admin renders unstyled")

    def shot(driver, name: str) -> None:
        """The whole page: the window grows to the document's height for the shot."""
        path = out_dir / f"{name}.png"
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(WINDOW[0], min(max(int(height), WINDOW[1]), MAX_HEIGHT))
        driver.save_screenshot(str(path))
        driver.set_window_size(*WINDOW)
        outcome.screenshots.append(path)

    with tempfile.TemporaryDirectory(prefix="shelfwise-chromium-") as profile:
        driver = _driver(profile)
        try:
            wait = WebDriverWait(driver, 30)
            driver.get(urljoin(base_url, "admin/login/?next=/admin/catalog/book/"))
            driver.find_element(By.NAME, "username").send_keys(username)
            driver.find_element(By.NAME, "password").send_keys(password)
            shot(driver, "01-login")
            driver.find_element(By.CSS_SELECTOR, "form#login-form [type=submit]").click()

            # The books changelist (the login redirects there).
            wait.until(ec.presence_of_element_located((By.ID, "changelist")))
            rows = driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
            if not rows:
                raise CheckFailed("the books changelist shows no rows")
            shot(driver, "02-books-changelist")
            outcome.notes.append(f"changelist: {len(rows)} rows on the first page")

            # A search, through the search box.
            box = driver.find_element(By.ID, "searchbar")
            box.clear()
            box.send_keys(search)
            driver.find_element(By.CSS_SELECTOR, "#changelist-search [type=submit]").click()
            wait.until(ec.url_contains("q="))
            wait.until(ec.presence_of_element_located((By.ID, "changelist")))
            found = driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
            shot(driver, "03-books-search")
            outcome.notes.append(f"search {search!r}: {len(found)} rows on the first page")
            if not found:
                raise CheckFailed(f"the search for {search!r} found no books")

            # A change form: the first result's title links to it.
            link = driver.find_element(By.CSS_SELECTOR, "#result_list tbody tr th a")
            title = link.text
            link.click()
            wait.until(ec.presence_of_element_located((By.ID, "book_form")))
            if driver.find_element(By.ID, "id_title").get_attribute("value") != title:
                raise CheckFailed(f"the change form does not show {title!r}")
            shot(driver, "04-book-change-form")
            outcome.notes.append(f"change form: {title!r}")
        except Exception:
            shot(driver, "99-failure")
            raise
        finally:
            driver.quit()
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url", help="the running server, e.g. http://127.0.0.1:8011")
    parser.add_argument("out_dir", nargs="?", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--username",
        default="atlas-distribution/operator",
        help="the admin login: <tenant-slug>/<username>",
    )
    parser.add_argument("--password", default="shelfwise-demo")
    parser.add_argument("--search", default="moon")
    args = parser.parse_args(argv)
    try:
        outcome = run(
            args.base_url,
            args.out_dir,
            username=args.username,
            password=args.password,
            search=args.search,
        )
    except CheckFailed as exc:
        print(f"admin check failed: {exc}", file=sys.stderr)
        return 1
    for note in outcome.notes:
        print(note)
    for path in outcome.screenshots:
        print(f"screenshot: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
