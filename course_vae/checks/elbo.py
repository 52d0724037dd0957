"""Checkers of chapter 2's exercises: the Gaussian KL and the exact linear-Gaussian ELBO."""

from __future__ import annotations

import math

import torch
from torch.distributions import Normal, kl_divergence

from ..linear_gaussian import LinearGaussian
from .core import call, expect_shape, expect_tensor, expect_values_and_gradients, passed

D64 = torch.float64


def _kl_variants(mu: torch.Tensor, logvar: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    """Outputs of typical wrong KL implementations, with the hint for each."""
    var, sq = logvar.exp(), mu.pow(2)
    return [
        (0.5 * (var + sq - 1 + logvar).sum(-1), "The log-variance term has the wrong sign."),
        (0.5 * (logvar.exp().pow(2) + sq - 1 - 2 * logvar).sum(-1), "exp(logvar) is the variance sigma^2, not the standard deviation."),
        (0.5 * (var.pow(2) + sq - 1 - logvar).sum(-1), "exp(logvar) is the variance sigma^2, not the standard deviation."),
        (0.5 * (var + sq - 1 - logvar).mean(-1), "Sum the KL over latent dimensions; don't average it."),
        ((var + sq - 1 - logvar).sum(-1), "Your values are twice the reference: check the factor in front."),
        (0.5 * (var + sq - logvar).sum(-1), "A constant term of the formula is missing."),
        (0.5 * (logvar.exp().sqrt() + sq - 1 - logvar).sum(-1), "exp(logvar) is the variance; don't take its square root there."),
    ]


def gaussian_kl(fn) -> None:
    """Check ``fn(mu, logvar)``: ``KL(N(mu, diag(exp(logvar))) || N(0, I))`` per example, ``(B,)``."""
    name = "gaussian_kl"
    g = torch.Generator().manual_seed(10)
    cases = [(6, 4), (3, 1), (5, 16)]
    for batch, d in cases:
        mu = torch.randn(batch, d, generator=g, dtype=D64).requires_grad_()
        logvar = (1.5 * torch.randn(batch, d, generator=g, dtype=D64)).requires_grad_()
        out = expect_tensor(call(fn, name, mu, logvar), name)
        expect_shape(out, (batch,), name, f"one KL per example for mu and logvar of shape {(batch, d)}")
        expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)
        expect_values_and_gradients(out, expected, [mu, logvar], ["mu", "logvar"], name, g,
                                    known_mistakes=_kl_variants(mu, logvar))
    passed(name, f"values and gradients match torch.distributions for {len(cases)} batch and latent sizes")


def linear_gaussian_elbo(fn) -> None:
    """Check ``fn(x, q_mu, q_logvar, W, b, sigma)`` against the exact ELBO, ``(B,)``."""
    name = "linear_gaussian_elbo"
    g = torch.Generator().manual_seed(11)
    cases = [(4, 7, 3, 0.5), (3, 5, 1, 1.3), (2, 12, 4, 0.2)]
    for batch, D, d, sigma in cases:
        model = LinearGaussian(torch.randn(D, d, generator=g, dtype=D64), torch.randn(D, generator=g, dtype=D64), sigma)
        x = model.sample(batch, g)
        q_mu = torch.randn(batch, d, generator=g, dtype=D64).requires_grad_()
        q_logvar = (torch.randn(batch, d, generator=g, dtype=D64) - 1).requires_grad_()
        out = expect_tensor(call(fn, name, x, q_mu, q_logvar, model.W, model.b, sigma), name)
        expect_shape(out, (batch,), name, f"one ELBO per example for x of shape {(batch, D)}")
        expected = model.elbo(x, q_mu, q_logvar)
        # pieces of the exact ELBO, to recognize typical slips
        residual = (x - q_mu @ model.W.T - model.b).pow(2).sum(-1)
        spread = (q_logvar.exp() * model.W.pow(2).sum(0)).sum(-1)
        const = D * math.log(2 * math.pi * sigma**2)
        kl = 0.5 * (q_logvar.exp() + q_mu.pow(2) - 1 - q_logvar).sum(-1)
        recon = -0.5 * (const + (residual + spread) / sigma**2)
        expect_values_and_gradients(
            out,
            expected,
            [q_mu, q_logvar],
            ["q_mu", "q_logvar"],
            name,
            g,
            known_mistakes=[
                (-0.5 * (const + residual / sigma**2) - kl, "The expected reconstruction term ignores the spread of q: E_q||x - Wz - b||^2 is not ||x - W mu - b||^2."),
                (recon + kl, "The KL term has the wrong sign: the ELBO subtracts it."),
                (-expected, "That is the negative ELBO (a loss); return the ELBO itself."),
                (-0.5 * (residual + spread) / sigma**2 - kl, "The normalizing constant of the Gaussian likelihood is missing."),
                (-0.5 * (D * math.log(2 * math.pi * sigma) + (residual + spread) / sigma**2) - kl, "sigma and sigma^2 are mixed up in the constant."),
                (-0.5 * (const + (residual + spread) / sigma) - kl, "The squared error is divided by sigma instead of sigma^2."),
                (-0.5 * (const + (residual + (q_logvar.exp().pow(2) * model.W.pow(2).sum(0)).sum(-1)) / sigma**2) - kl, "exp(logvar) is the variance of q, not its standard deviation."),
            ],
            atol=1e-8,
        )
    passed(name, f"values and gradients match the exact ELBO on {len(cases)} random linear-Gaussian models")


EXERCISES = {"gaussian_kl": gaussian_kl, "linear_gaussian_elbo": linear_gaussian_elbo}
