"""Checkers of chapter 1's exercises: the sparsity and contractive penalties."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Bernoulli, kl_divergence

from .core import (
    F32,
    F64,
    CheckFailed,
    call,
    expect_close,
    expect_dtype,
    expect_gradients,
    expect_shape,
    expect_tensor,
    expect_unchanged,
    expect_values_and_gradients,
    gradient,
    passed,
    snapshot,
    student_gradient,
    weights_like,
)


def _bernoulli_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return kl_divergence(Bernoulli(probs=p), Bernoulli(probs=q))


def _activations_with_means(means: list[float], batch: int, g: torch.Generator) -> torch.Tensor:
    """``(batch, H)`` activations in [0, 1] whose unit means are ``means``, with exact 0s or 1s
    among the values of the units at the edges (as a saturated sigmoid gives)."""
    columns = []
    for m in means:
        spread = torch.linspace(-1, 1, batch, dtype=F64)[torch.randperm(batch, generator=g)]  # mean 0, min -1
        columns.append(m * (1 + spread) if m <= 0.5 else 1 - (1 - m) * (1 + spread))
    return torch.stack(columns, dim=1).clamp(0, 1)


SPARSITY_HINTS = [
    ("must be Tensor, not float",
     "rho is a Python float: math.log(rho) works on it, or turn it into a tensor of the activations' dtype "
     "(activations.new_tensor(rho))."),
]


def sparsity_kl(fn) -> None:
    """Check ``fn(activations, rho)``: ``sum_j KL(Bernoulli(rho) || Bernoulli(rho_hat_j))``.

    Ordinary batches first (where the common slips get their hints), then units whose
    mean activation ``rho_hat_j`` lies near 0, below ``rho`` and near 1, and activations
    that are exactly 0 or 1 (a saturated sigmoid), so that a clamp or an epsilon shows;
    float64 and float32.
    """
    __tracebackhide__ = True
    name = "sparsity_kl"
    g = torch.Generator().manual_seed(1)
    ordinary = [(32, 10, 0.05), (8, 3, 0.2), (50, 25, 0.1)]
    cases = [(f"a batch of {b} with {h} units in (0.01, 0.51), rho = {rho}", F64, rho,
              0.01 + 0.5 * torch.rand(b, h, generator=g, dtype=F64)) for b, h, rho in ordinary]
    cases += [
        ("units that are almost never active (rho_hat_j = 1e-05 and 0.002, as a dead unit has); a clamp of rho_hat "
         "or of the activations beyond guarding log(0) shows here", F64, 0.05,
         _activations_with_means([1e-5, 2e-3, 0.3], 64, g)),
        ("units less active than rho (rho_hat_j = 0.01, 0.02, 0.05); the penalty pushes both ways", F64, 0.05,
         _activations_with_means([0.01, 0.02, 0.05], 64, g)),
        ("units that are almost always active (rho_hat_j = 0.9, 0.995, 0.99999); a clamp of rho_hat or of the "
         "activations shows here", F64, 0.05,
         _activations_with_means([0.9, 0.995, 1 - 1e-5], 64, g)),
        ("activations that are exactly 0 or 1, as a saturated sigmoid gives", F64, 0.1,
         torch.bernoulli(torch.full((40, 6), 0.3, dtype=F64), generator=g).index_fill_(0, torch.tensor([0, 1]), 0.5)),
        ("float32 activations of 64 examples and 196 units, as in the chapter", F32, 0.05,
         torch.sigmoid(torch.randn(64, 196, generator=g, dtype=F64) * 3 - 3).to(F32)),
        ("float32 units with rho_hat_j = 1e-05 and 0.002", F32, 0.05,
         _activations_with_means([1e-5, 2e-3, 0.3, 0.6], 64, g).to(F32)),
    ]
    for probe, dtype, rho, values in cases:
        a = values.to(dtype).requires_grad_()
        copies = snapshot(a)
        out = expect_tensor(call(fn, name, a, rho, hints=SPARSITY_HINTS), name)
        expect_unchanged([a], copies, ["activations"], name)
        expect_shape(out, (), name, "one number for the whole batch (a sum over hidden units)")
        a64 = a.to(F64)
        rho_t = torch.tensor(rho, dtype=F64)
        rho_hat = a64.mean(dim=0)
        expected = _bernoulli_kl(rho_t, rho_hat).sum()
        expect_values_and_gradients(
            out,
            expected,
            [a],
            ["activations"],
            name,
            g,
            known_mistakes=[
                (_bernoulli_kl(rho_hat, rho_t).sum(), "The two Bernoulli distributions of the KL are in the wrong order."),
                (-expected, "Your penalty is the negative of the KL (a KL is never negative): the ratios inside the "
                            "logs are upside down."),
                (_bernoulli_kl(rho_t, a64).sum(), "rho_hat_j is the mean activation of unit j over the batch, not each example's activation."),
                (_bernoulli_kl(rho_t, a64).mean(0).sum(), "rho_hat_j is the mean activation of unit j over the batch; average the activations before the KL, not the KLs after it."),
                (_bernoulli_kl(rho_t, a64.mean(1)).sum(), "rho_hat_j averages unit j's activations over the examples of the batch (dim 0), not over the units."),
                (a64.abs().sum(), "That is an L1 activity penalty, not the Bernoulli KL."),
                (a64.abs().mean(), "That is an L1 activity penalty, not the Bernoulli KL."),
                (a64.abs().sum(1).mean(), "That is an L1 activity penalty, not the Bernoulli KL."),
                (_bernoulli_kl(rho_t, rho_hat).mean(), "Sum the KL over hidden units; don't average it."),
                ((rho_t * torch.log(rho_t / rho_hat)).sum(), "The KL between two Bernoulli distributions has two terms: one for 1s and one for 0s."),
            ],
            dtype=dtype,
            probe=probe,
            input_axes=[("example", "unit")],
            nonfinite_hint="rho_hat_j is a mean of activations in [0, 1], so it lies in [0, 1]: average over the batch, "
                           "and guard only against log(0).",
        )
    passed(name, f"values and gradients match the Bernoulli KL on {len(cases)} probes (ordinary batches, units near "
                 "0 and 1 and below rho, saturated activations, float32)")


def _encoders() -> list[tuple[str, nn.Module, torch.Tensor]]:
    torch.manual_seed(2)  # fixed weights; contractive_penalty() restores the global RNG afterwards
    one_layer = nn.Sequential(nn.Linear(6, 4), nn.Sigmoid()).double()
    deep = nn.Sequential(nn.Flatten(), nn.Linear(12, 7), nn.Tanh(), nn.Linear(7, 3), nn.Sigmoid()).double()
    single = nn.Sequential(nn.Linear(5, 2), nn.Softplus(), nn.Linear(2, 2)).double()
    image = nn.Sequential(nn.Flatten(), nn.Linear(64, 5), nn.Sigmoid())  # float32, like the chapter's models
    g = torch.Generator().manual_seed(3)
    return [
        ("a one-layer sigmoid encoder, inputs (5, 6)", one_layer, torch.rand(5, 6, generator=g, dtype=F64)),
        ("a two-layer encoder of (4, 1, 3, 4) images", deep, torch.rand(4, 1, 3, 4, generator=g, dtype=F64)),
        ("a batch of one example", single, torch.rand(1, 5, generator=g, dtype=F64)),
        ("a float32 encoder of (3, 1, 8, 8) images, as in the chapter", image, torch.rand(3, 1, 8, 8, generator=g, dtype=F32)),
    ]


def _jacobians(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Per-example Jacobians ``(B, K, D)``, differentiable in the encoder's parameters."""
    rows = []
    for xi in x:
        jac = torch.autograd.functional.jacobian(lambda t: encoder(t.unsqueeze(0))[0], xi, create_graph=True)
        rows.append(jac.reshape(jac.shape[0], -1))
    return torch.stack(rows)


