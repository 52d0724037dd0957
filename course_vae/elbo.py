"""The VAE objective: the ELBO of each example and the training loss. Taught in chapter 4."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .kl import gaussian_kl, kl_per_dimension
from .likelihoods import bernoulli_log_likelihood, gaussian_log_likelihood
from .vae import VAEOutput, decode_for, prior_log_prob

LIKELIHOODS = ("bernoulli", "gaussian")
KL_ESTIMATORS = ("closed_form", "monte_carlo")


@dataclass
class ELBOTerms:
    """Per-example terms of the (beta-weighted) ELBO, each of shape ``(B,)``, in nats."""

    elbo: torch.Tensor  # log p(x | z) - beta * KL: the training objective (maximized)
    recon: torch.Tensor  # -log p(x | z) at the sampled z: the reconstruction loss
    kl: torch.Tensor  # KL(q(z | x) || p(z)): closed form, or log q(z|x) - log p(z) at the sampled z
    kl_estimator: str = "closed_form"  # "closed_form" (p = N(0, I)) or "monte_carlo" (learned prior, chapter 10)


def log_likelihood(x: torch.Tensor, decoded: torch.Tensor, likelihood: str = "bernoulli", sigma: float | None = None) -> torch.Tensor:
    """``log p(x | z)`` per example from the decoder's output ``(B, ...) -> (B,)``.

    ``"bernoulli"`` reads ``decoded`` as logits; ``"gaussian"`` reads it as the mean of a
    Gaussian with fixed standard deviation ``sigma``.
    """
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    if likelihood == "bernoulli":
        return bernoulli_log_likelihood(x, decoded)
    if sigma is None or not sigma > 0:
        raise ValueError(f"a Gaussian likelihood needs a positive sigma, got {sigma!r}")
    return gaussian_log_likelihood(x, decoded, 2 * math.log(sigma))


def elbo(x: torch.Tensor, out: VAEOutput, beta: float = 1.0, likelihood: str = "bernoulli", sigma: float | None = None) -> ELBOTerms:
    """The SGVB-B estimate of the ELBO of each example (one sample of ``z``, analytic KL).

    ``elbo = log p(x | z) - beta * KL(q(z | x) || p(z))``, summed over the data and latent
    dimensions of each example; ``beta = 1`` is the ELBO proper (chapter 5 varies it).
    The training loss is ``-elbo(...).elbo.mean()``.

    With the standard normal prior (``out.log_prior is None``) the KL is in closed form
    (``kl_estimator="closed_form"``). With a learned prior (chapter 10: ``out.log_prior``
    holds ``log p(z)`` at ``out.z``) it has none, and the KL is the one-sample Monte Carlo
    estimate ``log q(z | x) - log p(z)`` at the same ``z`` as the reconstruction term
    (``kl_estimator="monte_carlo"``, the SGVB-A estimator of Kingma and Welling): unbiased,
    and its gradient reaches the prior's parameters.

    Args:
        x: data ``(B, ...)`` (targets of the decoder).
        out: the model's :class:`VAEOutput` for ``x``.
        beta: the weight of the KL term.
        likelihood: ``"bernoulli"`` (``out.logits`` are logits) or ``"gaussian"``
            (``out.logits`` is the mean, ``sigma`` the fixed standard deviation).

    Returns:
        :class:`ELBOTerms` with ``elbo``, ``recon`` and ``kl``, each ``(B,)``, and
        ``kl_estimator``, which says how ``kl`` was computed.
    """
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not (math.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
    recon = -log_likelihood(x, out.logits, likelihood, sigma)
    log_prior = getattr(out, "log_prior", None)
    if log_prior is None:
        kl, estimator = gaussian_kl(out.mu, out.logvar), "closed_form"
    else:
        log_q = -0.5 * ((out.z - out.mu).pow(2) * (-out.logvar).exp() + out.logvar + math.log(2 * math.pi)).sum(-1)
        kl, estimator = log_q - log_prior, "monte_carlo"
    return ELBOTerms(elbo=-recon - beta * kl, recon=recon, kl=kl, kl_estimator=estimator)


def vae_loss(x: torch.Tensor, out: VAEOutput, beta: float = 1.0, likelihood: str = "bernoulli",
             sigma: float | None = None, capacity: float | None = None, gamma: float | None = None,
             free_bits: float = 0.0) -> dict[str, torch.Tensor]:
    """The training loss for :func:`course_vae.fit`: the negative ELBO averaged over the batch.

    Returns ``{"loss": -mean(elbo), "recon": mean(recon), "kl": mean(kl)}``, so the curves
    of the two terms can be plotted apart; arguments as in :func:`elbo`. ``beta`` weighs
    the KL (the beta-VAE of chapter 5; ``beta = 1`` is the ELBO). The exercise of chapter
    4 writes this function (for the Bernoulli likelihood), that of chapter 5 its ``beta``.

    With a ``capacity`` ``C`` (in nats), the loss is instead the capacity objective of
    Burgess et al. (2018), ``mean(recon) + gamma * |mean(kl) - C|``: the batch's average
    KL is pulled towards ``C`` from both sides, and the returned dict also holds
    ``"capacity"`` so the curves can show it. Chapter 5 raises ``C`` during training.

    With ``free_bits`` ``lambda > 0`` (nats per latent dimension; Kingma et al. 2016),
    the KL term becomes ``sum_j max(lambda, KL_j)``, where ``KL_j`` is the KL of latent
    dimension ``j`` averaged over the batch (:func:`course_vae.kl_per_dimension`): a
    dimension whose average KL is below ``lambda`` gets no gradient from the KL term,
    so the encoder is not pushed to close it. Kingma et al. clamp the batch-averaged
    KL of groups of latent dimensions; here every group is one dimension. The loss is
    ``mean(recon) + beta * sum_j max(lambda, KL_j)``; ``"kl"`` stays the true average
    KL, and the dict also holds ``"kl_objective"``, the clamped sum. ``free_bits = 0``
    (the default) is the plain loss. Chapter 6.

    Raises:
        ValueError: for a negative or non-finite ``capacity``, a ``gamma`` that is not a
            positive number, ``gamma`` without ``capacity``, ``beta`` other than 1
            together with ``capacity`` (the capacity objective has no beta), a negative
            or non-finite ``free_bits``, or ``free_bits`` together with ``capacity``.
    """
    if isinstance(free_bits, bool) or not isinstance(free_bits, (int, float)) or not (math.isfinite(free_bits) and free_bits >= 0):
        raise ValueError(f"free_bits must be a finite number of nats per latent dimension >= 0 (0 = off), got {free_bits!r}")
    if free_bits > 0 and capacity is not None:
        raise ValueError("free_bits and capacity are two different KL objectives; pass one of them, not both")
    if free_bits > 0 and getattr(out, "log_prior", None) is not None:
        raise ValueError("free_bits clamps the closed-form KL of each latent dimension to N(0, I); "
                         "with a learned prior (out.log_prior set) use free_bits=0")
    terms = elbo(x, out, beta=beta, likelihood=likelihood, sigma=sigma)
    recon, kl = terms.recon.mean(), terms.kl.mean()
    if free_bits > 0:
        if gamma is not None:
            raise ValueError("gamma weighs |KL - capacity|; pass a capacity (in nats) with it, or drop gamma")
        kl_objective = kl_per_dimension(out.mu, out.logvar).clamp(min=free_bits).sum()
        return {"loss": recon + beta * kl_objective, "recon": recon, "kl": kl, "kl_objective": kl_objective}
    if capacity is None:
        if gamma is not None:
            raise ValueError("gamma weighs |KL - capacity|; pass a capacity (in nats) with it, or drop gamma")
        return {"loss": -terms.elbo.mean(), "recon": recon, "kl": kl}
    if isinstance(capacity, bool) or not isinstance(capacity, (int, float)) or not (math.isfinite(capacity) and capacity >= 0):
        raise ValueError(f"capacity must be a finite number of nats >= 0, got {capacity!r}")
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not (math.isfinite(gamma) and gamma > 0):
        raise ValueError(f"the capacity objective needs a positive finite gamma, got {gamma!r}")
    if beta != 1.0:
        raise ValueError(f"beta must stay 1 with a capacity: the capacity objective weighs |KL - C| by gamma, got beta={beta!r}")
    return {"loss": recon + gamma * (kl - capacity).abs(), "recon": recon, "kl": kl, "capacity": float(capacity)}


@torch.no_grad()
def elbo_estimate(model, x: torch.Tensor, draws: int = 10, seed: int = 0, batch_size: int = 500, **kwargs) -> torch.Tensor:
    """The ELBO of each example, averaged over ``draws`` samples of ``z``: ``(N,)``.

    Noise comes from a generator seeded with ``seed`` (the global RNG is not touched) and
    the model's training mode is restored afterwards. Keyword arguments go to :func:`elbo`.
    With a learned prior (``model.prior``, chapter 10) each draw's KL is the Monte Carlo one.
    """
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    try:
        totals = []
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size]
            mu, logvar = model.encode(xb)
            total = torch.zeros(len(xb), dtype=mu.dtype, device=mu.device)
            for _ in range(draws):
                eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
                z = mu + (0.5 * logvar).exp() * eps
                out = VAEOutput(logits=decode_for(model, z, xb), mu=mu, logvar=logvar, z=z, log_prior=prior_log_prob(model, z))
                total += elbo(xb, out, **kwargs).elbo
            totals.append(total / draws)
        return torch.cat(totals)
    finally:
        model.train(was_training)
