from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_vae import History, TrainingDiverged, evaluate, fit


def _regression_data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(n, 1, generator=g)
    return x, y


def _mse(model, batch):
    x, y = batch
    err = (model(x) - y).pow(2).sum(dim=1)
    return {"loss": err.mean(), "max_err": err.max()}


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(3, 1)


def test_fit_learns_and_records_every_term_per_epoch():
    x, y = _regression_data()
    xv, yv = _regression_data(64, seed=1)
    model = _model()
    before = evaluate(model, _mse, (xv, yv))["loss"]
    history = fit(model, _mse, (x, y), epochs=20, batch_size=32, lr=0.05, seed=0, val_data=(xv, yv), progress=False)
    assert isinstance(history, History) and history.epochs == 20
    assert set(history.train) == set(history.val) == {"loss", "max_err"}
    assert all(len(v) == 20 for v in [*history.train.values(), *history.val.values()])
    assert history.train["loss"][-1] < 0.1 * history.train["loss"][0]
    assert history.val["loss"][-1] < 0.05 * before
    assert history.val["loss"][-1] == pytest.approx(evaluate(model, _mse, (xv, yv), batch_size=32)["loss"])
    assert all(b > a for a, b in zip(history.seconds, history.seconds[1:]))
    assert history.last("val") == {k: v[-1] for k, v in history.val.items()}


def test_epoch_average_weights_batches_by_size():
    # 10 examples, batch 4: batches of 4, 4, 2. A loss equal to the batch size would
    # average to (4*4 + 4*4 + 2*2) / 10 = 3.6 with size weights, 10/3 without.
    data = torch.zeros(10, 1)
    model = nn.Linear(1, 1)

    def loss_fn(model, batch):
        return {"loss": model(batch).sum() * 0, "size": torch.tensor(float(len(batch)))}

    history = fit(model, loss_fn, data, epochs=1, batch_size=4, lr=1e-3, seed=0, progress=False)
    assert history.train["size"] == [pytest.approx(3.6)]


def test_fit_is_deterministic_including_sampling_inside_the_loss():
    x, y = _regression_data()

    def noisy(model, batch):
        x, y = batch
        noise = torch.randn_like(y)  # global RNG, as a reparameterized sample would use
        return {"loss": (model(x) + noise - y).pow(2).mean()}

    runs = []
    for _ in range(2):
        model = _model()
        history = fit(model, noisy, (x, y), epochs=3, batch_size=16, lr=0.01, seed=3, progress=False)
        runs.append((history.train["loss"], model.weight.detach().clone()))
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])
    other = fit(_model(), noisy, (x, y), epochs=3, batch_size=16, lr=0.01, seed=4, progress=False)
    assert other.train["loss"] != runs[0][0]


def test_fit_stops_on_nan_and_says_where():
    x, y = _regression_data(64)
    calls = {"n": 0}

    def breaks_at_step_11(model, batch):
        calls["n"] += 1
        terms = _mse(model, batch)
        if calls["n"] == 11:  # 8 steps per epoch: epoch 2, step 3
            terms["loss"] = terms["loss"] * float("nan")
        return terms

    model = _model()
    with pytest.raises(TrainingDiverged) as err:
        fit(model, breaks_at_step_11, (x, y), epochs=5, batch_size=8, lr=0.01, seed=0, progress=False)
    message = str(err.value)
    assert "became nan at epoch 2, step 3 of 8" in message
    assert "last finite loss was" in message and "epoch 2, step 2" in message
    assert "max_err=" in message
    assert torch.isfinite(model.weight).all()  # the step with the NaN loss was not taken


def test_fit_stops_when_training_really_diverges():
    x, y = _regression_data(64)
    with pytest.raises(TrainingDiverged, match=r"became (nan|inf) at epoch \d+, step \d+ of 2"):
        fit(_model(), lambda m, b: {"loss": torch.exp(m(b[0]) * 1e3).mean()}, (x, y),
            epochs=50, batch_size=32, lr=1.0, seed=0, progress=False)


