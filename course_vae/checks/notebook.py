"""Load the functions a notebook defines, without running its experiments."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat

DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _python_source(source: str) -> str:
    """Turn IPython syntax (``%pip``, ``!ls``) into plain Python, when IPython is available."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return source
    return TransformerManager().transform_cell(source)


def definitions(path: str | Path) -> dict[str, object]:
    """Run the imports, functions and classes of a notebook, and nothing else.

    Every code cell is parsed; its top-level ``import`` statements and its ``def`` and
    ``class`` blocks are executed in cell order, while other statements (training,
    plotting, checks) are skipped. So ``definitions("exercises/00_warmup.ipynb")
    ["squared_error"]`` is the student's function, even if its cell also runs code.
    A statement that fails (an import of a missing name, a decorator that raises) is
    skipped, so one broken cell does not hide the other exercises.
    """
    notebook = nbformat.read(Path(path), as_version=4)
    namespace: dict[str, object] = {"__name__": "__notebook__"}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(_python_source(cell.source))
        except SyntaxError:
            continue  # a cell that does not parse defines nothing we can use
        for node in tree.body:
            if not isinstance(node, DEFINITIONS):
                continue
            code = compile(ast.Module(body=[node], type_ignores=[]), f"{path} (cell {index})", "exec")
            try:
                exec(code, namespace)  # noqa: S102 - running the notebook's own definitions is the point
            except Exception:  # noqa: BLE001 - e.g. a failing import: the checks then report what is missing
                continue
    return namespace
