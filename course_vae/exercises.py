"""Generate the exercise notebooks from their solved twins.

``solutions/NN_name.ipynb`` is the single source of ``exercises/NN_name.ipynb``. In a
solution's code cells, the code a student writes sits between marker lines::

    def squared_error(x, x_hat):
        # BEGIN SOLUTION
        # HINT: one value per example: reduce over every dimension but the first.
        return (x - x_hat).pow(2).flatten(1).sum(dim=1)
        # END SOLUTION

and the exercise gets, at the indentation of ``# BEGIN SOLUTION``::

        # HINT: one value per example: reduce over every dimension but the first.
        raise NotImplementedError("Exercise: one value per example: ...")

Cell tags in a solution notebook:

* ``exercise-raises``: the cell runs the student's code (a checker, a training loop,
  anything using its result), so it raises in the exercise; there it gets nbval's
  ``raises-exception`` tag and the notebook still executes in CI.
* ``solution-only``: the cell is left out of the exercise (e.g. a discussion of the answer).

Run ``python -m course_vae.exercises`` from the repository root to write ``exercises/``;
``--check`` only reports stale, missing or orphaned exercise notebooks (exit status 1).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

BEGIN, END, HINT = "# BEGIN SOLUTION", "# END SOLUTION", "# HINT:"
RAISES_IN_EXERCISE, SOLUTION_ONLY, NBVAL_RAISES = "exercise-raises", "solution-only", "raises-exception"
BANNER_ID = "exercise-banner"


class ExerciseFormatError(ValueError):
    """A solution notebook whose markers or tags cannot be turned into an exercise."""


def _stub_lines(block: list[str], indent: str, where: str) -> list[str]:
    hints = [line.strip()[len(HINT) :].strip() for line in block if line.strip().startswith(HINT)]
    if not hints:
        raise ExerciseFormatError(f"{where}: a solution block needs a '{HINT} ...' line for the stub")
    hint = " ".join(hints)
    return [f"{indent}{HINT} {hint}", f"{indent}raise NotImplementedError({('Exercise: ' + hint)!r})"]


def stub_source(source: str, where: str) -> tuple[str, bool]:
    """Replace every solution block of one cell's source by a stub.

    Returns the new source and whether some stub sits at top level (so that running the
    cell raises). Raises :class:`ExerciseFormatError` for unbalanced or misspelt markers.
    """
    out: list[str] = []
    block: list[str] | None = None
    indent = ""
    top_level = False
    for number, line in enumerate(source.split("\n"), start=1):
        stripped = line.strip()
        loc = f"{where}, line {number}"
        if ("BEGIN SOLUTION" in line and stripped != BEGIN) or ("END SOLUTION" in line and stripped != END):
            raise ExerciseFormatError(f"{loc}: write the marker exactly as '{BEGIN}' or '{END}', got {stripped!r}")
        if stripped == BEGIN:
            if block is not None:
                raise ExerciseFormatError(f"{loc}: '{BEGIN}' inside another solution block")
            block, indent = [], line[: len(line) - len(line.lstrip())]
        elif stripped == END:
            if block is None:
                raise ExerciseFormatError(f"{loc}: '{END}' without a matching '{BEGIN}'")
            out.extend(_stub_lines(block, indent, loc))
            top_level = top_level or indent == ""
            block = None
        elif block is not None:
            block.append(line)
        else:
            out.append(line)
    if block is not None:
        raise ExerciseFormatError(f"{where}: '{BEGIN}' without a matching '{END}'")
    return "\n".join(out), top_level


def _banner(solution_name: str) -> nbformat.NotebookNode:
    text = (
        f"> **Exercise notebook.** Each cell that raises `NotImplementedError` is yours: "
        f"replace the `raise` line with your code (the `# HINT:` line above it helps), then "
        f"run the check cell below it. The solved twin is `solutions/{solution_name}`.\n>\n"
        f"> *Generated from `solutions/{solution_name}` by `python -m course_vae.exercises`; "
        f"edit the solution, not this file.*"
    )
    cell = nbformat.v4.new_markdown_cell(text)
    cell["id"] = BANNER_ID
    return cell


def make_exercise(solution: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The exercise notebook for one solution notebook (which is left unchanged).

    Solution blocks become stubs, ``solution-only`` cells are dropped,
    ``exercise-raises`` becomes nbval's ``raises-exception``, outputs are removed and a
    banner goes after the title cell.
    """
    exercise = copy.deepcopy(solution)
    cells = []
    n_blocks = 0
    for index, cell in enumerate(exercise.cells):
        tags = list(cell.get("metadata", {}).get("tags", []))
        if SOLUTION_ONLY in tags:
            continue
        if cell.cell_type == "code":
            where = f"{name}, cell {index}"
            source, top_level = stub_source(cell.source, where)
            n_blocks += source != cell.source
            if top_level and RAISES_IN_EXERCISE not in tags:
                raise ExerciseFormatError(
                    f"{where}: a solution block at top level makes the exercise cell raise; "
                    f"tag the cell '{RAISES_IN_EXERCISE}'"
                )
            cell.source = source
            cell.outputs = []
            cell.execution_count = None
            if RAISES_IN_EXERCISE in tags:
                tags = [t for t in tags if t != RAISES_IN_EXERCISE] + [NBVAL_RAISES]
        if tags:
            cell.metadata["tags"] = tags
        else:
            cell.metadata.pop("tags", None)
        cells.append(cell)
    if n_blocks == 0:
        raise ExerciseFormatError(f"{name}: no '{BEGIN}' block, so there is nothing to exercise")
    at = 1 if cells and cells[0].cell_type == "markdown" else 0
    cells.insert(at, _banner(name))
    exercise.cells = cells
    return exercise


