"""Closed-form KL divergences between Gaussians. Taught in chapter 2."""

from __future__ import annotations

import torch


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """``KL(N(mu, diag(exp(logvar))) || N(0, I))`` for each example.

    The closed form, summed over the ``d`` latent dimensions:
    ``1/2 * sum_j (exp(logvar_j) + mu_j^2 - 1 - logvar_j)``.

    Args:
        mu: means ``(B, d)``.
        logvar: log-variances ``(B, d)`` (natural log of sigma^2).
        reduction: ``"sum"`` over latent dimensions (the KL), or ``"none"`` for the
            contribution of each dimension, ``(B, d)`` (chapter 4 reads it per coordinate).

    Returns:
        ``(B,)`` (or ``(B, d)``), non-negative.

    Raises:
        ValueError: if the shapes differ or ``reduction`` is unknown.
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    if reduction not in ("sum", "none"):
        raise ValueError(f"reduction must be 'sum' or 'none', got {reduction!r}")
    per_dimension = 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar)
    return per_dimension.sum(dim=-1) if reduction == "sum" else per_dimension


def kl_per_dimension(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The KL to the prior carried by each latent dimension, averaged over the batch.

    ``gaussian_kl(mu, logvar, reduction="none").mean(0)``: entry ``j`` is the average of
    ``1/2 (exp(logvar_j) + mu_j^2 - 1 - logvar_j)`` over the examples, and the entries sum
    to the average KL. A dimension near 0 carries no information (its posterior is the
    prior for every example). Taught in chapter 5 (which dimensions a beta-VAE uses),
    reused in chapter 6 (posterior collapse).

    Args:
        mu: means ``(B, d)``.
        logvar: log-variances ``(B, d)``.

    Returns:
        ``(d,)``, non-negative.
    """
    if mu.dim() != 2:
        raise ValueError(f"mu and logvar must have shape (B, d), got {tuple(mu.shape)}")
    return gaussian_kl(mu, logvar, reduction="none").mean(dim=0)


def gaussian_kl_full(mu0: torch.Tensor, cov0: torch.Tensor, mu1: torch.Tensor, cov1: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu0, cov0) || N(mu1, cov1))`` for full covariance matrices, batched.

    ``1/2 * (tr(cov1^-1 cov0) + (mu1 - mu0)^T cov1^-1 (mu1 - mu0) - k + log det cov1 - log det cov0)``,
    computed through Cholesky factors. Leading (batch) dimensions broadcast.

    Args:
        mu0, mu1: means ``(..., k)``.
        cov0, cov1: covariance matrices ``(..., k, k)``, symmetric positive definite.

    Returns:
        ``(...)``: one KL per broadcast batch element.

    Raises:
        ValueError: if the dimensions disagree or a covariance is not positive definite.
    """
    k = mu0.shape[-1]
    for name, cov in (("cov0", cov0), ("cov1", cov1)):
        if cov.shape[-2:] != (k, k):
            raise ValueError(f"{name} must have shape (..., {k}, {k}) to match the means, got {tuple(cov.shape)}")
    if mu1.shape[-1] != k:
        raise ValueError(f"mu0 and mu1 must have the same last dimension, got {k} and {mu1.shape[-1]}")
    factors = []
    for name, cov in (("cov0", cov0), ("cov1", cov1)):
        chol, info = torch.linalg.cholesky_ex(cov)
        if bool((info != 0).any()):
            raise ValueError(f"{name} is not symmetric positive definite")
        factors.append(chol)
    l0, l1 = factors
    batch = torch.broadcast_shapes(l0.shape[:-2], l1.shape[:-2], mu0.shape[:-1], mu1.shape[:-1])
    l0, l1 = l0.expand(*batch, k, k), l1.expand(*batch, k, k)
    # tr(cov1^-1 cov0) = ||L1^-1 L0||_F^2
    trace = torch.linalg.solve_triangular(l1, l0, upper=False).pow(2).sum(dim=(-2, -1))
    diff = (mu1 - mu0).expand(*batch, k).unsqueeze(-1)
    mahalanobis = torch.linalg.solve_triangular(l1, diff, upper=False).pow(2).sum(dim=(-2, -1))
    logdet0 = 2 * torch.log(torch.diagonal(l0, dim1=-2, dim2=-1)).sum(-1)
    logdet1 = 2 * torch.log(torch.diagonal(l1, dim1=-2, dim2=-1)).sum(-1)
    return 0.5 * (trace + mahalanobis - k + logdet1 - logdet0)
