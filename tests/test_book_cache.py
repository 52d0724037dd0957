"""The root conftest.py stores the chapters that nbval executed in the book's cache.

CI executes each chapter once: nbval runs it, and ``jupyter-book build``
(``execute_notebooks: cache``) shows the outputs of that run. These tests run pytest
with the repository's conftest.py on tiny notebooks in a scratch directory and check
what lands in the jupyter-cache: the outputs, the widget state that the built book
turns into a text progress record, and nothing for a notebook with a failing cell.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.cells = [nbformat.v4.new_markdown_cell("# A tiny chapter")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    return nb


GOOD = _notebook(
    "from tqdm.auto import tqdm\nfor _ in tqdm(range(3), desc='training'):\n    pass",
    "print('hello from the kernel')",
    "6 * 7",
)
FAILING = _notebook("print('before')", "raise RuntimeError('a broken chapter')")
EXERCISE = _notebook("print('an exercise, not a chapter')")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """pytest over book/good.ipynb, book/failing.ipynb and exercises/other.ipynb, with
    two xdist workers (the staging path), in a scratch copy holding only conftest.py."""
    root = tmp_path_factory.mktemp("book_cache")
    shutil.copy(ROOT / "conftest.py", root / "conftest.py")
    (root / "pytest.ini").write_text("[pytest]\n")
    for relative, nb in [("book/good.ipynb", GOOD), ("book/failing.ipynb", FAILING), ("exercises/other.ipynb", EXERCISE)]:
        (root / relative).parent.mkdir(exist_ok=True)
        nbformat.write(nb, root / relative)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
         "-n", "2", "--dist", "loadfile", "book", "exercises"],
        cwd=root, capture_output=True, text=True, timeout=300,
    )
    return root, result


def _cached(root: Path, relative: str):
    from jupyter_cache import get_cache

    cache = get_cache(root / "_build" / ".jupyter_cache")
    return cache.merge_match_into_notebook(nbformat.read(root / relative, as_version=4))[1]


def test_the_run_fails_only_on_the_broken_notebook(run):
    root, result = run
    assert "1 failed" in result.stdout and "a broken chapter" in result.stdout, result.stdout[-3000:]
    assert "notebook durations" in result.stdout


def test_a_passing_chapter_is_cached_with_its_outputs(run):
    root, _ = run
    nb = _cached(root, "book/good.ipynb")
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == [1, 2, 3]
    assert code[1].outputs[0].output_type == "stream" and code[1].outputs[0].text == "hello from the kernel\n"
    assert code[2].outputs[0].output_type == "execute_result" and code[2].outputs[0].data["text/plain"] == "42"
    views = [out for out in code[0].outputs if "application/vnd.jupyter.widget-view+json" in out.get("data", {})]
    assert len(views) == 1, code[0].outputs
    # the staging directory is emptied once the cache holds the notebook
    assert not list((root / "_build" / ".nbval_executed").rglob("*.ipynb"))


def test_the_widget_state_gives_the_books_progress_record(run):
    """The final state of the tqdm bar is kept, so the built book shows it as text."""
    sys.path.insert(0, str(ROOT / "_ext"))
    try:
        from offline_outputs import progress_record
    finally:
        sys.path.remove(str(ROOT / "_ext"))
    root, _ = run
    nb = _cached(root, "book/good.ipynb")
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    view = next(out for out in nb.cells[1].outputs if "application/vnd.jupyter.widget-view+json" in out.get("data", {}))
    model = state[view.data["application/vnd.jupyter.widget-view+json"]["model_id"]]
    record = progress_record(model, state)
    assert record is not None and record.startswith("training: 100%") and "3/3" in record, record


def test_failing_and_non_book_notebooks_are_not_cached(run):
    root, _ = run
    for relative in ("book/failing.ipynb", "exercises/other.ipynb"):
        with pytest.raises(KeyError):
            _cached(root, relative)
