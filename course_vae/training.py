"""Minibatch training: ``train_epoch``, ``evaluate`` and ``fit``.

A loss function has the signature ``loss_fn(model, batch) -> dict`` and returns named
scalar tensors averaged over the batch, one of them called ``"loss"`` (the quantity to
minimize, e.g. the negative ELBO); the others (``"recon"``, ``"kl"``, ...) are tracked
so their curves can be shown apart. A loss function that also has parameters ``step``
and ``total_steps`` is told the training step, so it can follow a schedule such as a KL
warm-up (chapter 6). Data stay in memory as tensors. Taught in chapter 3 (the AEVB
algorithm) and used by every chapter that trains.

A model made of several networks trained against each other (the VAE-GAN of chapter 9)
passes ``groups``: named, disjoint lists of parameters, one optimizer each. Its loss
function returns one scalar per group name (instead of ``"loss"``), and each group's
gradient is that of its own loss with respect to its own parameters only
(``torch.autograd.grad``), all taken at the same parameter values before any group steps.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Union

import torch
from torch import nn
from tqdm.auto import tqdm

from .history import History
from .seeding import seed_everything

Batch = Union[torch.Tensor, tuple[torch.Tensor, ...]]
LossFn = Callable[[nn.Module, Batch], dict[str, torch.Tensor]]
Groups = Mapping[str, Sequence[nn.Parameter]]


SCHEDULES = (None, "cosine")


class TrainingDiverged(FloatingPointError):
    """Raised when a loss becomes NaN or infinite; the message says where."""


def _as_batchable(data: Batch, name: str) -> Batch:
    """Validate ``data``: a tensor, or a tuple of tensors with the same first dimension."""
    if isinstance(data, torch.Tensor):
        if data.dim() == 0 or len(data) == 0:
            raise ValueError(f"{name} must hold at least one example, got a tensor of shape {tuple(data.shape)}")
        return data
    if isinstance(data, (tuple, list)) and data and all(isinstance(t, torch.Tensor) for t in data):
        lengths = {len(t) if t.dim() else -1 for t in data}
        if len(lengths) != 1 or -1 in lengths or 0 in lengths:
            shapes = [tuple(t.shape) for t in data]
            raise ValueError(f"{name} tensors must share a non-empty first (batch) dimension, got shapes {shapes}")
        return tuple(data)
    raise ValueError(f"{name} must be a tensor or a tuple of tensors (e.g. (images, labels)), got {type(data).__name__}")


def _num_examples(data: Batch) -> int:
    return len(data) if isinstance(data, torch.Tensor) else len(data[0])


def iterate_minibatches(
    data: Batch, batch_size: int, generator: torch.Generator | None = None
) -> Iterator[Batch]:
    """Yield minibatches of ``data`` (a tensor or a tuple of tensors).

    With a ``generator`` the examples are shuffled (one permutation per call), else they
    come in order. The last batch may be smaller.
    """
    n = _num_examples(data)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield data[idx] if isinstance(data, torch.Tensor) else tuple(t[idx] for t in data)


def _scalar_terms(terms: object, where: str, keys: Sequence[str] = ("loss",)) -> dict[str, torch.Tensor]:
    """Check that a loss function returned a dict of scalars with the ``keys`` (default "loss")."""
    if not isinstance(terms, dict) or any(key not in terms for key in keys):
        got = sorted(terms) if isinstance(terms, dict) else type(terms).__name__
        if tuple(keys) == ("loss",):
            raise ValueError(
                f"loss_fn must return a dict of named scalars with a 'loss' key, e.g. "
                f"{{'loss': loss, 'recon': recon, 'kl': kl}}; {where} it returned {got}"
            )
        raise ValueError(
            f"with groups {list(keys)}, loss_fn must return a dict with one scalar loss per group "
            f"(keys {list(keys)}) and any other terms to track; {where} it returned {got}"
        )
    for name, value in terms.items():
        if isinstance(value, torch.Tensor) and value.numel() != 1:
            raise ValueError(
                f"loss_fn term {name!r} must be a scalar (averaged over the batch), "
                f"got shape {tuple(value.shape)} {where}"
            )
    return terms


def _to_floats(terms: dict[str, torch.Tensor | float]) -> dict[str, float]:
    return {name: v.detach().item() if isinstance(v, torch.Tensor) else float(v) for name, v in terms.items()}


def _format_terms(terms: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in terms.items())


class _Averager:
    """Batch-size-weighted running averages of named terms."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, terms: dict[str, float], n: int) -> None:
        for name, value in terms.items():
            self.sums[name] = self.sums.get(name, 0.0) + value * n
        self.count += n

    def averages(self) -> dict[str, float]:
        return {name: total / self.count for name, total in self.sums.items()}


