"""The perplexity of code usage: the effective number of codes in use. Chapter 8.

If code ``k`` is used a fraction ``p_k`` of the time, the perplexity is

    exp(H(p)) = exp(-sum_k p_k log p_k),

with ``0 log 0 = 0``. It is ``K`` when all ``K`` codes are used equally often and 1 when
a single code is used: a codebook with perplexity 20 out of ``K = 128`` codes carries as
much information per position as 20 equally used codes. Taught in chapter 8.
"""

from __future__ import annotations

import torch

from .code_usage import code_usage


def perplexity_of_counts(counts: torch.Tensor) -> torch.Tensor:
    """``exp`` of the entropy (nats) of the usage distribution ``counts / counts.sum()``: ``(K,) -> ()``.

    Differentiable in float ``counts`` and kept as a tensor, for use inside a model
    (:class:`course_vae.VectorQuantizer` reports it per batch). Zero counts add nothing.
    """
    counts = counts if counts.is_floating_point() else counts.float()
    p = counts / counts.sum()
    entropy = -torch.xlogy(p, p).sum()  # xlogy(0, 0) = 0
    return entropy.exp()


def perplexity(indices, num_codes: int) -> float:
    """The perplexity ``exp(H)`` of the code usage in integer ``indices`` (any shape).

    ``K`` for uniform usage of all ``num_codes = K`` codes, 1 when only one code occurs.
    Taught in chapter 8.

    Args:
        indices: integer code numbers in ``[0, K)``, e.g. a ``(B, H, W)`` grid.
        num_codes: ``K``, the size of the codebook.

    Raises:
        ValueError: as :func:`course_vae.metrics.code_usage`.
    """
    return float(perplexity_of_counts(code_usage(indices, num_codes).double()))
