"""The exercise generator: stubs, tags, errors, and that exercises/ is up to date."""

from __future__ import annotations

import nbformat
import pytest

from course_vae import exercises
from course_vae.exercises import ExerciseFormatError, make_exercise, stub_source

from .conftest import ROOT

SOLVED = '''def f(x):
    """Doc."""
    # BEGIN SOLUTION
    # HINT: double it.
    y = 2 * x
    return y
    # END SOLUTION'''


def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return nb


def _code(source, tags=()):
    cell = nbformat.v4.new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    cell.outputs = [nbformat.v4.new_output("stream", text="stale output")]
    cell.execution_count = 3
    return cell


def test_stub_keeps_indentation_and_hint_and_drops_the_solution():
    source, top_level = stub_source(SOLVED, "nb")
    assert source == (
        'def f(x):\n    """Doc."""\n    # HINT: double it.\n'
        "    raise NotImplementedError('Exercise: double it.')"
    )
    assert not top_level
    namespace = {}
    exec(source, namespace)
    with pytest.raises(NotImplementedError, match="double it"):
        namespace["f"](1)


def test_top_level_block_is_reported():
    _, top_level = stub_source("x = 1\n# BEGIN SOLUTION\n# HINT: h\ny = x\n# END SOLUTION\nprint(y)", "nb")
    assert top_level


@pytest.mark.parametrize(
    "source, match",
    [("# BEGIN SOLUTION\n# HINT: h\nx = 1", "without a matching '# END SOLUTION'"),
     ("x = 1\n# END SOLUTION", "without a matching '# BEGIN SOLUTION'"),
     ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "inside another"),
     ("# BEGIN SOLUTION\nx = 1\n# END SOLUTION", "needs a '# HINT: ...' line"),
     ("### BEGIN SOLUTION\n# HINT: h\n# END SOLUTION", "exactly"),
     ("# BEGIN SOLUTION:\n# HINT: h\n# END SOLUTION", "exactly")],
)
def test_malformed_markers_are_errors_with_a_location(source, match):
    with pytest.raises(ExerciseFormatError, match=match) as err:
        stub_source(source, "demo.ipynb, cell 4")
    assert "demo.ipynb, cell 4" in str(err.value)


def test_make_exercise_converts_tags_strips_outputs_and_adds_a_banner():
    solution = _notebook(
        nbformat.v4.new_markdown_cell("# Title"),
        _code(SOLVED),
        _code("check(f)", tags=["exercise-raises"]),
        nbformat.v4.new_markdown_cell("The answer doubles x."),
        _code("print('discussion')", tags=["solution-only", "other"]),
        _code("print(2)", tags=["keep-me"]),
    )
    solution.cells[3].metadata["tags"] = ["solution-only"]
    before = nbformat.writes(solution)
    exercise = make_exercise(solution, "01_demo.ipynb")
    assert nbformat.writes(solution) == before  # the solution is not modified
    nbformat.validate(exercise)
    sources = [c.source for c in exercise.cells]
    assert sources[0] == "# Title" and "Exercise notebook" in sources[1] and "solutions/01_demo.ipynb" in sources[1]
    assert "raise NotImplementedError" in sources[2] and "2 * x" not in sources[2]
    assert exercise.cells[3].metadata["tags"] == ["raises-exception"]
    assert "The answer doubles x." not in sources and "print('discussion')" not in sources
    assert exercise.cells[-1].metadata["tags"] == ["keep-me"]
    for cell in exercise.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_make_exercise_demands_a_tag_where_the_stub_raises_at_top_level():
    solution = _notebook(_code("# BEGIN SOLUTION\n# HINT: h\nz = 1\n# END SOLUTION"))
    with pytest.raises(ExerciseFormatError, match="tag the cell 'exercise-raises'"):
        make_exercise(solution, "x.ipynb")
    solution.cells[0].metadata["tags"] = ["exercise-raises"]
    assert make_exercise(solution, "x.ipynb").cells[1].metadata["tags"] == ["raises-exception"]


def test_a_solution_without_blocks_is_an_error():
    with pytest.raises(ExerciseFormatError, match="nothing to exercise"):
        make_exercise(_notebook(_code("x = 1")), "x.ipynb")


def test_exercises_folder_is_generated_from_solutions():
    problems = exercises.stale(ROOT / "solutions", ROOT / "exercises")
    assert problems == [], "exercises/ is stale; run `python -m course_vae.exercises`:\n" + "\n".join(problems)


def test_every_solution_has_an_exercise_and_the_cli_reports_staleness(tmp_path, capsys):
    (tmp_path / "solutions").mkdir()
    nb = _notebook(_code(SOLVED))
    (tmp_path / "solutions" / "01_demo.ipynb").write_text(exercises.dumps(nb))
    assert exercises.main(["--root", str(tmp_path), "--check"]) == 1
    assert "01_demo.ipynb: missing" in capsys.readouterr().out
    assert exercises.main(["--root", str(tmp_path)]) == 0
    assert exercises.main(["--root", str(tmp_path), "--check"]) == 0
    capsys.readouterr()
    (tmp_path / "exercises" / "02_orphan.ipynb").write_text(exercises.dumps(nb))
    nb.cells[0].source = SOLVED.replace("2 * x", "3 * x")  # inside the block: the exercise is unchanged
    (tmp_path / "solutions" / "01_demo.ipynb").write_text(exercises.dumps(nb))
    assert exercises.main(["--root", str(tmp_path), "--check"]) == 1  # only the orphan
    assert "01_demo.ipynb:" not in capsys.readouterr().out
    nb.cells[0].source = SOLVED.replace('"""Doc."""', '"""New doc."""')
    (tmp_path / "solutions" / "01_demo.ipynb").write_text(exercises.dumps(nb))
    assert exercises.main(["--root", str(tmp_path), "--check"]) == 1
    out = capsys.readouterr().out
    assert "01_demo.ipynb: out of date" in out and "02_orphan.ipynb: has no solution notebook" in out