def test_evaluate_reports_a_nan_and_restores_the_training_mode():
    model = nn.Sequential(nn.Linear(3, 1), nn.Dropout(0.5))
    model.train()
    x, y = _regression_data(10)
    with pytest.raises(TrainingDiverged, match="evaluation loss is nan on batch 1"):
        evaluate(model, lambda m, b: {"loss": torch.tensor(math.nan)}, (x, y))
    assert model.training
    model.eval()
    evaluate(model, _mse, (x, y))
    assert not model.training


@pytest.mark.parametrize(
    "loss_fn, match",
    [(lambda m, b: (m(b[0]) - b[1]).pow(2).mean(), "must return a dict"),
     (lambda m, b: {"mse": (m(b[0]) - b[1]).pow(2).mean()}, "'loss' key"),
     (lambda m, b: {"loss": (m(b[0]) - b[1]).pow(2).sum(1)}, "must be a scalar")],
)
def test_fit_explains_a_malformed_loss_function(loss_fn, match):
    x, y = _regression_data(16)
    with pytest.raises(ValueError, match=match):
        fit(_model(), loss_fn, (x, y), epochs=1, batch_size=8, lr=0.01, seed=0, progress=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"epochs": 0}, "epochs must be a positive integer"),
     ({"epochs": 2.0}, "epochs must be a positive integer"),
     ({"batch_size": -8}, "batch_size must be a positive integer"),
     ({"lr": float("nan")}, "lr must be a positive finite number"),
     ({"lr": 0}, "lr must be a positive finite number"),
     ({"train_data": (torch.zeros(4, 3), torch.zeros(5, 1))}, "share a non-empty first"),
     ({"train_data": [1, 2, 3]}, "must be a tensor or a tuple of tensors"),
     ({"train_data": torch.zeros(0, 3)}, "at least one example"),
     ({"val_data": "test"}, "val_data must be a tensor")],
)
def test_fit_rejects_bad_arguments(kwargs, match):
    x, y = _regression_data(16)
    args = dict(train_data=(x, y), epochs=1, batch_size=8, lr=0.01, seed=0, progress=False) | kwargs
    train_data = args.pop("train_data")
    with pytest.raises(ValueError, match=match):
        fit(_model(), _mse, train_data, **args)


def test_fit_accepts_a_plain_tensor_and_shows_progress(capsys):
    x = torch.randn(20, 3)
    model = nn.Linear(3, 3)
    history = fit(model, lambda m, b: {"loss": (m(b) - b).pow(2).sum(1).mean()}, x,
                  epochs=2, batch_size=8, lr=0.01, seed=0)
    assert history.epochs == 2
    assert "training" in capsys.readouterr().err  # the tqdm bar writes to stderr


def test_history_plot_draws_train_and_validation_curves():
    import matplotlib.pyplot as plt

    history = History()
    for epoch in range(3):
        history.append("train", {"loss": 3.0 - epoch, "kl": 1.0})
        history.append("val", {"loss": 3.5 - epoch, "kl": 1.1})
        history.seconds.append(float(epoch))
    _, ax = plt.subplots()
    assert history.plot(ax=ax) is ax
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["train loss", "validation loss", "train kl", "validation kl"]
    assert list(ax.get_lines()[1].get_ydata()) == [3.5, 2.5, 1.5]
    assert ax.get_xlabel() == "epoch"
    assert history.plot(terms=["kl"]) is not ax
    with pytest.raises(ValueError, match="unknown terms"):
        history.plot(terms=["recon"])
    with pytest.raises(ValueError, match="split must be one of"):
        history.append("validation", {"loss": 1.0})
    assert "3 epochs" in repr(history) and "kl=1.1" in repr(history)


