"""The book's local Sphinx extensions (_ext/), tested without building the book."""

from __future__ import annotations

import sys

import pytest
import yaml
from pybtex.database import parse_string

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "_ext"))
import author_year_labels  # noqa: E402
import exercise_links  # noqa: E402
import offline_outputs  # noqa: E402


def _config():
    return yaml.safe_load((ROOT / "_config.yml").read_text())


# --- exercise links -------------------------------------------------------------------


def test_colab_url_of_an_exercise_follows_config():
    config = _config()
    repo = config["repository"]
    url = exercise_links.colab_url(repo["url"], repo["branch"], repo["path_to_book"],
                                   config["launch_buttons"]["colab_url"], "exercises/04_vae.ipynb")
    assert url == "https://colab.research.google.com/github/course-vae/course_vae/blob/main/exercises/04_vae.ipynb"


def test_colab_url_under_a_book_subfolder():
    url = exercise_links.colab_url("https://github.com/o/r.git", "dev", "/course/", "https://colab.example/",
                                   "exercises/01_a.ipynb")
    assert url == "https://colab.example/github/o/r/blob/dev/course/exercises/01_a.ipynb"


@pytest.mark.parametrize("url", ["https://gitlab.com/o/r", "https://github.com/only-owner"])
def test_colab_url_rejects_what_colab_cannot_open(url):
    with pytest.raises(ValueError, match="github.com"):
        exercise_links.colab_url(url, "main", "", "https://colab.research.google.com", "exercises/x.ipynb")


def test_every_chapter_finds_its_exercise():
    chapters = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
    assert chapters
    for chapter in chapters:  # (that every chapter has an exercise is test_notebooks.py's to check)
        exercise = exercise_links.exercise_for(f"book/{chapter.stem}", ROOT)
        expected = sorted((ROOT / "exercises").glob(f"{chapter.name[:3]}*.ipynb"))
        assert exercise == (expected[0] if expected else None), chapter.name
    assert exercise_links.exercise_for("book/intro", ROOT) is None
    assert exercise_links.exercise_for("book/99_none", ROOT) is None


def test_exercise_titles_come_from_their_first_heading():
    title = exercise_links.notebook_title(ROOT / "exercises" / "00_warmup.ipynb")
    assert title and not title.startswith("#")
    assert exercise_links.local_command("exercises/00_warmup.ipynb") == ".venv/bin/jupyter lab exercises/00_warmup.ipynb"


# --- bibliography labels --------------------------------------------------------------

BIB = """
@article{two, author = {Alain, Guillaume and Bengio, Yoshua}, title = {T}, journal = {J}, year = {2014}}
@article{three, author = {Blei, David M. and Kucukelbir, Alp and McAuliffe, Jon D.}, title = {T}, journal = {J}, year = {2017}}
@article{one, author = {Williams, Ronald J.}, title = {T}, journal = {J}, year = {1992}}
"""


def _in_text(entry) -> str:
    """What sphinxcontrib-bibtex's author_year style writes for {cite:p}`entry`, as text."""
    from types import SimpleNamespace

    import pybtex_docutils
    from sphinxcontrib.bibtex.style.referencing import format_references
    from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle
    from sphinxcontrib.bibtex.style.template import SphinxReferenceInfo

    builder = SimpleNamespace(name="html", get_relative_uri=lambda source, target: "references.html")
    info = SphinxReferenceInfo(builder=builder, fromdocname="book/01", todocname="book/references",
                               citation_id="id1", title=None, pre_text="", post_text="")
    text = format_references(AuthorYearReferenceStyle(), "p", [(entry, None, info)])
    return "".join(node.astext() for node in text.render(pybtex_docutils.Backend()))


def test_labels_read_like_the_parenthetical_citations():
    entries = parse_string(BIB, "bibtex").entries
    labels = {key: author_year_labels.author_year_label(entry) for key, entry in entries.items()}
    assert labels == {"two": "Alain and Bengio, 2014", "three": "Blei et al., 2017", "one": "Williams, 1992"}
    for key, entry in entries.items():
        assert _in_text(entry) == f"[{labels[key]}]"


def test_the_course_bibliography_has_no_two_entries_with_one_label():
    """Two entries with one author-year label (same authors, same year) break the build:
    give them years such as 2016a and 2016b."""
    from collections import Counter

    entries = parse_string((ROOT / "references.bib").read_text(), "bibtex").entries
    labels = Counter(author_year_labels.author_year_label(entry) for entry in entries.values())
    assert [label for label, n in labels.items() if n > 1] == []


def test_label_style_is_registered_for_the_bibliography():
    import pybtex.plugin

    author_year_labels.setup(None)
    style = pybtex.plugin.find_plugin("pybtex.style.formatting", _config()["sphinx"]["config"]["bibtex_default_style"])()
    entries = parse_string(BIB, "bibtex").entries
    formatted = list(style.format_entries(entries.values()))
    assert [f.label for f in formatted] == ["Alain and Bengio, 2014", "Blei et al., 2017", "Williams, 1992"]


# --- widgets shown offline ------------------------------------------------------------


def _tqdm_state(value=470, total=470, style="success"):
    return {
        "bar": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]}},
        "l": {"model_name": "HTMLModel", "state": {"value": "training:\u2007100%"}},
        "p": {"model_name": "FloatProgressModel", "state": {"value": value, "max": total, "bar_style": style}},
        "r": {"model_name": "HTMLModel", "state": {
            # as tqdm.notebook writes it: HTML-escaped, figure spaces (U+2007) for spaces
            "value": "\u2007470/470\u2007[00:05&lt;00:00,\u200790.1step/s,\u2007epoch=5,\u2007train\u2007loss=0.1234,"
                     "\u2007val\u2007loss=0.1301]"}},
    }


def test_a_tqdm_bar_becomes_its_final_state_as_text():
    state = _tqdm_state()
    record = offline_outputs.progress_record(state["bar"], state)
    assert record.splitlines() == [
        "training: 100%|██████████| 470/470 [00:05<00:00, 90.1step/s]",
        "  epoch=5, train loss=0.1234, val loss=0.1301",
    ]
    assert all(len(line) <= offline_outputs.LINE_WIDTH for line in record.splitlines())


def test_a_stopped_bar_says_so():
    state = _tqdm_state(value=100, style="danger")
    assert offline_outputs.progress_record(state["bar"], state).splitlines()[0].startswith("training: 100%|██        |")
    assert "(stopped early)" in offline_outputs.progress_record(state["bar"], state)


def test_other_widgets_become_a_note_and_closed_ones_vanish():
    state = {
        "box": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_v", "IPY_MODEL_i"]}},
        "v": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_s1", "IPY_MODEL_s2"]}},
        "s1": {"model_name": "FloatSliderModel", "state": {}},
        "s2": {"model_name": "FloatSliderModel", "state": {}},
        "i": {"model_name": "ImageModel", "state": {}},
    }
    assert offline_outputs.progress_record(state["box"], state) is None
    assert offline_outputs.describe(state["box"], state) == "2 sliders and an image"
    note = offline_outputs.offline_node({"model_id": "box"}, state, beside="after")
    assert "widget-offline" in note["classes"]
    assert "2 sliders and an image" in note.astext() and "The figure after it" in note.astext()
    assert "figure" not in offline_outputs.offline_node({"model_id": "box"}, state).astext()
    assert offline_outputs.offline_node({"model_id": "closed"}, state) is None
