"""Checkers of chapter 2's exercises: the Gaussian KL and the exact linear-Gaussian ELBO."""

from __future__ import annotations

import math

import torch
from torch.distributions import Normal, kl_divergence

from ..linear_gaussian import LinearGaussian
from .core import F32, F64, call, expect_deterministic, expect_shape, expect_tensor, expect_unchanged, expect_values_and_gradients, passed, snapshot

LATENT_AXES = ("example", "coordinate")


def kl_variants(mu: torch.Tensor, logvar: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    """Outputs ``(B,)`` of typical wrong KL implementations, with the hint for each.

    Chapter 4's checker reuses them for the KL term of the VAE loss.
    """
    var, sq = logvar.exp(), mu.pow(2)
    right = 0.5 * (var + sq - 1 - logvar).sum(-1)
    return [
        (-right, "Your KL is the negative of the reference (a KL is never negative): every term has the wrong sign."),
        (0.5 * (var + sq - 1 + logvar).sum(-1), "The log-variance term has the wrong sign."),
        (0.5 * (logvar.exp().pow(2) + sq - 1 - 2 * logvar).sum(-1), "logvar is log sigma^2, the log of the variance, not of the standard deviation."),
        (0.5 * (var.pow(2) + sq - 1 - logvar).sum(-1), "exp(logvar) is the variance sigma^2, not the standard deviation."),
        (0.5 * (var + sq - 1 - logvar).mean(-1), "Sum the KL over latent dimensions; don't average it."),
        ((var + sq - 1 - logvar).sum(-1), "Your values are twice the reference: check the factor in front."),
        (0.5 * (var + sq - logvar).sum(-1), "A constant term of the formula is missing."),
        (0.5 * (logvar.exp().sqrt() + sq - 1 - logvar).sum(-1), "exp(logvar) is the variance; don't take its square root there."),
        (0.5 * (var + mu - 1 - logvar).sum(-1), "The mean enters the KL squared."),
    ]


def _reference_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    mu, logvar = mu.to(F64), logvar.to(F64)
    return kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)


def _kl_cases(g: torch.Generator) -> list[tuple[str, torch.dtype, torch.Tensor, torch.Tensor]]:
    cases = []
    for batch, d in [(6, 4), (3, 1), (5, 16), (1, 3)]:
        cases.append((f"mu and logvar of shape {(batch, d)}", F64, torch.randn(batch, d, generator=g, dtype=F64),
                      1.5 * torch.randn(batch, d, generator=g, dtype=F64)))
    extreme_logvar = torch.tensor([[-18.0, -9.0, 0.0, 6.0, 12.0], [-14.0, -4.0, 2.0, 9.0, -1.0]], dtype=F64)
    extreme_mu = torch.tensor([[0.0, 30.0, -12.0, 0.5, 1e-3], [-25.0, 0.0, 4.0, -0.5, 8.0]], dtype=F64)
    cases.append(("tiny and huge variances (logvar from -18 to 12) and means up to 30, as a trained encoder "
                  "produces; a clamp or an epsilon shows here", F64, extreme_mu, extreme_logvar))
    cases.append(("float32 inputs of shape (32, 20), as in the chapters", F32,
                  torch.randn(32, 20, generator=g, dtype=F64).to(F32), (2 * torch.randn(32, 20, generator=g, dtype=F64) - 1).to(F32)))
    cases.append(("float32 inputs with logvar from -15 to 8", F32, torch.linspace(-5, 5, 12, dtype=F64).reshape(2, 6).to(F32),
                  torch.linspace(-15, 8, 12, dtype=F64).reshape(2, 6).to(F32)))
    return cases


def gaussian_kl(fn) -> None:
    """Check ``fn(mu, logvar)``: ``KL(N(mu, diag(exp(logvar))) || N(0, I))`` per example, ``(B,)``.

    Shapes ``(B, d)`` with ``d = 1`` and ``B = 1`` among them (the chapters pass ``(1, 1)``),
    extreme variances and means, float64 and float32; and the same inputs must give
    the same KL twice (the closed form, not a sampled estimate).
    """
    __tracebackhide__ = True
    name = "gaussian_kl"
    g = torch.Generator().manual_seed(10)
    cases = _kl_cases(g)
    for probe, dtype, mu_values, logvar_values in cases:
        mu, logvar = mu_values.to(dtype).requires_grad_(), logvar_values.to(dtype).requires_grad_()
        batch, d = mu.shape
        copies = snapshot(mu, logvar)
        out = expect_tensor(call(fn, name, mu, logvar), name)
        expect_unchanged([mu, logvar], copies, ["mu", "logvar"], name)
        expect_shape(out, (batch,), name, f"one KL per example for mu and logvar of shape {(batch, d)}")
        expect_deterministic(fn, name, (mu, logvar), out, "the KL to the prior has a closed form (no sampling)")
        expect_values_and_gradients(out, _reference_kl(mu, logvar), [mu, logvar], ["mu", "logvar"], name, g,
                                    known_mistakes=kl_variants(mu.to(F64), logvar.to(F64)), dtype=dtype, probe=probe,
                                    axes=("example",), input_axes=[LATENT_AXES, LATENT_AXES])
    passed(name, f"values and gradients match torch.distributions on {len(cases)} probes (latent sizes 1 to 20, a batch of one, "
                 "extreme variances, float32)")


