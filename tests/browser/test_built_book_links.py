"""The built book's cross-links read from its HTML (no browser needed).

- A citation in a chapter leads to a references entry with the same label (author-year on
  both sides: "[Kingma and Welling, 2014]" in the text, the same in the bibliography).
- Each chapter page ends with the links to its exercise; the intro lists every exercise.
"""

from __future__ import annotations

import re
import sys

import pytest
import yaml
from bs4 import BeautifulSoup

from .conftest import BUILD_HINT, HTML, ROOT, require

sys.path.insert(0, str(ROOT / "_ext"))
from exercise_links import colab_url, exercise_for, local_command  # noqa: E402

pytestmark = pytest.mark.browser


def soup(page: str) -> BeautifulSoup:
    require((HTML / page).exists(), BUILD_HINT)
    return BeautifulSoup((HTML / page).read_text(encoding="utf-8"), "html.parser")


def text(node) -> str:
    return re.sub(r"\s+", " ", node.get_text()).strip()


def bibliography_labels() -> dict[str, str]:
    """Entry id on the references page -> its label without brackets."""
    labels = {}
    for entry in soup("book/references.html").select("div.citation"):
        labels[entry["id"]] = text(entry.select_one("span.label")).strip("[]")
    return labels


def chapter_pages() -> list[str]:
    require((HTML / "index.html").exists(), BUILD_HINT)
    return sorted(p.relative_to(HTML).as_posix() for p in (HTML / "book").glob("[0-9][0-9]_*.html"))


def test_citations_resolve_to_entries_with_the_same_label():
    labels = bibliography_labels()
    assert labels, "the references page has no entries"
    checked, wrong = 0, []
    for page in chapter_pages():
        for link in soup(page).select('a[href^="references.html#"]'):
            entry = link["href"].split("#", 1)[1]
            label, cited = labels.get(entry), text(link)
            if label is None:
                wrong.append(f"{page}: {cited!r} links to #{entry}, which is not an entry")
                continue
            if re.fullmatch(r"\d{4}\w?", cited):  # textual {cite:t}: "Kingma and Welling [2014]"
                before = text(link.parent).split(cited)[0] if cited in text(link.parent) else ""
                author = label.rsplit(", ", 1)[0]
                if not (label.endswith(f", {cited}") and author in before):
                    wrong.append(f"{page}: textual citation '... [{cited}]' vs label {label!r}")
            elif cited != label:  # parenthetical {cite:p}: "[Kingma and Welling, 2014]"
                wrong.append(f"{page}: cited as {cited!r}, listed as {label!r}")
            checked += 1
    assert checked, "no citation found in any chapter"
    assert not wrong, "citations whose label differs from the bibliography's:\n  " + "\n  ".join(wrong)


def test_one_citation_reads_the_same_in_text_and_bibliography():
    """The example of the issue: ch1 cites Alain and Bengio; the entry carries that label."""
    labels = bibliography_labels()
    assert "Alain and Bengio, 2014" in labels.values(), sorted(labels.values())
    links = [a for a in soup("book/01_autoencoders.html").select('a[href^="references.html#"]')
             if labels.get(a["href"].split("#", 1)[1]) == "Alain and Bengio, 2014"]
    assert links, "chapter 1 does not cite Alain and Bengio (2014) any more: pick another citation"
    assert any(text(a) in ("Alain and Bengio, 2014", "2014") for a in links)


def test_chapter_pages_end_with_their_exercise_links():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]
    pages = chapter_pages()
    assert pages
    for page in pages:
        exercise = exercise_for(page.removesuffix(".html"), ROOT)
        if exercise is None:
            continue
        notebook = f"exercises/{exercise.name}"
        box = soup(page).select("div.exercise-links")
        assert len(box) == 1, f"{page}: expected one exercise box, found {len(box)}"
        url = colab_url(repo["url"], repo.get("branch", "main"), repo.get("path_to_book", ""),
                        config["launch_buttons"]["colab_url"], notebook)
        assert box[0].select_one("a.exercise-colab")["href"] == url
        assert text(box[0].select_one(".exercise-local")) == local_command(notebook)
        last = [el for el in soup(page).select("article section")[0].find_all(recursive=False) if el.name][-1]
        assert "exercise-links" in last.get("class", []), f"{page}: the exercise box is not the page's last element"


def test_intro_lists_every_exercise():
    listed = soup("book/intro.html").select("ul.exercise-list > li")
    exercises = sorted((ROOT / "exercises").glob("[0-9][0-9]_*.ipynb"))
    assert [text(li.select_one("code")) for li in listed] == [f"exercises/{p.name}" for p in exercises]
    assert all(li.select_one("a.exercise-colab")["href"].endswith(f"/exercises/{p.name}") for li, p in zip(listed, exercises))