def dumps(nb: nbformat.NotebookNode) -> str:
    """A notebook as the text stored in git (nbformat's layout, final newline)."""
    return nbformat.writes(nb) + "\n"


def generate(solutions_dir: Path, exercises_dir: Path) -> dict[Path, str]:
    """Map each exercise path to its text, for every ``*.ipynb`` in ``solutions_dir``."""
    result = {}
    for path in sorted(Path(solutions_dir).glob("*.ipynb")):
        solution = nbformat.read(path, as_version=4)
        result[Path(exercises_dir) / path.name] = dumps(make_exercise(solution, path.name))
    return result


def stale(solutions_dir: Path, exercises_dir: Path) -> list[str]:
    """Problems that regenerating would fix: missing, outdated or orphaned exercises."""
    expected = generate(solutions_dir, exercises_dir)
    problems = []
    for path, text in expected.items():
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path}: out of date with {Path(solutions_dir) / path.name}")
    for path in sorted(Path(exercises_dir).glob("*.ipynb")):
        if path not in expected:
            problems.append(f"{path}: has no solution notebook {Path(solutions_dir) / path.name}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_vae.exercises", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    parser.add_argument("--check", action="store_true", help="only report stale exercises; exit 1 if any")
    args = parser.parse_args(argv)
    solutions, exercises = args.root / "solutions", args.root / "exercises"
    if not solutions.is_dir():
        parser.error(f"no solutions/ folder under {args.root.resolve()}; run from the repository root or pass --root")
    if args.check:
        problems = stale(solutions, exercises)
        for problem in problems:
            print(problem)
        if problems:
            print("run `python -m course_vae.exercises` to regenerate exercises/")
        return 1 if problems else 0
    exercises.mkdir(exist_ok=True)
    for path, text in generate(solutions, exercises).items():
        changed = not path.exists() or path.read_text(encoding="utf-8") != text
        path.write_text(text, encoding="utf-8")
        print(f"{'wrote' if changed else 'unchanged'} {path}")
    for path in sorted(exercises.glob("*.ipynb")):
        if not (solutions / path.name).exists():
            print(f"warning: {path} has no solution notebook; delete it if it is obsolete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
