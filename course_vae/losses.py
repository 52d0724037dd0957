"""Reconstruction losses, one value per example. Taught in chapter 1 (the warm-up
exercise writes the same function)."""

from __future__ import annotations

import torch


def squared_error(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """The squared error of each example, summed over all of its entries.

    Args:
        x: targets ``(B, ...)``, e.g. ``(B, 1, 28, 28)``.
        x_hat: reconstructions of the same shape.

    Returns:
        ``(B,)``. Average it over the batch for a training loss.

    Raises:
        ValueError: if the shapes differ (broadcasting would silently mix examples).
    """
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must have the same shape, got {tuple(x.shape)} and {tuple(x_hat.shape)}")
    return (x - x_hat).pow(2).flatten(start_dim=1).sum(dim=1)