CONTRACTIVE_HINTS = [
    ("has no attribute 'weight'",
     "Your function relies on one encoder's layout (a weight of a given layer); it must work for any encoder, "
     "so get the Jacobian from autograd."),
    ("object is not subscriptable",
     "Your function relies on one encoder's layout; it must work for any encoder, so get the Jacobian from autograd."),
    ("index 1 is out of range",
     "Your function relies on one encoder's layout; it must work for any encoder, so get the Jacobian from autograd."),
]


def _encoder_state(encoder: nn.Module) -> list[tuple[str, bool, torch.dtype, torch.Tensor, torch.Tensor | None]]:
    return [(n, p.requires_grad, p.dtype, p.detach().clone(), p.grad) for n, p in encoder.named_parameters()]


def _expect_encoder_untouched(encoder: nn.Module, before, training: bool, name: str) -> None:
    __tracebackhide__ = True
    for (param_name, requires_grad, dtype, value, _), param in zip(before, encoder.parameters()):
        if requires_grad and not param.requires_grad:
            raise CheckFailed(
                f"{name} switched off requires_grad of the encoder's parameter '{param_name}' (requires_grad_(False) "
                "or a frozen copy); the training loop needs gradients for every parameter, so leave the encoder as you "
                "found it (torch.autograd.grad(..., inputs=x) differentiates with respect to x alone)"
            )
        if param.dtype != dtype:
            raise CheckFailed(f"{name} changed the dtype of the encoder's parameters (.double() or .float() on the "
                              "encoder converts the model itself); compute in the input's dtype")
        if not torch.equal(param.detach(), value):
            raise CheckFailed(f"{name} changed the encoder's parameter '{param_name}'; the penalty must only read them")
        if param.grad is not None:
            raise CheckFailed(
                f"{name} left gradients in the .grad of the encoder's parameter '{param_name}' (it called .backward()); "
                "they would be added to the training step's gradients. Use torch.autograd.grad, which returns "
                "derivatives without accumulating them"
            )
    if encoder.training != training:
        raise CheckFailed(f"{name} switched the encoder to {'training' if encoder.training else 'eval'} mode; leave "
                          "the mode as the caller set it")


