"""The aggregate posterior ``q(z) = (1/N) sum_n q(z | x_n)`` of an encoder and the rate split it gives. Taught in chapter 4."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch.distributions import Normal

from .kl import gaussian_kl
from .stats import mean_and_stderr

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


class RateSplit(NamedTuple):
    """The rate of an encoder on a data set and its two parts, each ``(mean, standard error)`` in nats.

    A named tuple: ``rate, information, mismatch = split`` also works."""

    rate: tuple[float, float]  # E_x KL(q(z | x) || p(z))
    information: tuple[float, float]  # I_q(x; z), the information in the code
    mismatch: tuple[float, float]  # KL(q(z) || p(z)), the aggregate posterior against the prior


@torch.no_grad()
def rate_split(model, x: torch.Tensor, seeds: tuple[int, int] = (4, 5)) -> RateSplit:
    """Split the rate into information and prior mismatch, ``rate = I_q(x; z) + KL(q(z) || p(z))``.

    With one code ``z_n ~ q(z | x_n)`` per data point, ``information`` averages
    ``log q(z_n | x_n) - log q(z_n)`` and ``mismatch`` averages ``log q(z') - log p(z')``
    over a second, independent draw ``z'`` of the aggregate posterior, so the identity
    can be checked rather than assumed (:func:`aggregate_log_density` gives ``log q``).
    The rate is the closed-form KL per data point for the standard normal prior, and
    ``log q(z_n | x_n) - log p(z_n)`` for a learned one (``model.prior``, chapter 10).
    Taught in chapter 4, used again in chapter 10.

    Args:
        model: with ``encode(x) -> (mu, logvar)``, each ``(N, d)``, and optionally a
            ``prior`` with ``log_prob(z (M, d)) -> (M,)`` (``None`` means ``N(0, I)``).
        x: the data ``(N, ...)``, e.g. the training images.
        seeds: the seeds of the two independent draws of codes.

    Returns:
        :class:`RateSplit` with ``(mean, standard error)`` of each term over the ``N`` points.
    """
    mu, logvar = model.encode(x)
    std = (0.5 * logvar).exp()
    z_n, z_fresh = (mu + std * torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed)) for seed in seeds)
    prior = getattr(model, "prior", None)

    def log_prior(z: torch.Tensor) -> torch.Tensor:
        return Normal(0.0, 1.0).log_prob(z).sum(-1) if prior is None else prior.log_prob(z)

    log_q = Normal(mu, std).log_prob(z_n).sum(-1)  # (N,) log q(z_n | x_n)
    rate = gaussian_kl(mu, logvar) if prior is None else log_q - log_prior(z_n)
    information = log_q - aggregate_log_density(z_n, mu, logvar)
    mismatch = aggregate_log_density(z_fresh, mu, logvar) - log_prior(z_fresh)
    return RateSplit(*(mean_and_stderr(values) for values in (rate, information, mismatch)))
