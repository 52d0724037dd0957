"""Finite scalar quantization (FSQ): a VQ-VAE bottleneck without a learned codebook. Chapter 8.

Mentzer et al. (2023) replace the codebook by a fixed grid. Each of the ``d`` channels
of ``z_e`` is squashed into a bounded interval and rounded to one of ``L_i`` integer
levels, so the implicit codebook is the product grid of ``K = L_1 * ... * L_d`` points.
Rounding uses the straight-through gradient; there is nothing to learn in the grid, so
there is no codebook or commitment loss, and no code can die for lack of updates.
Taught in chapter 8.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .metrics.perplexity import perplexity_of_counts
from .quantizer import QuantizerOutput, channels_first, channels_last, index_shape


class FSQ(nn.Module):
    """Finite scalar quantization onto the grid of ``levels``: ``z_e (B, d, H, W) -> QuantizerOutput``.

    Channel ``i`` with ``L = levels[i]`` levels is bounded by
    ``b(z) = h tanh(z + s) - o`` with ``h = (L - 1)(1 + 1e-3) / 2``, an offset ``o = 1/2``
    for even ``L`` (0 for odd) and the shift ``s = atanh(o / h)``, which makes ``b(0) = 0``;
    the bounded value is rounded, ``q = round(b(z))`` in ``{-floor(L/2), ..., ceil(L/2) - 1}`` (``L`` integers), with
    the straight-through gradient (``d q / d b = 1``), and scaled to ``z_q = q / floor(L/2)``
    in ``[-1, 1]``. The code index is the mixed-radix number of the digits
    ``q + floor(L/2)``, the first channel the least significant.

    The output has the fields of :class:`course_vae.QuantizerOutput`; ``codebook_loss``,
    ``commitment_loss`` and ``loss`` are zero tensors. ``fsq.codebook`` is the implicit
    ``(K, d)`` grid, row ``k`` the point with index ``k``, so ``fsq.codebook[indices]``
    decodes indices as for :class:`course_vae.VectorQuantizer`. Taught in chapter 8.

    Args:
        levels: the number of levels of each channel, each at least 2 (the paper's
            ``(8, 5, 5, 5)`` gives ``K = 1000`` codes in ``d = 4`` channels).

    Raises:
        ValueError: for an empty ``levels`` or a level below 2.
    """

    def __init__(self, levels: Sequence[int] = (8, 5, 5, 5)) -> None:
        super().__init__()
        levels = tuple(levels)
        if not levels or any(isinstance(v, bool) or not isinstance(v, int) or v < 2 for v in levels):
            raise ValueError(f"levels must be a non-empty sequence of integers >= 2, e.g. (8, 5, 5, 5), got {levels!r}")
        self.levels = levels
        self.code_dim = len(levels)
        self.num_codes = math.prod(levels)
        lv = torch.tensor(levels, dtype=torch.float32)
        half = (lv - 1) * (1 + 1e-3) / 2  # 1 + eps keeps atanh(o / h) finite for L = 2
        offset = torch.where(lv % 2 == 0, 0.5, 0.0)
        self.register_buffer("_half", half)
        self.register_buffer("_offset", offset)
        self.register_buffer("_shift", torch.atanh(offset / half))
        self.register_buffer("_half_width", torch.tensor([v // 2 for v in levels], dtype=torch.float32))
        radix = [1]
        for v in levels[:-1]:
            radix.append(radix[-1] * v)
        self.register_buffer("_radix", torch.tensor(radix, dtype=torch.long))
        self.register_buffer("codebook", self.indices_to_codes(torch.arange(self.num_codes)))

    def extra_repr(self) -> str:
        return f"levels={self.levels}, num_codes={self.num_codes}"

    def bound(self, flat: torch.Tensor) -> torch.Tensor:
        """Squash ``(N, d)`` into the interval of each channel, before rounding."""
        return torch.tanh(flat + self._shift) * self._half - self._offset

    def codes_to_indices(self, codes: torch.Tensor) -> torch.Tensor:
        """Grid points ``(..., d)`` (values ``q / floor(L/2)``) to code indices ``(...)`` int64."""
        digits = torch.round(codes * self._half_width + self._half_width).long()
        return (digits * self._radix).sum(-1)

    def indices_to_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """Code indices ``(...)`` in ``[0, K)`` to grid points ``(..., d)`` in ``[-1, 1]``."""
        indices = torch.as_tensor(indices).long()
        if indices.numel() and (indices.min() < 0 or indices.max() >= self.num_codes):
            raise ValueError(f"indices must lie in [0, {self.num_codes}), got values in "
                             f"[{int(indices.min())}, {int(indices.max())}]")
        levels = torch.tensor(self.levels, device=indices.device)
        digits = (indices[..., None] // self._radix.to(indices.device)) % levels
        return (digits.float() - self._half_width) / self._half_width

    def forward(self, z_e: torch.Tensor) -> QuantizerOutput:
        """Quantize ``z_e (B, d, H, W)`` or ``(B, d)``; ``d = len(levels)``."""
        flat = channels_last(z_e, self.code_dim, "FSQ")
        bounded = self.bound(flat)
        rounded = bounded + (torch.round(bounded) - bounded).detach()  # straight-through rounding
        quantized = rounded / self._half_width
        indices = self.codes_to_indices(quantized.detach())
        zero = flat.new_zeros(())
        counts = torch.bincount(indices, minlength=self.num_codes)
        return QuantizerOutput(
            z_q=channels_first(quantized, z_e),
            indices=indices.reshape(index_shape(z_e)),
            codebook_loss=zero, commitment_loss=zero, loss=zero,
            perplexity=perplexity_of_counts(counts),
        )
