"""How often each code of a codebook is used, and how many are never used. Chapter 8.

A vector quantizer with ``K`` codes maps every encoder output to one code index. Counting
the indices over a data set shows how much of the codebook the model really uses: a
*dead* code is one that no input selects, so it receives no training signal (no gradient
and no EMA update) and stays dead. Taught in chapter 8.
"""

from __future__ import annotations

import torch


def _check_num_codes(num_codes: object) -> int:
    if isinstance(num_codes, bool) or not isinstance(num_codes, int) or num_codes < 1:
        raise ValueError(f"num_codes must be a positive integer, got {num_codes!r}")
    return num_codes


def _as_indices(indices, num_codes: int) -> torch.Tensor:
    """Flatten integer code indices of any shape to ``(N,)`` int64 and check their range."""
    indices = torch.as_tensor(indices)
    if indices.is_floating_point() or indices.is_complex() or indices.dtype == torch.bool:
        raise ValueError(f"indices must be integer code numbers, got dtype {indices.dtype}")
    indices = indices.reshape(-1).long()
    if indices.numel() == 0:
        raise ValueError("indices is empty: there is no code usage to measure")
    low, high = int(indices.min()), int(indices.max())
    if low < 0 or high >= num_codes:
        raise ValueError(f"indices must lie in [0, {num_codes}) for num_codes={num_codes}, got values in [{low}, {high}]")
    return indices


def code_usage(indices, num_codes: int) -> torch.Tensor:
    """How many times each code is used: integer ``indices`` of any shape ``-> (K,)`` int64 counts.

    ``indices`` holds code numbers in ``[0, K)``, e.g. the ``(B, H, W)`` grid of a
    VQ-VAE's :class:`course_vae.QuantizerOutput`; every entry counts once. Taught in
    chapter 8.

    Args:
        indices: an integer tensor (or array) of code numbers, any shape.
        num_codes: ``K``, the size of the codebook.

    Raises:
        ValueError: for a non-integer dtype, an empty tensor, indices outside ``[0, K)`` or
            a non-positive ``num_codes``.
    """
    num_codes = _check_num_codes(num_codes)
    return torch.bincount(_as_indices(indices, num_codes), minlength=num_codes)


def dead_codes(indices, num_codes: int) -> int:
    """The number of codes in ``[0, K)`` that never occur in ``indices`` (any shape).

    Measure it on many inputs (a whole data set): a code that a single batch misses may
    still be alive. Taught in chapter 8. Raises ``ValueError`` as :func:`code_usage`.
    """
    return int((code_usage(indices, num_codes) == 0).sum())
