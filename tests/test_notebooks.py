"""Rules every stored notebook follows (nbval executes them; this checks how they are stored)."""

from __future__ import annotations

import nbformat
import pytest
import yaml

from .conftest import ROOT

NOTEBOOKS = sorted(p for folder in ("book", "exercises", "solutions") for p in (ROOT / folder).glob("*.ipynb"))
IDS = [str(p.relative_to(ROOT)) for p in NOTEBOOKS]


def _config():
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def colab_setup_cell() -> str:
    """The first code cell of every notebook: installs the package on Colab only."""
    url = _config()["repository"]["url"]
    return (
        "# On Colab, install the course package first (a local setup has it already).\n"
        "import sys\n\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install --quiet "course_vae @ git+{url}"'
    )


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} have stored outputs or execution counts; clear them"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_first_code_cell_installs_the_package_on_colab(path):
    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert first.source == colab_setup_cell()


def test_table_of_contents_lists_exactly_the_chapters():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    listed = [toc["root"]] + [entry["file"] for entry in toc.get("chapters", [])]
    for entry in listed:
        assert any((ROOT / f"{entry}{ext}").exists() for ext in ("", ".md", ".ipynb")), f"{entry} is missing"
    chapters = {f"book/{p.stem}" for p in (ROOT / "book").glob("*.ipynb")}
    assert chapters <= set(listed), f"chapters missing from _toc.yml: {sorted(chapters - set(listed))}"


def test_every_chapter_has_a_solution_and_an_exercise():
    for chapter in (ROOT / "book").glob("[0-9][0-9]_*.ipynb"):
        assert (ROOT / "solutions" / chapter.name).exists(), f"{chapter.name} has no solutions/ twin"
        assert (ROOT / "exercises" / chapter.name).exists(), f"{chapter.name} has no exercises/ twin"
