"""The aggregate posterior ``q(z) = (1/N) sum_n q(z | x_n)`` of an encoder. Taught in chapter 4."""

from __future__ import annotations

import math

import torch

# At most this many (point, component) log-densities are held in memory at once.
MAX_TERMS = 4_000_000


@torch.no_grad()
def aggregate_log_density(points: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``log q(z)`` at each point, for the mixture of the diagonal Gaussians ``N(mu_n, exp(logvar_n))``.

    Each component's log-density is expanded as a quadratic in ``z``,
    ``-1/2 [z^2 . s_n^-2 - 2 z . (mu_n s_n^-2) + mu_n^2 . s_n^-2 + sum log s_n^2 + d log 2 pi]``,
    so all ``(point, component)`` pairs come from two matrix products, computed in
    float64 (the expansion cancels large terms) and in chunks of points.

    Args:
        points: codes ``(M, d)`` at which to evaluate the density.
        mu, logvar: the encoder's outputs for the ``N`` data points, ``(N, d)`` each.

    Returns:
        ``(M,)`` log-densities, in the dtype of ``points``.
    """
    if mu.shape != logvar.shape or mu.dim() != 2 or points.dim() != 2 or points.shape[1] != mu.shape[1]:
        raise ValueError(f"points (M, d) and mu, logvar (N, d) must agree in d, got {tuple(points.shape)}, "
                         f"{tuple(mu.shape)} and {tuple(logvar.shape)}")
    n, d = mu.shape
    mu, logvar, z_all = mu.to(torch.float64), logvar.to(torch.float64), points.to(torch.float64)
    precision = (-logvar).exp()  # (N, d): 1 / s_n^2
    scaled_mu = mu * precision  # (N, d)
    constant = (mu * scaled_mu).sum(1) + logvar.sum(1) + d * math.log(2 * math.pi)  # (N,)
    chunk = max(1, MAX_TERMS // n)
    out = []
    for start in range(0, len(z_all), chunk):
        z = z_all[start : start + chunk]  # (chunk, d)
        quadratic = z.pow(2) @ precision.T - 2 * z @ scaled_mu.T + constant  # (chunk, N)
        out.append(torch.logsumexp(-0.5 * quadratic, dim=1) - math.log(n))
    return torch.cat(out).to(points.dtype)
