"""The package's public names: every import in ``course_vae/__init__.py`` is exported once."""

import ast
from pathlib import Path

import course_vae

INIT = Path(course_vae.__file__)


def _imported_and_exported() -> tuple[list[str], list[str]]:
    tree = ast.parse(INIT.read_text())
    imported = [alias.asname or alias.name for node in tree.body if isinstance(node, ast.ImportFrom)
                for alias in node.names]
    exported = [elt.value for node in tree.body if isinstance(node, ast.Assign)
                and any(getattr(t, "id", None) == "__all__" for t in node.targets) for elt in node.value.elts]
    return imported, exported


def test_no_name_is_imported_or_exported_twice():
    imported, exported = _imported_and_exported()
    assert sorted({n for n in imported if imported.count(n) > 1}) == []
    assert sorted({n for n in exported if exported.count(n) > 1}) == []


def test_every_imported_name_is_exported_and_exists():
    imported, exported = _imported_and_exported()
    assert sorted(set(imported) - set(exported)) == []
    assert sorted(set(exported) - set(imported)) == []
    assert all(hasattr(course_vae, name) for name in exported)
