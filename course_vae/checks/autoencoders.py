"""Checkers of chapter 1's exercises: the sparsity and contractive penalties."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Bernoulli, kl_divergence

from .core import CheckFailed, call, expect_close, expect_gradients, expect_shape, expect_tensor, expect_values_and_gradients, gradient, passed


def _bernoulli_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return kl_divergence(Bernoulli(probs=p), Bernoulli(probs=q))


def sparsity_kl(fn) -> None:
    """Check ``fn(activations, rho)``: ``sum_j KL(Bernoulli(rho) || Bernoulli(rho_hat_j))``."""
    name = "sparsity_kl"
    g = torch.Generator().manual_seed(1)
    cases = [(32, 10, 0.05), (8, 3, 0.2), (50, 25, 0.1)]
    for batch, hidden, rho in cases:
        a = (0.01 + 0.5 * torch.rand(batch, hidden, generator=g, dtype=torch.float64)).requires_grad_()
        out = expect_tensor(call(fn, name, a, rho), name)
        expect_shape(out, (), name, "one number for the whole batch (a sum over hidden units)")
        rho_t = torch.tensor(rho, dtype=torch.float64)
        rho_hat = a.mean(dim=0)
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
                (_bernoulli_kl(rho_t, a).sum(), "rho_hat_j is the mean activation of unit j over the batch, not each example's activation."),
                (_bernoulli_kl(rho_t, a).mean(0).sum(), "rho_hat_j is the mean activation of unit j over the batch; average the activations before the KL, not the KLs after it."),
                (a.abs().sum(), "That is an L1 activity penalty, not the Bernoulli KL."),
                (a.abs().mean(), "That is an L1 activity penalty, not the Bernoulli KL."),
                (a.abs().sum(1).mean(), "That is an L1 activity penalty, not the Bernoulli KL."),
                (_bernoulli_kl(rho_t, rho_hat).mean(), "Sum the KL over hidden units; don't average it."),
                ((rho_t * torch.log(rho_t / rho_hat)).sum(), "The KL between two Bernoulli distributions has two terms: one for 1s and one for 0s."),
            ],
        )
    passed(name, f"values and gradients match the Bernoulli KL on {len(cases)} batches (rho = 0.05, 0.2, 0.1)")


def _encoders() -> list[tuple[nn.Module, torch.Tensor]]:
    torch.manual_seed(2)  # fixed weights; contractive_penalty() restores the global RNG afterwards
    one_layer = nn.Sequential(nn.Linear(6, 4), nn.Sigmoid()).double()
    deep = nn.Sequential(nn.Flatten(), nn.Linear(12, 7), nn.Tanh(), nn.Linear(7, 3), nn.Sigmoid()).double()
    g = torch.Generator().manual_seed(3)
    return [(one_layer, torch.rand(5, 6, generator=g, dtype=torch.float64)),
            (deep, torch.rand(4, 1, 3, 4, generator=g, dtype=torch.float64))]


def _jacobians(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Per-example Jacobians ``(B, K, D)``, differentiable in the encoder's parameters."""
    rows = []
    for xi in x:
        jac = torch.autograd.functional.jacobian(lambda t: encoder(t.unsqueeze(0))[0], xi, create_graph=True)
        rows.append(jac.reshape(jac.shape[0], -1))
    return torch.stack(rows)


def contractive_penalty(fn) -> None:
    """Check ``fn(encoder, x)``: the squared Frobenius norm of each example's Jacobian, ``(B,)``."""
    name = "contractive_penalty"
    state = torch.random.get_rng_state()
    try:
        cases = _encoders()
    finally:
        torch.random.set_rng_state(state)
    for encoder, x in cases:
        batch = len(x)
        out = expect_tensor(call(fn, name, encoder, x.clone()), name)
        expect_shape(out, (batch,), name, f"one penalty per example for a batch of {batch}")
        jac = _jacobians(encoder, x)  # (B, K, D)
        expected = jac.pow(2).sum(dim=(1, 2))
        xg = x.clone().requires_grad_()
        (summed_rows,) = torch.autograd.grad(encoder(xg).sum(), xg)
        expect_close(
            out,
            expected,
            name,
            known_mistakes=[
                (jac.sum(dim=(1, 2)), "You summed the partial derivatives themselves; the Frobenius norm squares each one first."),
                (jac.pow(2).sum(dim=(1, 2)).sqrt(), "That is the Frobenius norm; the penalty is its square."),
                (summed_rows.pow(2).flatten(1).sum(1), "You differentiated the sum of the code units, which adds rows of the Jacobian before squaring; each row d z_k / d x must be squared separately."),
                (jac.pow(2).mean(dim=(1, 2)), "Sum the squared partial derivatives; don't average them."),
                (jac.abs().sum(dim=(1, 2)), "Square the partial derivatives instead of taking their absolute values."),
            ],
            rtol=1e-6,
            atol=1e-9,
        )
        params = list(encoder.parameters())
        weights = torch.rand(batch, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
        got_grads = gradient(out, params, weights)
        if all(gr is None for gr in got_grads):
            raise CheckFailed(
                f"{name}: the penalty does not depend on the encoder's parameters, so it cannot train them; "
                "the derivatives must stay part of the graph (look at torch.autograd.grad's arguments)"
            )
        expect_gradients(got_grads, gradient(expected, params, weights), [f"encoder parameter {i}" for i in range(len(params))], name, rtol=1e-6, atol=1e-9)
    passed(name, f"values and parameter gradients match the full Jacobians of {len(cases)} encoders")


EXERCISES = {"sparsity_kl": sparsity_kl, "contractive_penalty": contractive_penalty}
