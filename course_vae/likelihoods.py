"""Decoder log-likelihoods ``log p(x | z)``, one value per example. Taught in chapter 2."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``log p(x | z)`` for independent Bernoulli pixels with the given logits.

    ``sum_j x_j log sigmoid(l_j) + (1 - x_j) log(1 - sigmoid(l_j))``: the negative binary
    cross-entropy, summed over every dimension of an example. Computed from logits
    (never from probabilities) so that it stays finite.

    Args:
        x: targets in [0, 1], ``(B, ...)``; binary for a true Bernoulli likelihood.
        logits: decoder outputs of the same shape.

    Returns:
        ``(B,)``, in nats.

    Raises:
        ValueError: if the shapes differ or ``x`` leaves [0, 1].
    """
    if x.shape != logits.shape:
        raise ValueError(f"x and logits must have the same shape, got {tuple(x.shape)} and {tuple(logits.shape)}")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"Bernoulli targets must lie in [0, 1], got values in [{x.min().item():.3g}, {x.max().item():.3g}]")
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(start_dim=1).sum(dim=1)


def gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor | float) -> torch.Tensor:
    """``log N(x; mean, diag(exp(logvar)))``, summed over every dimension of an example.

    ``-1/2 * sum_j (log(2 pi) + logvar_j + (x_j - mean_j)^2 / exp(logvar_j))``. With a
    fixed variance ``sigma^2`` this is ``-||x - mean||^2 / (2 sigma^2)`` plus a constant.

    Args:
        x: targets ``(B, ...)``.
        mean: decoder means of the same shape.
        logvar: log-variances broadcastable to ``x`` (a float for a fixed variance).

    Returns:
        ``(B,)``, in nats.

    Raises:
        ValueError: if ``x`` and ``mean`` have different shapes.
    """
    if x.shape != mean.shape:
        raise ValueError(f"x and mean must have the same shape, got {tuple(x.shape)} and {tuple(mean.shape)}")
    logvar = torch.as_tensor(logvar, dtype=x.dtype, device=x.device)
    per_dim = -0.5 * (math.log(2 * math.pi) + logvar + (x - mean).pow(2) / logvar.exp())
    return per_dim.expand_as(x).flatten(start_dim=1).sum(dim=1)