class DivergenceGuard:
    """Remembers the last finite training loss and stops training when a loss is not finite.

    ``keys`` names the losses watched: ``("loss",)`` for one loss, the group names for a
    model with several parameter groups (the message then names the group).
    """

    def __init__(self, keys: Sequence[str] = ("loss",)) -> None:
        self.keys = tuple(keys)
        self.last_finite: dict[str, tuple[float, int, int]] = {}  # key -> (loss, epoch, step)

    def check(self, values: dict[str, float], epoch: int, step: int, n_steps: int) -> None:
        """Record each watched loss if finite, else raise :class:`TrainingDiverged`."""
        for key in self.keys:
            loss = values[key]
            if math.isfinite(loss):
                self.last_finite[key] = (loss, epoch, step)
                continue
            what = "training loss" if self.keys == ("loss",) else f"the training loss of group {key!r}"
            if key not in self.last_finite:
                before = "no earlier step had a finite loss"
            else:
                value, e, s = self.last_finite[key]
                before = f"the last finite loss was {value:.6g} at epoch {e}, step {s}"
            raise TrainingDiverged(
                f"{what} became {loss} at epoch {epoch}, step {step} of {n_steps}; {before}. "
                f"Terms at that step: {_format_terms(values)}. Look for log(0), exp() overflow or "
                f"a learning rate that is too high."
            )


def wants_step(loss_fn: Callable) -> bool:
    """Whether ``loss_fn`` has a parameter named ``step`` (then it is told the training step).

    Raises:
        ValueError: if it has ``step`` but cannot also take ``total_steps``.
    """
    try:
        params = inspect.signature(loss_fn).parameters
    except (TypeError, ValueError):  # some builtins have no signature
        return False
    if "step" not in params:
        return False
    if "total_steps" not in params and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        raise ValueError("a loss_fn with a 'step' parameter is called as loss_fn(model, batch, step=..., "
                         "total_steps=...); add a total_steps parameter (or **kwargs)")
    return True


def check_groups(groups: object) -> dict[str, list[nn.Parameter]]:
    """Validate named parameter groups: a non-empty mapping from names to disjoint,
    non-empty lists of parameters that require gradients. Returns them as lists.

    Raises:
        ValueError: naming the group that is empty, shared or not made of parameters.
    """
    if not isinstance(groups, Mapping) or not groups:
        raise ValueError(f"groups must be a non-empty dict {{name: parameters}}, e.g. model.parameter_groups(); "
                         f"got {type(groups).__name__}")
    checked: dict[str, list[nn.Parameter]] = {}
    owner: dict[int, str] = {}
    for name, params in groups.items():
        if not isinstance(name, str):
            raise ValueError(f"group names must be strings, got {name!r}")
        params = list(params)
        if not params or not all(isinstance(p, torch.Tensor) and p.requires_grad for p in params):
            raise ValueError(f"group {name!r} must be a non-empty list of parameters that require gradients")
        for p in params:
            if id(p) in owner:
                raise ValueError(f"a parameter is in both group {owner[id(p)]!r} and group {name!r}; "
                                 f"groups must be disjoint (each parameter follows one loss)")
            owner[id(p)] = name
        checked[name] = params
    return checked


def _group_step(terms: dict[str, torch.Tensor], groups: dict[str, list[nn.Parameter]],
                optimizers: Mapping[str, torch.optim.Optimizer]) -> None:
    """Give each group the gradient of its own loss w.r.t. its own parameters, then step all.

    All gradients are taken before any parameter changes (one forward pass, simultaneous
    updates); a parameter a loss does not reach gets a zero gradient.
    """
    grads = {}
    for name, params in groups.items():
        loss = terms[name]
        if not (isinstance(loss, torch.Tensor) and loss.requires_grad):
            grads[name] = [None] * len(params)
            continue
        grads[name] = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    for name, params in groups.items():
        for p, g in zip(params, grads[name]):
            p.grad = torch.zeros_like(p) if g is None else g
        optimizers[name].step()


