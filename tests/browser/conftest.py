"""The built book as a reader sees it: every page of ``_build/html`` in headless Chromium.

Chromium is Debian's (``/usr/bin/chromium``), driven by the ``playwright`` package through
``executable_path``: no browser is downloaded. The network is unreachable for the pages:
every request to anything but a local file is aborted and recorded. Each page is opened
once, at 1280 px, and inspected by ``page_check.js``; the tests read that report. A
full-page screenshot of every page lands in ``_build/screenshots/``.

Without ``_build/html`` or chromium the tests skip with a message saying what to do;
with ``COURSE_VAE_REQUIRE_BROWSER=1`` (set by ``.ci/run``) they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
# the built book (another build folder with $COURSE_VAE_BOOK_HTML), screenshots beside it
HTML = Path(os.environ.get("COURSE_VAE_BOOK_HTML") or ROOT / "_build" / "html").resolve()
SCREENSHOTS = HTML.parent / "screenshots"
WIDTH, HEIGHT = 1280, 900
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
REDIRECT = re.compile(r'<meta http-equiv="refresh" content="\d+;\s*url=([^"]+)"', re.I)
LOCAL_SCHEMES = {"file", "data", "blob", "about"}
PAGE_CHECK = (Path(__file__).parent / "page_check.js").read_text(encoding="utf-8")
BUILD_HINT = ("the book is not built (no _build/html/index.html): build it with "
              "`.venv/bin/jupyter-book build . --warningiserror --keep-going`, then run "
              "`.venv/bin/python -m pytest tests/browser`")
CHROMIUM_HINT = ("Debian's chromium is not installed: `sudo apt-get update && sudo apt-get install -y chromium` "
                 "(or set COURSE_VAE_CHROMIUM to a Chromium executable), then run `.venv/bin/python -m pytest tests/browser`")


def chromium_path() -> str | None:
    """The Chromium executable: $COURSE_VAE_CHROMIUM, else chromium on the PATH; None if missing."""
    candidate = os.environ.get("COURSE_VAE_CHROMIUM") or shutil.which("chromium")
    return candidate if candidate and os.access(candidate, os.X_OK) else None


def built_pages() -> list[str]:
    """Every HTML page of the built book, relative to ``_build/html``."""
    if not (HTML / "index.html").exists():
        return []
    skip = {"_static", "_sources", "_images", "_sphinx_design_static"}
    return sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html") if not skip & set(p.relative_to(HTML).parts))


def require(condition: bool, message: str) -> None:
    """Skip the test with ``message`` unless ``condition``; fail instead under CI's variable."""
    if condition:
        return
    if os.environ.get("COURSE_VAE_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def screenshot_path(page: str) -> Path:
    return SCREENSHOTS / (page.removesuffix(".html").replace("/", "__") + ".png")


def is_local(url: str) -> bool:
    return urlparse(url).scheme in LOCAL_SCHEMES


def file_of(url: str) -> Path:
    return Path(unquote(urlparse(url).path))


@pytest.fixture(scope="session")
def browser_context():
    """A fresh headless Chromium profile whose only reachable resources are local files."""
    require(bool(built_pages()), BUILD_HINT)
    executable = chromium_path()
    require(executable is not None, CHROMIUM_HINT)
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="course-vae-chromium-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": WIDTH, "height": HEIGHT}, device_scale_factor=1, service_workers="block",
        )
        context.route("**/*", lambda route: route.continue_() if is_local(route.request.url) else route.abort())
        yield context
        context.close()


@pytest.fixture(scope="session")
def page_reports(browser_context):
    """``report(page)``: open ``page`` once (cached) and return what the reader would meet."""
    cache: dict[str, dict] = {}

    def report(page: str) -> dict:
        if page not in cache:
            cache[page] = inspect(browser_context, page)
        return cache[page]

    return report


def inspect(context, page: str) -> dict:
    """Open one page, wait for its math, run ``page_check.js``, save a full-page screenshot."""
    tab = context.new_page()
    console_errors, page_errors, requests = [], [], []
    tab.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda error: page_errors.append(str(error)))
    tab.on("request", lambda request: requests.append(request.url))
    try:
        redirect = REDIRECT.search((HTML / page).read_text(encoding="utf-8"))
        tab.goto((HTML / page).as_uri(), wait_until="commit" if redirect else "load")
        if redirect:  # index.html sends the reader on to the intro: check what they land on
            target = (HTML / page).parent.joinpath(redirect.group(1)).resolve().as_uri()
            tab.wait_for_url(target, wait_until="load")
        tab.evaluate("""async () => {
            if (!document.querySelector('.math')) return;
            const start = Date.now();
            while (!(window.MathJax && MathJax.startup && MathJax.startup.promise) && Date.now() - start < 20000)
                await new Promise(r => setTimeout(r, 50));
            if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
        }""")
        report = tab.evaluate(PAGE_CHECK)
        tab.wait_for_timeout(200)  # late console messages
        tab.screenshot(path=str(screenshot_path(page)), full_page=True)
    finally:
        tab.close()
    report.update(console_errors=console_errors, page_errors=page_errors,
                  other_hosts=sorted({url for url in requests if not is_local(url)}))
    return report


def format_items(items: list, limit: int = 12) -> str:
    shown = [json.dumps(item, ensure_ascii=False) if not isinstance(item, str) else item for item in items[:limit]]
    more = f"\n  ... and {len(items) - limit} more" if len(items) > limit else ""
    return "\n  " + "\n  ".join(shown) + more


_skip_reasons: set[str] = set()


def pytest_runtest_logreport(report) -> None:
    """Remember why browser tests were skipped, to say it once at the end of the run."""
    if report.skipped and report.nodeid.startswith("tests/browser/"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skip_reasons.add(reason.removeprefix("Skipped: "))


def pytest_terminal_summary(terminalreporter) -> None:
    for reason in sorted(_skip_reasons):
        terminalreporter.write_line(f"browser test of the built book skipped: {reason}", yellow=True)
