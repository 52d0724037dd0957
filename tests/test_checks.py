"""Every checker accepts its solution notebook's code and rejects its exercise stub,
and every checker has a catalogue of known-wrong implementations in
``tests/test_checks_<topic>.py`` (at least three per exercise)."""

from __future__ import annotations

import importlib

import pytest

from course_vae.checks import __main__ as checks_cli
from course_vae.checks import definitions, module_for, run_notebook

from .checker_harness import assert_rejects
from .conftest import ROOT

SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
CASES = [(path, name) for path in SOLUTIONS for name in module_for(path).EXERCISES]


def test_there_is_at_least_one_exercise():
    assert CASES


@pytest.mark.parametrize("path, name", CASES, ids=[f"{p.stem}:{n}" for p, n in CASES])
def test_checker_accepts_the_solution_and_rejects_the_stub(path, name, capsys):
    checker = module_for(path).EXERCISES[name]
    checker(definitions(path)[name])
    assert capsys.readouterr().out.startswith(f"✓ {name}")
    stub = definitions(ROOT / "exercises" / path.name)[name]
    assert_rejects(checker, stub, ["not implemented yet"])


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_every_exercise_has_a_catalogue_of_mistakes(path):
    topic = module_for(path).__name__.rsplit(".", 1)[1]
    catalogue = importlib.import_module(f"tests.test_checks_{topic}").MISTAKES
    for name in module_for(path).EXERCISES:
        assert len(catalogue.get(name, [])) >= 3, f"{name} needs at least three known mistakes"


def test_cli_passes_solutions_and_fails_exercises(capsys):
    solution, exercise = str(ROOT / "solutions" / "00_warmup.ipynb"), str(ROOT / "exercises" / "00_warmup.ipynb")
    assert checks_cli.main([solution]) == 0
    assert "all exercises pass" in capsys.readouterr().out
    assert checks_cli.main([exercise]) == 1
    assert "not implemented yet" in capsys.readouterr().out
    assert run_notebook(solution) == {"squared_error": None}


def _chapter1_notebook(tmp_path, sparsity_source):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import torch\nfrom course_vae import does_not_exist"),  # a broken import
        nbformat.v4.new_code_cell(sparsity_source),
        nbformat.v4.new_code_cell(
            "def contractive_penalty(encoder, x):\n"
            "    import course_vae\n"
            "    return course_vae.contractive_penalty(encoder, x)"
        ),
    ]
    path = tmp_path / "01_autoencoders.ipynb"
    nbformat.write(nb, path)
    return path


def test_cli_reports_in_exercise_order(tmp_path, capsys):
    path = _chapter1_notebook(tmp_path, "def sparsity_kl(a, rho):\n    return a.abs().sum()")
    assert checks_cli.main([str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    first, second = lines[0], lines[1]
    assert first.startswith("✗ sparsity_kl") and "L1 activity penalty" in first
    assert second.startswith("✓ contractive_penalty")
    assert lines[-1] == "1 exercise(s) failed"


def test_cli_goes_on_after_a_checker_crash(tmp_path, capsys, monkeypatch):
    from course_vae.checks import autoencoders

    def crashing_checker(fn):
        raise RuntimeError("boom")

    monkeypatch.setitem(autoencoders.EXERCISES, "sparsity_kl", crashing_checker)
    path = _chapter1_notebook(tmp_path, "def sparsity_kl(a, rho):\n    return a.mean()")
    assert checks_cli.main([str(path), str(tmp_path / "not_a_chapter.ipynb")]) == 1
    out = capsys.readouterr().out
    assert "✗ sparsity_kl: checking it stopped with RuntimeError: boom" in out
    assert out.index("✗ sparsity_kl") < out.index("✓ contractive_penalty")
    assert "not_a_chapter.ipynb" in out and "2 exercise(s) failed" in out


def test_run_notebook_reports_every_exercise_in_order(tmp_path):
    path = _chapter1_notebook(tmp_path, "def sparsity_kl(a, rho):\n    raise ValueError('half done')")
    seen = []
    results = run_notebook(path, report=lambda name, failure: seen.append(name))
    assert list(results) == seen == ["sparsity_kl", "contractive_penalty"]
    assert "raised ValueError: half done" in results["sparsity_kl"] and results["contractive_penalty"] is None


def test_module_for_rejects_names_without_checks():
    with pytest.raises(ValueError, match="NN_topic"):
        module_for("warmup.ipynb")
    with pytest.raises(ValueError, match="no checks"):
        module_for("99_nothing.ipynb")


def test_definitions_takes_imports_and_functions_from_mixed_cells(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell('import sys\nif "google.colab" in sys.modules:\n    %pip install nothing'),
        nbformat.v4.new_code_cell("import math\nprint('running an experiment')\nvalue = 1 / 0"),
        nbformat.v4.new_code_cell("def area(r):\n    return math.pi * r**2\n\narea(2)"),
        nbformat.v4.new_code_cell("this is not python"),
    ]
    path = tmp_path / "01_demo.ipynb"
    nbformat.write(nb, path)
    namespace = definitions(path)
    assert namespace["area"](1.0) == pytest.approx(3.14159, rel=1e-5)
    assert "value" not in namespace and "sys" in namespace
