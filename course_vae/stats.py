"""Averages with their standard errors, as the chapters print them ("3.08 +- 0.25")."""

from __future__ import annotations

import math

import torch


def mean_and_stderr(values) -> tuple[float, float]:
    """The average of ``N`` values and its standard error, ``std / sqrt(N)``.

    ``std`` is the sample standard deviation (divisor ``N - 1``). For a paired comparison
    of two models scored on the same examples, pass the per-example differences,
    ``mean_and_stderr(a - b)``: the spread of the differences, not of each model's
    scores, is what decides whether the gap is real. Used from chapter 4 on (IWAE gains,
    holes, paired ELBO differences).

    Args:
        values: a 1-D tensor, array or sequence ``(N,)`` of numbers, ``N >= 2``; the
            arithmetic stays in its dtype (float32 stays float32).

    Returns:
        ``(mean, stderr)`` as Python floats.

    Raises:
        ValueError: if ``values`` is not 1-D or has fewer than two entries.
    """
    values = torch.as_tensor(values)
    if values.dim() != 1 or len(values) < 2:
        raise ValueError(f"values must be 1-D with at least 2 entries, got shape {tuple(values.shape)}")
    if not values.is_floating_point():
        values = values.double()
    return values.mean().item(), (values.std() / math.sqrt(len(values))).item()
