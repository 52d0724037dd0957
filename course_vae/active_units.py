"""Active units: which latent coordinates a VAE actually uses. Taught in chapter 6."""

from __future__ import annotations

import math

import torch


def unit_activity(mu: torch.Tensor) -> torch.Tensor:
    """The activity of each latent unit: how much its posterior mean varies over the data.

    ``A_u = Cov_x(E_q[z_u | x])`` of Burda et al. (2016): the variance, over the ``N``
    examples, of the ``u``-th coordinate of the posterior mean. A unit whose posterior
    mean is the same for every input carries no information about the input, whatever
    its KL. The population variance is used (divide by ``N``, ``correction=0``); with the
    thousands of examples the activity is measured on, ``N - 1`` changes nothing visible.
    Taught in chapter 6.

    Args:
        mu: posterior means ``(N, d)`` of ``N`` examples (e.g. the encoder's ``mu`` on
            the test set).

    Returns:
        ``(d,)``: the activity of each unit, non-negative, in the dtype of ``mu``.

    Raises:
        ValueError: if ``mu`` is not a 2-D tensor ``(N, d)`` with ``N >= 2``.
    """
    if not isinstance(mu, torch.Tensor) or mu.dim() != 2:
        shape = tuple(mu.shape) if isinstance(mu, torch.Tensor) else type(mu).__name__
        raise ValueError(f"mu must be a tensor of posterior means with shape (N, d), got {shape}")
    if mu.shape[0] < 2:
        raise ValueError(f"the activity is a variance over examples: mu needs N >= 2 rows, got shape {tuple(mu.shape)}")
    return mu.var(dim=0, correction=0)


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> int:
    """The number of active latent units: those whose activity exceeds ``threshold``.

    Unit ``u`` is active when ``Cov_x(E_q[z_u | x]) > threshold`` (strictly), with the
    activity of :func:`unit_activity`; Burda et al. (2016) use ``threshold = 0.01``.
    Taught in chapter 6.

    Args:
        mu: posterior means ``(N, d)`` of ``N >= 2`` examples.
        threshold: a finite number ``>= 0``.

    Returns:
        The number of active units, an ``int`` between 0 and ``d``.

    Raises:
        ValueError: for a bad ``mu`` (see :func:`unit_activity`) or a negative or
            non-finite ``threshold``.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not (math.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold must be a finite number >= 0 (Burda et al. use 0.01), got {threshold!r}")
    return int((unit_activity(mu) > threshold).sum())
