"""fit / train_epoch with named parameter groups, one optimizer and one loss each (chapter 9)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_vae import TrainingDiverged, evaluate, fit, train_epoch
from course_vae.training import DivergenceGuard, check_groups


class _Two(nn.Module):
    """Two linear maps; "a" is trained on its own loss, "b" on another."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = nn.Linear(2, 1), nn.Linear(2, 1)

    def parameter_groups(self):
        return {"a": list(self.a.parameters()), "b": list(self.b.parameters())}


def _adversarial(model, x):
    # each loss depends on BOTH maps: a leak would move the other group's parameters
    out = model.a(x) * model.b(x)
    return {"a": out.pow(2).mean(), "b": -out.mean(), "product": out.mean()}


def test_each_group_follows_only_its_own_loss():
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    model = _Two()
    start = {k: [p.detach().clone() for p in ps] for k, ps in model.parameter_groups().items()}
    opts = {k: torch.optim.SGD(ps, lr=0.1) for k, ps in model.parameter_groups().items()}
    train_epoch(model, _adversarial, x, opts, 16, torch.Generator().manual_seed(0), groups=model.parameter_groups())
    # the expected SGD steps, each from the gradient of its own loss at the starting parameters
    ref = _Two()
    terms = _adversarial(ref, x)
    for name, params in ref.parameter_groups().items():
        grads = torch.autograd.grad(terms[name], params, retain_graph=True)
        for p, g, q in zip(model.parameter_groups()[name], grads, start[name]):
            assert torch.allclose(p, q - 0.1 * g, atol=1e-7)


def test_a_zero_loss_leaves_its_group_unchanged():
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    model = _Two()
    b0 = [p.detach().clone() for p in model.b.parameters()]
    fit(model, lambda m, xb: {**_adversarial(m, xb), "b": torch.zeros(())}, x, epochs=2, batch_size=4, lr=0.1, seed=0,
        progress=False, groups=model.parameter_groups())
    assert all(torch.equal(p, q) for p, q in zip(model.b.parameters(), b0))


def test_fit_accepts_one_rate_per_group_and_records_terms():
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(0))
    model = _Two()
    history = fit(model, _adversarial, x, epochs=3, batch_size=8, lr={"a": 1e-2, "b": 1e-3}, seed=0, progress=False,
                  groups=model.parameter_groups(), schedule="cosine", val_data=x[:8])
    assert set(history.train) == {"a", "b", "product"} and len(history.val["a"]) == 3


def test_bad_groups_and_rates_are_refused_by_name():
    model, x = _Two(), torch.randn(8, 2)
    with pytest.raises(ValueError, match="both group 'a' and group 'b'"):
        check_groups({"a": list(model.a.parameters()), "b": list(model.parameters())})
    with pytest.raises(ValueError, match="group 'b' must be a non-empty"):
        check_groups({"a": list(model.a.parameters()), "b": []})
    with pytest.raises(ValueError, match="non-empty dict"):
        check_groups([1, 2])
    with pytest.raises(ValueError, match="one rate per group"):
        fit(model, _adversarial, x, epochs=1, batch_size=4, lr={"a": 1e-3}, seed=0, progress=False,
            groups=model.parameter_groups())
    with pytest.raises(ValueError, match=r"keys \['a', 'b'\]"):
        fit(model, lambda m, xb: {"loss": _adversarial(m, xb)["a"]}, x, epochs=1, batch_size=4, lr=1e-3, seed=0,
            progress=False, groups=model.parameter_groups())
    with pytest.raises(ValueError, match="one optimizer per group"):
        train_epoch(model, _adversarial, x, torch.optim.SGD(model.parameters(), lr=0.1), 4, torch.Generator(),
                    groups=model.parameter_groups())
    with pytest.raises(ValueError, match="pass the matching groups"):
        train_epoch(model, _adversarial, x, {"a": torch.optim.SGD(model.a.parameters(), lr=0.1)}, 4, torch.Generator())
    with pytest.raises(ValueError, match="betas"):
        fit(model, _adversarial, x, epochs=1, batch_size=4, lr=1e-3, seed=0, progress=False,
            groups=model.parameter_groups(), betas=(0.5,))


def test_the_nan_stop_names_the_group_and_its_last_finite_loss():
    calls = {"n": 0}

    def later_nan(model, xb):
        terms = _adversarial(model, xb)
        calls["n"] += 1
        if calls["n"] == 3:
            terms["b"] = terms["b"] * float("nan")
        return terms

    model = _Two()
    with pytest.raises(TrainingDiverged, match=r"group 'b' became nan at epoch 1, step 3 of 4; the last finite loss"):
        fit(model, later_nan, torch.randn(16, 2), epochs=1, batch_size=4, lr=1e-3, seed=0, progress=False,
            groups=model.parameter_groups())
    guard = DivergenceGuard()
    guard.check({"loss": 1.0}, 1, 1, 2)
    with pytest.raises(TrainingDiverged, match="^training loss became inf"):
        guard.check({"loss": float("inf")}, 1, 2, 2)


def test_evaluate_checks_every_group_loss():
    model = _Two()
    with pytest.raises(TrainingDiverged, match="evaluation loss of group 'a'"):
        evaluate(model, lambda m, xb: {"a": torch.tensor(float("nan")), "b": torch.tensor(0.0)}, torch.randn(4, 2),
                 keys=("a", "b"))


def test_progress_bar_shows_every_group(capsys):
    model = _Two()
    fit(model, _adversarial, torch.randn(16, 2), epochs=1, batch_size=4, lr=1e-3, seed=0, progress=True,
        groups=model.parameter_groups())
    err = capsys.readouterr().err
    assert "train a=" in err and "train b=" in err
