"""Exercise checkers, one module per chapter.

In a notebook::

    from course_vae.checks import warmup as check
    check.squared_error(squared_error)

From a shell, to check every exercise of a notebook you have been working on::

    python -m course_vae.checks exercises/00_warmup.ipynb

The checks module of a notebook ``NN_topic.ipynb`` is ``course_vae.checks.topic``; it
maps the name of each function the student writes to its checker in ``EXERCISES``, in
exercise order. How checkers probe a function, and the dtype policy they share, are
described in :mod:`course_vae.checks.core`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from .core import CheckFailed
from .notebook import definitions

__all__ = ["CheckFailed", "definitions", "module_for", "run_notebook"]


def module_for(notebook: str | Path) -> ModuleType:
    """The checks module of a chapter notebook, e.g. ``01_autoencoders.ipynb`` -> ``autoencoders``."""
    stem = Path(notebook).stem
    number, _, topic = stem.partition("_")
    if not (number.isdigit() and topic):
        raise ValueError(f"chapter notebooks are named NN_topic.ipynb, got {Path(notebook).name!r}")
    try:
        return importlib.import_module(f"{__name__}.{topic}")
    except ModuleNotFoundError as err:
        raise ValueError(f"there are no checks for {Path(notebook).name!r} (no module {__name__}.{topic})") from err


def run_notebook(notebook: str | Path, report: Callable[[str, str | None], None] | None = None) -> dict[str, str | None]:
    """Check every exercise function a notebook defines, in exercise order.

    Returns a map from function name to ``None`` (passed) or the failure message, in
    the order of the chapter's exercises. A checker that stops with any exception (not
    only :class:`CheckFailed`) fails that exercise with the exception's message and the
    other exercises are still checked. ``report(name, message)`` is called after each
    exercise, so a caller can print the results as they come (a passing checker prints
    its own line while it runs).
    """
    module = module_for(notebook)
    namespace = definitions(notebook)
    results: dict[str, str | None] = {}
    exercises: dict[str, Callable] = module.EXERCISES
    for name, checker in exercises.items():
        if not callable(namespace.get(name)):
            results[name] = (
                f"{name}: the notebook defines no function of this name (check its spelling and that its "
                f"cell has no syntax error)"
            )
        else:
            try:
                checker(namespace[name])
                results[name] = None
            except CheckFailed as failure:
                results[name] = str(failure)
            except Exception as err:  # noqa: BLE001 - one exercise's crash must not stop the others
                first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                results[name] = f"{name}: checking it stopped with {type(err).__name__}: {first}"
        if report is not None:
            report(name, results[name])
    return results
