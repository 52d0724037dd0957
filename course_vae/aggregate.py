"""The aggregate posterior ``q(z) = (1/N) sum_n q(z | x_n)`` of an encoder. Taught in chapter 4."""

from __future__ import annotations

import math

import torch
from torch.distributions import Normal

# At most this many (point, component, coordinate) terms are evaluated at once.
MAX_TERMS = 4_000_000


@torch.no_grad()
def aggregate_log_density(points: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``log q(z)`` at each point, for the mixture of the diagonal Gaussians ``N(mu_n, exp(logvar_n))``.

    Args:
        points: codes ``(M, d)`` at which to evaluate the density.
        mu, logvar: the encoder's outputs for the ``N`` data points, ``(N, d)`` each.

    Returns:
        ``(M,)`` log-densities, computed in chunks of points so memory stays bounded.
    """
    if mu.shape != logvar.shape or points.dim() != 2 or points.shape[1] != mu.shape[1]:
        raise ValueError(f"points (M, d) and mu, logvar (N, d) must agree in d, got {tuple(points.shape)}, "
                         f"{tuple(mu.shape)} and {tuple(logvar.shape)}")
    components = Normal(mu, (0.5 * logvar).exp())
    chunk = max(1, MAX_TERMS // (mu.shape[0] * mu.shape[1]))
    out = []
    for start in range(0, len(points), chunk):
        log_probs = components.log_prob(points[start : start + chunk, None, :]).sum(-1)  # (chunk, N)
        out.append(torch.logsumexp(log_probs, dim=1) - math.log(mu.shape[0]))
    return torch.cat(out)