def train_epoch(
    model: nn.Module,
    loss_fn: LossFn,
    data: Batch,
    optimizer: torch.optim.Optimizer | Mapping[str, torch.optim.Optimizer],
    batch_size: int,
    generator: torch.Generator,
    epoch: int = 1,
    progress: tqdm | None = None,
    guard: DivergenceGuard | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | Sequence[torch.optim.lr_scheduler.LRScheduler] | None = None,
    step_offset: int = 0,
    total_steps: int | None = None,
    groups: Groups | None = None,
) -> dict[str, float]:
    """One pass over shuffled ``data``: a gradient step on ``terms["loss"]`` per batch.

    Returns the batch-size-weighted average of every term. Raises
    :class:`TrainingDiverged` before the step if the loss is NaN or infinite. A
    ``scheduler`` (or a list of them), if given, is stepped after every optimizer step.

    If ``loss_fn`` has a parameter named ``step``, it is called as
    ``loss_fn(model, batch, step=step_offset + i, total_steps=total_steps)`` for the
    ``i``-th batch (0-based) of this epoch; ``total_steps`` defaults to
    ``step_offset`` plus the number of batches of this epoch. :func:`fit` passes the
    steps of the earlier epochs as ``step_offset``.

    With ``groups`` (``{name: parameters}``, e.g. ``model.parameter_groups()``),
    ``optimizer`` is a dict with one optimizer per group name and ``loss_fn`` returns one
    loss per group name: each group steps on the gradient of its own loss with respect
    to its own parameters (``torch.autograd.grad``), computed for all groups before any
    of them steps. Chapter 9 (the VAE-GAN).
    """
    keys: tuple[str, ...] = ("loss",)
    if groups is not None:
        groups = check_groups(groups)
        keys = tuple(groups)
        if not isinstance(optimizer, Mapping) or set(optimizer) != set(groups):
            got = sorted(optimizer) if isinstance(optimizer, Mapping) else type(optimizer).__name__
            raise ValueError(f"with groups {list(groups)}, optimizer must be a dict with one optimizer per group, got {got}")
    elif isinstance(optimizer, Mapping):
        raise ValueError("optimizer is a dict of optimizers: pass the matching groups={name: parameters} too")
    guard = DivergenceGuard(keys) if guard is None else guard
    schedulers = [] if scheduler is None else list(scheduler) if isinstance(scheduler, Sequence) else [scheduler]
    model.train()
    avg = _Averager()
    n_steps = math.ceil(_num_examples(data) / batch_size)
    scheduled = wants_step(loss_fn)
    if total_steps is None:
        total_steps = step_offset + n_steps
    for step, batch in enumerate(iterate_minibatches(data, batch_size, generator), start=1):
        if scheduled:
            out = loss_fn(model, batch, step=step_offset + step - 1, total_steps=total_steps)
        else:
            out = loss_fn(model, batch)
        terms = _scalar_terms(out, f"at epoch {epoch}, step {step}", keys)
        values = _to_floats(terms)
        guard.check(values, epoch, step, n_steps)
        if groups is None:
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
        else:
            _group_step(terms, groups, optimizer)
        for s in schedulers:
            s.step()
        avg.add(values, _num_examples(batch))
        if progress is not None:
            progress.update(1)
            progress.set_postfix(epoch=epoch, **{k: f"{values[k]:.4g}" for k in keys}, refresh=False)
    return avg.averages()


