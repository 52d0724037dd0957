"""Links from the book to the exercise notebooks, without editing the chapters.

- Every chapter page ``book/NN_topic`` for which ``exercises/NN_*.ipynb`` exists ends
  with a box naming its exercise, with the command that opens it locally and its
  Google Colab link.
- The directive ``exercise-list`` (used in ``book/intro.md``) lists every notebook of
  ``exercises/`` with its chapter and the same two ways to open it.

The Colab links are derived from ``_config.yml`` (``repository.url``,
``repository.branch``, ``repository.path_to_book`` and ``launch_buttons.colab_url``),
which Jupyter Book passes to Sphinx as ``html_theme_options``, the same values the
rocket button of a chapter page uses.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlparse

from docutils import nodes
from sphinx import addnodes
from sphinx.util.docutils import SphinxDirective

CHAPTER = re.compile(r"^book/(\d\d)_[^/]+$")
EXERCISES = "exercises"
SOLUTIONS = "solutions"


def colab_url(repository_url: str, branch: str, path_to_book: str, colab: str, notebook: str) -> str:
    """The Colab launch URL of ``notebook`` (a path relative to the book's root).

    >>> colab_url("https://github.com/o/r", "main", "", "https://colab.research.google.com", "exercises/01_a.ipynb")
    'https://colab.research.google.com/github/o/r/blob/main/exercises/01_a.ipynb'
    """
    parsed = urlparse(repository_url)
    if parsed.netloc != "github.com":
        raise ValueError(f"Colab opens notebooks from github.com repositories only, got {repository_url!r}")
    owner_repo = parsed.path.strip("/").removesuffix(".git")
    if owner_repo.count("/") != 1:
        raise ValueError(f"repository url must be https://github.com/<owner>/<repo>, got {repository_url!r}")
    path = "/".join(part for part in (path_to_book.strip("/"), notebook.strip("/")) if part)
    return f"{colab.rstrip('/')}/github/{owner_repo}/blob/{branch}/{path}"


def local_command(notebook: str) -> str:
    """The shell command, run from the repository root, that opens ``notebook`` locally."""
    return f".venv/bin/jupyter lab {notebook}"


def exercise_for(docname: str, root: Path) -> Path | None:
    """The exercise notebook of the chapter ``docname`` (``book/NN_topic``), if there is one."""
    match = CHAPTER.match(docname)
    if not match:
        return None
    found = sorted((root / EXERCISES).glob(f"{match.group(1)}_*.ipynb"))
    return found[0] if found else None


def notebook_title(path: Path) -> str:
    """The first heading of the notebook's first markdown cell, else its file name."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
            break
    return path.name


def _colab(options: dict, notebook: str) -> str:
    """Colab URL of ``notebook`` from Jupyter Book's ``html_theme_options``."""
    return colab_url(options.get("repository_url", ""), options.get("repository_branch", "main"),
                     options.get("path_to_docs", ""), options.get("launch_buttons", {}).get("colab_url", ""),
                     notebook)


def append_exercise_box(app, doctree: nodes.document) -> None:
    """``doctree-read``: end a chapter page with the links to its exercise."""
    docname = app.env.docname
    root = Path(app.srcdir)
    exercise = exercise_for(docname, root)
    if exercise is None:
        return
    app.env.note_dependency(str(exercise))
    notebook = f"{EXERCISES}/{exercise.name}"
    box = nodes.admonition(classes=["tip", "exercise-links"])
    box += nodes.title("", "Exercise")
    para = nodes.paragraph()
    para += nodes.strong("", notebook_title(exercise))
    para += nodes.Text(": the notebook ")
    para += nodes.literal("", notebook)
    para += nodes.Text(". Open it in ")
    para += nodes.reference("", "Colab", refuri=_colab(app.config.html_theme_options, notebook),
                            classes=["exercise-colab"])
    para += nodes.Text(", or locally from the repository root with ")
    para += nodes.literal("", local_command(notebook), classes=["exercise-local"])
    para += nodes.Text(".")
    box += para
    solution = root / SOLUTIONS / exercise.name
    if solution.exists():
        box += nodes.paragraph("", "", nodes.Text("Its solved twin is "),
                               nodes.literal("", f"{SOLUTIONS}/{solution.name}"), nodes.Text("."))
    section = doctree.next_node(nodes.section)
    (section if section is not None else doctree).append(box)


class ExerciseList(SphinxDirective):
    """``exercise-list``: every notebook of ``exercises/`` with its chapter and links."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        root = Path(self.env.srcdir)
        options = self.env.app.config.html_theme_options
        items = nodes.bullet_list(classes=["exercise-list"])
        for exercise in sorted((root / EXERCISES).glob("[0-9][0-9]_*.ipynb")):
            self.env.note_dependency(str(exercise))
            notebook = f"{EXERCISES}/{exercise.name}"
            para = nodes.paragraph()
            para += nodes.strong("", notebook_title(exercise))
            para += nodes.Text(": ")
            para += nodes.literal("", notebook)
            para += nodes.Text(", ")
            para += nodes.reference("", "open in Colab", refuri=_colab(options, notebook), classes=["exercise-colab"])
            chapters = [p for p in sorted((root / "book").glob(f"{exercise.name[:2]}_*.ipynb"))
                        if f"book/{p.stem}" in self.env.found_docs]  # built pages only
            if chapters:
                para += nodes.Text("; practises ")
                xref = addnodes.pending_xref("", refdomain="std", reftype="doc",
                                             reftarget=f"/book/{chapters[0].stem}", refexplicit=False,
                                             refwarn=True)
                xref += nodes.inline("", f"book/{chapters[0].stem}")
                para += xref
            para += nodes.Text(".")
            items += nodes.list_item("", para)
        return [items]


def setup(app):
    app.connect("doctree-read", append_exercise_box)
    app.add_directive("exercise-list", ExerciseList)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
