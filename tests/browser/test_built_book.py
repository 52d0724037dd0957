"""Every page of the built book in headless Chromium, offline (see conftest.py).

A page fails when it has a script error, requests another host, shows a broken image, an
unrendered formula, a lone punctuation mark after a display formula, a link or anchor
that leads nowhere, an empty output box or a widget without its static figure, a text
output wider than its column, a traceback in an output, or a second search field. Run after building the book:

    .venv/bin/python -m pytest tests/browser
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest

from .conftest import BUILD_HINT, HTML, built_pages, file_of, format_items, is_local, screenshot_path

pytestmark = pytest.mark.browser
PAGES = built_pages() or [pytest.param("(not built)", marks=pytest.mark.skip(reason=BUILD_HINT))]


@pytest.mark.parametrize("page", PAGES)
def test_no_script_errors(page, page_reports):
    report = page_reports(page)
    problems = [f"uncaught: {e}" for e in report["page_errors"]] + [f"console: {e}" for e in report["console_errors"]]
    assert not problems, f"{page}: script errors{format_items(problems)}"


@pytest.mark.parametrize("page", PAGES)
def test_requests_no_other_host(page, page_reports):
    hosts = page_reports(page)["other_hosts"]
    assert not hosts, f"{page} requests other hosts (blocked; the book must work offline){format_items(hosts)}"


@pytest.mark.parametrize("page", PAGES)
def test_images_load(page, page_reports):
    broken = page_reports(page)["broken_images"]
    assert not broken, f"{page}: images that did not load{format_items(broken)}"


@pytest.mark.parametrize("page", PAGES)
def test_math_is_rendered(page, page_reports):
    report = page_reports(page)
    assert not report["raw_math"], f"{page}: raw TeX in the text (a formula MathJax did not render){format_items(report['raw_math'])}"
    assert not report["unrendered_math"], f"{page}: formulas without mjx-container{format_items(report['unrendered_math'])}"
    assert not report["math_errors"], f"{page}: TeX errors{format_items(report['math_errors'])}"


@pytest.mark.parametrize("page", PAGES)
def test_no_lone_punctuation_after_display_math(page, page_reports):
    lone = page_reports(page)["lone_punctuation"]
    assert not lone, f"{page}: a paragraph starts with punctuation after a display formula (put it inside $$ ... $$){format_items(lone)}"


@pytest.mark.parametrize("page", PAGES)
def test_internal_links_resolve(page, page_reports):
    report = page_reports(page)
    own_ids, broken = set(report["ids"]), []
    for link in report["links"]:
        if not is_local(link["href"]) or link["href"].startswith(("data:", "about:")):
            continue  # external links are not requests; the reader follows them online
        target, _, anchor = link["href"].partition("#")
        anchor = unquote(anchor)
        path = file_of(target)
        if path.is_dir():
            path = path / "index.html"
        if not path.exists():
            broken.append(f"{link['raw']} ({link['text']}): no file {path}")
        elif anchor and path == HTML / page:
            if anchor not in own_ids:
                broken.append(f"{link['raw']} ({link['text']}): no element with id {anchor!r} on this page")
        elif anchor and path.suffix == ".html" and anchor not in ids_of(path):
            broken.append(f"{link['raw']} ({link['text']}): no element with id {anchor!r} in {path.name}")
    assert not broken, f"{page}: internal links that lead nowhere{format_items(broken)}"


@pytest.mark.parametrize("page", PAGES)
def test_no_empty_output_and_widgets_have_their_figure(page, page_reports):
    report = page_reports(page)
    assert not report["widget_views"], f"{page}: {report['widget_views']} widget views left for a widget manager"
    assert not report["empty_outputs"], f"{page}: empty output boxes{format_items(report['empty_outputs'])}"
    assert not report["widgets_without_figure"], (
        f"{page}: widgets without a static figure in the cell before or after{format_items(report['widgets_without_figure'])}")


@pytest.mark.parametrize("page", PAGES)
def test_no_error_outputs(page, page_reports):
    errors = page_reports(page)["error_outputs"]
    assert not errors, f"{page}: tracebacks in outputs (tag the cell raises-exception if the error is the point){format_items(errors)}"


@pytest.mark.parametrize("page", PAGES)
def test_text_outputs_fit_their_column(page, page_reports):
    wide = page_reports(page)["overflowing_outputs"]
    assert not wide, (f"{page}: {len(wide)} outputs wider than the text column (print a compact table, "
                      f"at most 76 characters a line){format_items(wide, limit=40)}")


@pytest.mark.parametrize("page", PAGES)
def test_one_search_field(page, page_reports):
    fields = page_reports(page)["search_fields"]
    assert fields <= 1, f"{page}: {fields} search fields visible in the page's frame"


@pytest.mark.parametrize("page", PAGES)
def test_screenshot_saved(page, page_reports):
    page_reports(page)
    assert screenshot_path(page).stat().st_size > 0


_ids: dict[Path, set[str]] = {}


def ids_of(path: Path) -> set[str]:
    """The ids (and a-names) of a built page, read from its HTML."""
    if path not in _ids:
        from html.parser import HTMLParser

        found: set[str] = set()

        class Collector(HTMLParser):
            def handle_starttag(self, tag, attrs):
                attrs = dict(attrs)
                if attrs.get("id"):
                    found.add(attrs["id"])
                if tag == "a" and attrs.get("name"):
                    found.add(attrs["name"])

        Collector().feed(path.read_text(encoding="utf-8"))
        _ids[path] = found
    return _ids[path]