def linear_gaussian_elbo(fn) -> None:
    """Check ``fn(x, q_mu, q_logvar, W, b, sigma)`` against the exact ELBO, ``(B,)``.

    Random linear-Gaussian models of several sizes (a batch of one among them), very
    small and large variances of q, float64 and float32; gradients with respect to
    ``q_mu``, ``q_logvar``, ``W`` and ``b``.
    """
    __tracebackhide__ = True
    name = "linear_gaussian_elbo"
    g = torch.Generator().manual_seed(11)
    cases = [  # (batch, D, d, sigma, logvar offset, dtype)
        (4, 7, 3, 0.5, -1.0, F64), (3, 5, 1, 1.3, -1.0, F64), (2, 12, 4, 0.2, -1.0, F64), (1, 9, 2, 0.7, -1.0, F64),
        (5, 6, 2, 0.9, -8.0, F64), (3, 10, 4, 0.6, -1.0, F32),
    ]
    for batch, D, d, sigma, offset, dtype in cases:
        probe = f"B = {batch}, D = {D}, d = {d}, sigma = {sigma}" + (", very small variances of q" if offset < -4 else "") + (
            ", float32" if dtype == F32 else "")
        model = LinearGaussian(torch.randn(D, d, generator=g, dtype=F64), torch.randn(D, generator=g, dtype=F64), sigma)
        x = model.sample(batch, g).to(dtype)
        q_mu = torch.randn(batch, d, generator=g, dtype=F64).to(dtype).requires_grad_()
        q_logvar = (2 * torch.randn(batch, d, generator=g, dtype=F64) + offset).to(dtype).requires_grad_()
        W, b = model.W.to(dtype).requires_grad_(), model.b.to(dtype).requires_grad_()
        args = (x.clone(), q_mu, q_logvar, W, b)
        copies = snapshot(*args)
        out = expect_tensor(call(fn, name, *args, sigma), name)
        expect_unchanged(args, copies, ["x", "q_mu", "q_logvar", "W", "b"], name)
        expect_shape(out, (batch,), name, f"one ELBO per example for x of shape {(batch, D)}")
        expect_deterministic(fn, name, (x.clone(), q_mu, q_logvar, W, b, sigma), out,
                             "the ELBO of this model has a closed form (no sampling)")
        x64, m64, lv64, W64, b64 = (t.to(F64) for t in (x, q_mu, q_logvar, W, b))
        expected = LinearGaussian(W64, b64, sigma).elbo(x64, m64, lv64)
        # pieces of the exact ELBO, to recognize typical slips
        residual = (x64 - m64 @ W64.T - b64).pow(2).sum(-1)
        columns = W64.pow(2).sum(0)
        spread = (lv64.exp() * columns).sum(-1)
        const = D * math.log(2 * math.pi * sigma**2)
        kl = 0.5 * (lv64.exp() + m64.pow(2) - 1 - lv64).sum(-1)
        recon = -0.5 * (const + (residual + spread) / sigma**2)
        expect_values_and_gradients(
            out,
            expected,
            [q_mu, q_logvar, W, b],
            ["q_mu", "q_logvar", "W", "b"],
            name,
            g,
            known_mistakes=[
                (-0.5 * (const + residual / sigma**2) - kl, "The expected reconstruction term ignores the spread of q: E_q||x - Wz - b||^2 is not ||x - W mu - b||^2."),
                (recon + kl, "The KL term has the wrong sign: the ELBO subtracts it."),
                (-expected, "That is the negative ELBO (a loss); return the ELBO itself."),
                (-0.5 * (residual + spread) / sigma**2 - kl, "The normalizing constant of the Gaussian likelihood is missing."),
                (-0.5 * (D * math.log(2 * math.pi * sigma) + (residual + spread) / sigma**2) - kl, "sigma and sigma^2 are mixed up in the constant."),
                (-0.5 * (d * math.log(2 * math.pi * sigma**2) + (residual + spread) / sigma**2) - kl, "The normalizing constant counts the D data dimensions of x, not the d latent ones."),
                (-0.5 * (batch * math.log(2 * math.pi * sigma**2) + (residual + spread) / sigma**2) - kl, "The normalizing constant counts the D data dimensions of x (its last size), not the batch."),
                (-0.5 * (const + (residual + spread) / sigma) - kl, "The squared error is divided by sigma instead of sigma^2."),
                (-0.5 * (const + (residual + (lv64.exp().pow(2) * columns).sum(-1)) / sigma**2) - kl, "exp(logvar) is the variance of q, not its standard deviation."),
                (-0.5 * (const + (residual + (lv64.exp().sqrt() * columns).sum(-1)) / sigma**2) - kl, "The spread term uses the variances s_j^2 = exp(logvar), not the standard deviations."),
                (-0.5 * (const + (residual + lv64.exp().sum(-1)) / sigma**2) - kl, "In the spread term each variance s_j^2 is weighted by the squared length of column j of W."),
                *[(recon - wrong_kl, f"In the KL term: {hint[0].lower()}{hint[1:]}") for wrong_kl, hint in kl_variants(m64, lv64)[1:]],
            ],
            dtype=dtype,
            probe=probe,
            axes=("example",),
            input_axes=[LATENT_AXES, LATENT_AXES, ("row", "column"), ("entry",)],
        )
    passed(name, f"values and gradients (q_mu, q_logvar, W, b) match the exact ELBO on {len(cases)} random "
                 "linear-Gaussian models (a batch of one, tiny variances, float32)")


EXERCISES = {"gaussian_kl": gaussian_kl, "linear_gaussian_elbo": linear_gaussian_elbo}