@torch.no_grad()
def evaluate(model: nn.Module, loss_fn: LossFn, data: Batch, batch_size: int = 128,
             keys: Sequence[str] = ("loss",)) -> dict[str, float]:
    """Average every term of ``loss_fn`` over ``data`` in eval mode, without gradients.

    ``fit`` evaluates with its training ``batch_size``, so that terms that depend on batch
    statistics (such as a sparsity penalty) mean the same thing on both splits.

    A loss function with a ``step`` parameter is called without it (``loss_fn(model,
    batch)``): it must then compute the unweighted objective (a KL weight of 1, the
    ELBO), so that validation curves are comparable across schedules.

    ``keys`` names the losses that must be present and finite: ``("loss",)``, or the
    group names of a model trained with ``fit(..., groups=...)``.

    Raises :class:`TrainingDiverged` if a loss is NaN or infinite on some batch.
    """
    was_training = model.training
    model.eval()
    avg = _Averager()
    try:
        for i, batch in enumerate(iterate_minibatches(_as_batchable(data, "data"), batch_size), start=1):
            values = _to_floats(_scalar_terms(loss_fn(model, batch), f"on evaluation batch {i}", keys))
            for key in keys:
                if not math.isfinite(values[key]):
                    what = "evaluation loss" if tuple(keys) == ("loss",) else f"evaluation loss of group {key!r}"
                    raise TrainingDiverged(
                        f"{what} is {values[key]} on batch {i} (examples "
                        f"{(i - 1) * batch_size} onwards); terms: {_format_terms(values)}"
                    )
            avg.add(values, _num_examples(batch))
    finally:
        model.train(was_training)
    return avg.averages()


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_positive_number(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    train_data: Batch,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    val_data: Batch | None = None,
    progress: bool = True,
    schedule: str | None = None,
    groups: Groups | None = None,
    betas: tuple[float, float] = (0.9, 0.999),
) -> History:
    """Train ``model`` with Adam on minibatches of ``train_data``.

    Seeds everything with ``seed`` first (:func:`course_vae.seed_everything`), so the
    shuffling and any sampling inside ``loss_fn`` repeat exactly. Shows a progress bar
    with the live loss. Taught in chapter 3 (the AEVB algorithm), used from chapter 1 on.

    Args:
        model: the module to train (its parameters are optimized in place).
        loss_fn: ``loss_fn(model, batch) -> {"loss": scalar, ...}``. If it has a
            parameter named ``step``, training calls it as ``loss_fn(model, batch,
            step=t, total_steps=T)`` with the 0-based global step ``t`` (counted over all
            epochs) and ``T = epochs * ceil(N / batch_size)``, so the loss can follow a
            schedule such as :func:`course_vae.kl_weight` (chapter 6); evaluation calls
            it without them, so with ``step=None`` it must return the plain objective
            (KL weight 1). Return the weight as a term (e.g. ``"beta"``) to see its
            per-epoch average in the history.
        train_data: a tensor ``(N, ...)`` or a tuple of tensors ``((N, ...), (N, ...))``;
            batches have the same structure.
        epochs, batch_size: positive integers.
        lr: Adam's learning rate; with ``groups``, also a dict of one rate per group.
        seed: the random seed.
        val_data: optional data of the same structure, evaluated after each epoch.
        progress: show a ``tqdm`` progress bar.
        schedule: ``None`` for a constant learning rate, or ``"cosine"`` to decay it
            from ``lr`` to 0 along a half cosine over all the steps of training
            (``torch.optim.lr_scheduler.CosineAnnealingLR``). Chapter 4.
        groups: for a model made of networks with their own losses (chapter 9's
            VAE-GAN): ``{name: parameters}``, disjoint, e.g. ``model.parameter_groups()``.
            Each group gets its own Adam, ``loss_fn`` returns one scalar loss per group
            name (no ``"loss"`` key needed), and each group steps on the gradient of its
            own loss with respect to its own parameters only (``torch.autograd.grad``),
            all gradients taken at the same parameter values. The NaN stop names the
            group; the progress bar shows every group's loss; parameters in no group
            stay fixed. ``None`` (the default): one Adam on ``model.parameters()``.
        betas: Adam's ``(beta1, beta2)``; GANs often use ``(0.5, 0.999)``.

    Returns:
        A :class:`History` of per-epoch averages of every term, train and validation.

    Raises:
        ValueError: for bad arguments or a loss function that does not return a dict of
            scalars with a ``"loss"`` key.
        TrainingDiverged: if the loss becomes NaN or infinite; the message names the
            epoch, the step and the last finite value.
    """
    _check_positive_int("epochs", epochs)
    _check_positive_int("batch_size", batch_size)
    if groups is not None:
        groups = check_groups(groups)
        rates = dict(lr) if isinstance(lr, Mapping) else {name: lr for name in groups}
        if set(rates) != set(groups):
            raise ValueError(f"lr must be one number or a dict with one rate per group {list(groups)}, got {sorted(rates)}")
        for name, rate in rates.items():
            _check_positive_number(f"lr of group {name!r}", rate)
    else:
        _check_positive_number("lr", lr)
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2
            and all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in betas)):
        raise ValueError(f"betas must be a pair (beta1, beta2) of numbers in [0, 1), got {betas!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    train_data = _as_batchable(train_data, "train_data")
    wants_step(loss_fn)  # a malformed schedule-following loss fails before training starts
    if val_data is not None:
        val_data = _as_batchable(val_data, "val_data")
    generator = seed_everything(seed)
    if groups is None:
        keys: tuple[str, ...] = ("loss",)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=tuple(betas))
        optimizers = [optimizer]
    else:
        keys = tuple(groups)
        optimizer = {name: torch.optim.Adam(params, lr=rates[name], betas=tuple(betas)) for name, params in groups.items()}
        optimizers = list(optimizer.values())
    history = History()
    guard = DivergenceGuard(keys)
    steps_per_epoch = math.ceil(_num_examples(train_data) / batch_size)
    schedulers = []
    if schedule == "cosine":
        schedulers = [torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=epochs * steps_per_epoch) for o in optimizers]
    start = time.perf_counter()
    with tqdm(total=epochs * steps_per_epoch, desc="training", unit="step", disable=not progress) as bar:
        for epoch in range(1, epochs + 1):
            history.append(
                "train",
                train_epoch(model, loss_fn, train_data, optimizer, batch_size, generator, epoch, bar, guard, schedulers,
                            step_offset=(epoch - 1) * steps_per_epoch, total_steps=epochs * steps_per_epoch,
                            groups=groups),
            )
            summary = {"epoch": epoch, **{f"train {k}": f"{history.train[k][-1]:.4g}" for k in keys}}
            if val_data is not None:
                history.append("val", evaluate(model, loss_fn, val_data, batch_size, keys))
                summary.update({f"val {k}": f"{history.val[k][-1]:.4g}" for k in keys})
            history.seconds.append(time.perf_counter() - start)
            bar.set_postfix(summary)
    return history
