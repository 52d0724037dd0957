"""Estimating ``log p(x)`` of a VAE by importance sampling. Taught in chapter 4."""

from __future__ import annotations

import math

import torch
from torch.distributions import Normal

from .elbo import log_likelihood
from .vae import decode_for, prior_log_prob

# At most this many (sample, example) pairs are decoded at once, to bound memory.
MAX_PAIRS = 20_000


@torch.no_grad()
def log_weights(
    model,
    x: torch.Tensor,
    K: int,
    proposal: str = "posterior",
    likelihood: str = "bernoulli",
    sigma: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The log importance weights ``log p(x, z_k) - log r(z_k)``, ``z_k ~ r``: ``(K, B)``.

    Taught in chapter 4 (importance sampling of ``log p(x)``) and used again in chapter 7,
    where the mean of the weights over ``k`` is an ELBO estimate with a sampled KL.
    ``proposal="posterior"`` draws from the encoder's ``q(z | x)`` (importance sampling);
    ``"prior"`` draws from ``p(z) = N(0, I)`` (naive Monte Carlo, where the weight is
    ``log p(x | z_k)``). A model with a learned prior (``model.prior``, chapter 10) uses
    its ``log_prob`` in ``log p(x, z_k)`` and its ``sample`` for the prior proposal. :func:`iwae_bound` and :func:`prior_estimate` are
    ``logsumexp(weights, 0) - log K`` of these weights.

    Args:
        model: needs ``encode(x) -> (mu, logvar)``, each ``(B, d)``,
            ``decode(z) -> decoder output`` for ``z`` of shape ``(N, d)`` and, for the
            prior, a ``latent_dim`` attribute. ``CVAE.given(y)`` is such a model.
        x: data ``(B, ...)``, e.g. images ``(B, 1, 28, 28)``.
        K: samples per example, a positive integer.
        proposal: ``"posterior"`` or ``"prior"``.
        likelihood: ``"bernoulli"`` or ``"gaussian"``, as in :func:`course_vae.elbo`.
        sigma: the fixed standard deviation of a Gaussian likelihood.
        generator: the random generator of the noise (drawn on the CPU, then moved to
            the data's device), for reproducible weights.

    Returns:
        ``(K, B)``: row ``k`` holds the weights of the ``k``-th sample of every example.
        Work is split into chunks of at most ``MAX_PAIRS`` decoded images, so
        ``K = 1000`` fits in memory for any batch.
    """
    if isinstance(K, bool) or not isinstance(K, int) or K < 1:
        raise ValueError(f"K, the number of samples, must be a positive integer, got {K!r}")
    if proposal not in ("posterior", "prior"):
        raise ValueError(f"proposal must be 'posterior' or 'prior', got {proposal!r}")
    was_training = model.training
    model.eval()
    try:
        rows = []
        per_chunk = max(1, MAX_PAIRS // K)
        for start in range(0, len(x), per_chunk):
            xb = x[start : start + per_chunk]
            b = len(xb)
            if proposal == "posterior":
                mu, logvar = model.encode(xb)
                std = (0.5 * logvar).exp()
                d, dtype = mu.shape[1], mu.dtype
            else:  # the prior needs no encoder, only the latent size
                d, dtype = model.latent_dim, xb.dtype
            learned = getattr(model, "prior", None)
            weights = torch.empty(K, b, dtype=dtype, device=xb.device)
            s_chunk = max(1, MAX_PAIRS // b)
            for s in range(0, K, s_chunk):
                n = min(s_chunk, K - s)
                if proposal == "posterior":
                    eps = torch.randn(n, b, d, generator=generator, dtype=dtype).to(xb.device)  # CPU draw, then move
                    z = mu + std * eps  # (n, b, d)
                    log_p = Normal(0.0, 1.0).log_prob(z).sum(-1) if learned is None else prior_log_prob(model, z)
                    log_ratio = log_p - Normal(mu, std).log_prob(z).sum(-1)  # log p(z) - log q(z|x)
                elif learned is None:
                    eps = torch.randn(n, b, d, generator=generator, dtype=dtype).to(xb.device)  # CPU draw, then move
                    z, log_ratio = eps, 0.0  # with z ~ p(z), the weight is p(x | z) alone
                else:
                    z, log_ratio = learned.sample(n * b, generator=generator).to(xb.device, dtype).view(n, b, d), 0.0
                targets = xb.unsqueeze(0).expand(n, *xb.shape).reshape(n * b, *xb.shape[1:])
                decoded = decode_for(model, z.reshape(n * b, d), targets)
                weights[s : s + n] = log_likelihood(targets, decoded, likelihood, sigma).view(n, b) + log_ratio
            rows.append(weights)
        return torch.cat(rows, dim=1)
    finally:
        model.train(was_training)


def iwae_bound(model, x: torch.Tensor, K: int, **kwargs) -> torch.Tensor:
    """One draw of ``log (1/K) sum_k p(x, z_k) / q(z_k | x)`` with ``z_k ~ q(z | x)``: ``(B,)``.

    Its expectation is the importance-weighted bound ``L_K`` (Burda et al., 2016): for
    ``K = 1`` the ELBO; it never decreases as ``K`` grows, and tends to ``log p(x)`` when
    the weights are bounded. Computed with ``logsumexp`` for numerical stability.
    Keyword arguments go to :func:`log_weights`.
    """
    return torch.logsumexp(log_weights(model, x, K, proposal="posterior", **kwargs), dim=0) - math.log(K)


def prior_estimate(model, x: torch.Tensor, K: int, **kwargs) -> torch.Tensor:
    """Naive Monte Carlo ``log (1/K) sum_k p(x | z_k)`` with ``z_k ~ p(z)``: ``(B,)``.

    Also a stochastic lower bound on ``log p(x)`` in expectation, but a very loose one
    when the posterior is much narrower than the prior (chapter 2).
    """
    return torch.logsumexp(log_weights(model, x, K, proposal="prior", **kwargs), dim=0) - math.log(K)
