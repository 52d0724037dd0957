"""Load the functions a notebook defines, without running its experiments."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat

DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _only_definitions(source: str) -> bool:
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics such as %pip
        return False
    body = [node for node in tree.body if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
    return bool(body) and all(isinstance(node, DEFINITIONS) for node in body)


def definitions(path: str | Path) -> dict[str, object]:
    """Run the code cells of a notebook that hold only imports, functions and classes.

    Returns the resulting namespace, so ``definitions("exercises/00_warmup.ipynb")
    ["squared_error"]`` is the student's function. Cells that train, plot or check are
    not run.
    """
    notebook = nbformat.read(Path(path), as_version=4)
    namespace: dict[str, object] = {"__name__": "__notebook__"}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and _only_definitions(cell.source):
            code = compile(cell.source, f"{path} (cell {index})", "exec")
            exec(code, namespace)  # noqa: S102 - running the notebook's own definitions is the point
    return namespace