def contractive_penalty(fn) -> None:
    """Check ``fn(encoder, x)``: the squared Frobenius norm of each example's Jacobian, ``(B,)``.

    Four encoders (one and two layers, image and vector inputs, a batch of one,
    float64 and float32); values and the gradients with respect to every parameter of
    the encoder; and that the encoder comes back untouched (still trainable, no
    leftover ``.grad``).
    """
    __tracebackhide__ = True
    name = "contractive_penalty"
    state = torch.random.get_rng_state()
    try:
        cases = _encoders()
    finally:
        torch.random.set_rng_state(state)
    for probe, encoder, x in cases:
        dtype = x.dtype
        batch = len(x)
        before, training = _encoder_state(encoder), encoder.training
        passed_x = x.clone()
        out = expect_tensor(call(fn, name, encoder, passed_x, hints=CONTRACTIVE_HINTS), name)
        _expect_encoder_untouched(encoder, before, training, name)
        expect_unchanged([passed_x], [x], ["x"], name)
        expect_shape(out, (batch,), name, f"one penalty per example for a batch of {batch}")
        params = list(encoder.parameters())
        if not out.requires_grad:
            raise CheckFailed(
                f"{name}: the penalty does not depend on the encoder's parameters, so it cannot train them; "
                "the derivatives must stay part of the graph (look at torch.autograd.grad's arguments)"
            )
        expect_dtype(out, dtype, name)
        jac = _jacobians(encoder, x)  # (B, K, D), in the probe's dtype
        jac64 = jac.to(F64)
        expected = jac64.pow(2).sum(dim=(1, 2))
        xg = x.clone().requires_grad_()
        (summed_rows,) = torch.autograd.grad(encoder(xg).sum(), xg)
        expect_close(
            out,
            expected,
            name,
            known_mistakes=[
                (jac64.sum(dim=(1, 2)), "You summed the partial derivatives themselves; the Frobenius norm squares each one first."),
                (jac64.pow(2).sum(dim=(1, 2)).sqrt(), "That is the Frobenius norm; the penalty is its square."),
                (summed_rows.to(F64).pow(2).flatten(1).sum(1), "You differentiated the sum of the code units, which adds rows of the Jacobian before squaring; each row d z_k / d x must be squared separately."),
                (jac64.pow(2).mean(dim=(1, 2)), "Sum the squared partial derivatives; don't average them."),
                (jac64.pow(2).mean(dim=2).sum(1), "Sum the squared partial derivatives over the input's entries too; don't average over them."),
                (jac64.pow(2).sum(dim=2).mean(1), "Sum the squared partial derivatives over the code units too; don't average over them."),
                (jac64.abs().sum(dim=(1, 2)), "Square the partial derivatives instead of taking their absolute values."),
            ],
            dtype=dtype,
            probe=probe,
        )
        weights = weights_like(out, torch.Generator().manual_seed(4))
        names = [f"the encoder's parameter '{n}'" for n, _ in encoder.named_parameters()]
        got = student_gradient(out, params, weights, name)
        if all(gr is None for gr in got):
            raise CheckFailed(
                f"{name}: the penalty does not depend on the encoder's parameters, so it cannot train them; "
                "the derivatives must stay part of the graph (look at torch.autograd.grad's arguments)"
            )
        axes = [("row", "column") if p.dim() == 2 else ("entry",) for p in params]
        expect_gradients(got, gradient(expected, params, weights), names, name, dtype=dtype, probe=probe, axes=axes)
        for p in params:  # the oracle's gradients must not leak to the next probe
            p.grad = None
    passed(name, f"values and parameter gradients match the full Jacobians of {len(cases)} encoders (float64 and "
                 "float32), and the encoder is left as it was")


EXERCISES = {"sparsity_kl": sparsity_kl, "contractive_penalty": contractive_penalty}