def test_cosine_schedule_decays_the_learning_rate_to_zero():
    # loss = w has gradient 1 at every step, and Adam then moves w by exactly the current
    # learning rate, so the recorded values of w reveal the schedule.
    model = nn.Linear(1, 1, bias=False)
    seen = []

    def loss_fn(model, batch):
        seen.append(model.weight.item())
        return {"loss": model.weight.sum()}

    fit(model, loss_fn, torch.zeros(64, 1), epochs=4, batch_size=16, lr=0.1, seed=0, progress=False, schedule="cosine")
    steps = [a - b for a, b in zip(seen, seen[1:])]  # the first 15 learning rates
    expected = [0.1 * (1 + math.cos(math.pi * t / 16)) / 2 for t in range(15)]
    assert steps == pytest.approx(expected, rel=1e-5)
    constant = nn.Linear(1, 1, bias=False)
    seen.clear()
    fit(constant, loss_fn, torch.zeros(64, 1), epochs=1, batch_size=16, lr=0.1, seed=0, progress=False)
    assert [a - b for a, b in zip(seen, seen[1:])] == pytest.approx([0.1] * 3, rel=1e-5)
    with pytest.raises(ValueError, match="schedule must be one of"):
        fit(model, loss_fn, torch.zeros(4, 1), epochs=1, batch_size=2, lr=0.1, seed=0, progress=False, schedule="linear")


def test_a_loss_with_a_step_parameter_is_told_the_global_step():
    # 10 examples, batch 4: 3 steps per epoch, 2 epochs, T = 6; validation never passes a step.
    model = nn.Linear(1, 1)
    seen = []

    def loss_fn(model, batch, step=None, total_steps=None):
        seen.append((step, total_steps))
        beta = 1.0 if step is None else step / total_steps
        return {"loss": model(batch).pow(2).mean(), "beta": torch.tensor(beta)}

    history = fit(model, loss_fn, torch.ones(10, 1), epochs=2, batch_size=4, lr=1e-3, seed=0,
                  val_data=torch.ones(5, 1), progress=False)
    assert seen == [(0, 6), (1, 6), (2, 6), (None, None), (None, None),
                    (3, 6), (4, 6), (5, 6), (None, None), (None, None)]
    # per-epoch averages weighted by batch size: (4*0 + 4*1 + 2*2) / 10 / 6, then (4*3 + 4*4 + 2*5) / 10 / 6
    assert history.train["beta"] == pytest.approx([0.8 / 6, 3.8 / 6])
    assert history.val["beta"] == [1.0, 1.0]


def test_step_can_follow_kl_weight_and_plain_losses_are_unchanged():
    from course_vae import kl_weight

    model = nn.Linear(1, 1)
    betas = []

    def scheduled(model, batch, step=None, total_steps=None, **kwargs):
        beta = 1.0 if step is None else kl_weight(step, total_steps, kind="cyclical", cycles=2, ratio=0.5)
        betas.append(beta)
        return {"loss": model(batch).pow(2).mean()}

    fit(model, scheduled, torch.ones(8, 1), epochs=2, batch_size=2, lr=1e-3, seed=0, progress=False)
    assert betas == [0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 1.0, 1.0]
    # train_epoch on its own: the steps of this epoch, from the offset
    from course_vae import train_epoch

    seen = []

    def recorder(model, batch, step, total_steps):
        seen.append((step, total_steps))
        return {"loss": model(batch).sum()}

    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    train_epoch(model, recorder, torch.ones(4, 1), opt, 2, torch.Generator().manual_seed(0), step_offset=5)
    assert seen == [(5, 7), (6, 7)]
    plain = _model()
    terms = train_epoch(plain, _mse, (torch.ones(4, 3), torch.ones(4, 1)), torch.optim.SGD(plain.parameters(), lr=0.0),
                        2, torch.Generator().manual_seed(0))
    assert set(terms) == {"loss", "max_err"}


def test_a_loss_with_step_but_no_total_steps_is_explained():
    def loss_fn(model, batch, step=None):
        return {"loss": model(batch).sum()}

    with pytest.raises(ValueError, match="add a total_steps parameter"):
        fit(nn.Linear(1, 1), loss_fn, torch.ones(4, 1), epochs=1, batch_size=2, lr=0.1, seed=0, progress=False)
