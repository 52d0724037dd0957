"""Checkers of chapter 3's exercises: the reparameterization trick and the score-function estimator."""

from __future__ import annotations

import math

import torch

from .core import CheckFailed, call, expect_close, expect_shape, expect_tensor, passed

D64 = torch.float64


def reparameterize(fn) -> None:
    """Check ``fn(mu, logvar)``: a differentiable draw from ``N(mu, diag(exp(logvar)))``.

    The noise is the student's own, so the checker tests what holds for every draw: the
    moments over many draws, and the gradients ``dz/dmu = 1`` and
    ``dz/dlogvar = (z - mu) / 2``.
    """
    name = "reparameterize"
    n = 100_000
    mu_values = torch.tensor([1.5, -2.0, 0.3, 0.0], dtype=D64)
    logvar_values = torch.tensor([0.4, 1.2, -2.5, 2.0], dtype=D64)
    mu = mu_values.expand(n, 4).clone().requires_grad_()
    logvar = logvar_values.expand(n, 4).clone().requires_grad_()
    state = torch.random.get_rng_state()
    torch.manual_seed(0)
    try:
        z = expect_tensor(call(fn, name, mu, logvar), name)
    finally:
        torch.random.set_rng_state(state)
    expect_shape(z, (n, 4), name, "z has the shape of mu")
    if not z.requires_grad:
        raise CheckFailed(
            f"{name}: z does not depend differentiably on mu and logvar, so no gradient can reach the encoder; "
            "draw standard normal noise first and build z from it with differentiable operations"
        )
    std = (0.5 * logvar_values).exp()
    z_mean, z_std = z.detach().mean(0), z.detach().std(0)
    if not torch.isfinite(z_mean).all():
        raise CheckFailed(f"{name} returned NaN or infinite samples")
    mean_ok = ((z_mean - mu_values).abs() < 5 * std / math.sqrt(n)).all()
    std_ok = ((z_std / std - 1).abs() < 0.02).all()
    if not mean_ok or not std_ok:
        diagnosis = "the samples have the wrong mean" if not mean_ok else "the samples have the wrong spread"
        if (z_std - mu_values.abs()).abs().max() < 0.05 and not mean_ok:
            diagnosis = "the samples' mean looks like sigma and their spread like |mu|: are mu and sigma swapped around eps?"
        elif mean_ok and ((z_std / logvar_values.exp() - 1).abs() < 0.02).all():
            diagnosis = "the spread equals exp(logvar): that is the variance, the standard deviation is its square root"
        elif mean_ok and ((z_std / logvar_values.abs().clamp_min(1e-12) - 1).abs() < 0.02).all():
            diagnosis = "the spread equals |logvar|: logvar is the log of the variance, not a standard deviation"
        raise CheckFailed(f"{name}: {diagnosis} (mu = {mu_values.tolist()}, logvar = {logvar_values.tolist()})")
    grad_mu, grad_logvar = torch.autograd.grad(z.sum(), [mu, logvar], allow_unused=True)
    if grad_mu is None or grad_logvar is None:
        missing = "mu" if grad_mu is None else "logvar"
        raise CheckFailed(f"{name}: no gradient flows back to {missing}")
    if not torch.allclose(grad_mu, torch.ones_like(grad_mu), atol=1e-8):
        raise CheckFailed(f"{name}: dz/dmu should be 1 for every sample: z must move one-for-one with mu")
    if not torch.allclose(grad_logvar, (z.detach() - mu.detach()) / 2, atol=1e-8):
        raise CheckFailed(f"{name}: dz/dlogvar should be sigma * eps / 2 = (z - mu) / 2 for each sample; check how sigma is computed from logvar")
    passed(name, f"{n} draws have the right mean and spread, and dz/dmu, dz/dlogvar are exact")


def _score_reference(f, mu: torch.Tensor, log_sigma: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    sigma = log_sigma.exp()
    values = f(z)
    score_mu = (z - mu) / sigma**2
    score_log_sigma = (z - mu).pow(2) / sigma**2 - 1
    return torch.stack([(values * score_mu).mean(), (values * score_log_sigma).mean()])


def score_function_gradient(fn) -> None:
    """Check ``fn(f, mu, log_sigma, z)``: the REINFORCE estimate of the gradient of
    ``E_{N(mu, sigma^2)}[f(z)]`` with respect to ``(mu, log_sigma)``, from the samples ``z``, shape ``(2,)``."""
    name = "score_function_gradient"
    g = torch.Generator().manual_seed(12)
    cases = [
        (lambda z: (z - 2.0) ** 2, 0.5, math.log(0.8), 7),
        (lambda z: torch.sigmoid(3 * z), -1.0, math.log(1.5), 20),
        (lambda z: z.pow(3) - z, 0.3, math.log(0.4), 3),
    ]
    for f, mu_value, log_sigma_value, k in cases:
        mu = torch.tensor(mu_value, dtype=D64)
        log_sigma = torch.tensor(log_sigma_value, dtype=D64)
        z = mu + log_sigma.exp() * torch.randn(k, generator=g, dtype=D64)
        out = expect_tensor(call(fn, name, f, mu.clone(), log_sigma.clone(), z.clone()), name)
        expect_shape(out, (2,), name, "two numbers: the estimated derivatives with respect to mu and to log_sigma")
        expected = _score_reference(f, mu, log_sigma, z)
        sigma = log_sigma.exp()
        values = f(z)
        expect_close(
            out,
            expected,
            name,
            known_mistakes=[
                (torch.stack([((z - mu) / sigma**2).mean(), ((z - mu).pow(2) / sigma**2 - 1).mean()]), "The estimate is the average score alone: each score must be multiplied by f(z)."),
                (torch.stack([(values * (z - mu) / sigma).mean(), (values * ((z - mu).pow(2) / sigma**3 - 1 / sigma)).mean()]), "Those look like derivatives with respect to sigma, or with a sigma missing: differentiate log q with respect to mu and to log_sigma."),
                (torch.stack([(values * (z - mu) / sigma**2).mean(), (values * ((z - mu).pow(2) / sigma**3 - 1 / sigma)).mean()]), "The second entry is the derivative with respect to sigma; the exercise asks for log_sigma (multiply by sigma)."),
                (-expected, "The sign is flipped."),
                (torch.stack([(values * (z - mu) / sigma**2).sum(), (values * ((z - mu).pow(2) / sigma**2 - 1)).sum()]), "Average over the samples; don't sum."),
            ],
            rtol=1e-8,
            atol=1e-10,
        )
    passed(name, f"matches the score-function estimate on {len(cases)} functions and sample sets")


EXERCISES = {"reparameterize": reparameterize, "score_function_gradient": score_function_gradient}
