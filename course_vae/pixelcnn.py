"""A PixelCNN prior over the code grid of a VQ-VAE. Taught in chapter 8.

The VQ-VAE is trained with a uniform prior over codes; to generate, a prior over the
``H x W`` grid of code indices is learned afterwards. This one is autoregressive in
raster order, ``p(k) = prod_i p(k_i | k_<i)``, built from masked convolutions
(van den Oord et al., 2016): the first layer (mask type A) lets position ``i`` see only
positions strictly before it, the later layers (type B) also see their own position,
whose features already depend on earlier positions only. One forward pass gives the
logits of every position at once (training); sampling fills the grid one position at a
time.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


class MaskedConv2d(nn.Conv2d):
    """A ``Conv2d`` with odd kernel whose weights after the centre (raster order) are zero.

    Type ``"A"`` also zeroes the centre (the output at a position does not see that
    position), type ``"B"`` keeps it. Padding keeps the height and width.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str) -> None:
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd positive integer, got {kernel_size!r}")
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        mask = torch.ones(kernel_size, kernel_size)
        centre = kernel_size // 2
        mask[centre, centre + (mask_type == "B"):] = 0  # the centre row from the centre (A) or after it (B)
        mask[centre + 1:] = 0  # every row below
        self.mask_type = mask_type
        self.register_buffer("mask", mask[None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, H, W) -> (B, C_out, H, W)`` with the masked kernel."""
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class PixelCNNPrior(nn.Module):
    """An autoregressive prior ``p(k) = prod_i p(k_i | k_<i)`` over a grid of code indices.

    ``PixelCNNPrior(num_codes=64, grid=(7, 7))`` embeds each index (``nn.Embedding``),
    applies one type-A masked convolution (kernel 7) and ``layers - 1`` type-B ones
    (kernel 3) with ReLUs, then a ``1 x 1`` convolution to ``K`` logits per position.
    Position ``i`` (raster order) sees positions before it only, so the logits of all
    positions come from one pass. Like the original PixelCNN, the stack has a blind spot:
    the part of the earlier rows up and to the right of a position beyond the kernels'
    reach is not seen (the gated PixelCNN of van den Oord et al., 2016, removes it with
    separate vertical and horizontal stacks); the model is still a valid autoregressive
    one, only a less expressive one. Taught in chapter 8.

    Args:
        num_codes: ``K``, the number of code values.
        grid: ``(H, W)``, the size of the code grid (7 x 7 for the chapter's VQ-VAE).
        channels: the feature channels of every layer.
        layers: the number of masked convolutions (at least 1).

    Raises:
        ValueError: for non-positive sizes.
    """

    def __init__(self, num_codes: int, grid: Sequence[int] = (7, 7), channels: int = 64, layers: int = 5) -> None:
        super().__init__()
        for name, value in (("num_codes", num_codes), ("channels", channels), ("layers", layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        grid = tuple(grid)
        if len(grid) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in grid):
            raise ValueError(f"grid must be (H, W) with positive integers, got {grid!r}")
        self.num_codes, self.grid = num_codes, grid
        self.embed = nn.Embedding(num_codes, channels)
        convs: list[nn.Module] = [MaskedConv2d(channels, channels, 7, "A")]
        for _ in range(layers - 1):
            convs += [nn.ReLU(), MaskedConv2d(channels, channels, 3, "B")]
        self.body = nn.Sequential(*convs, nn.ReLU(), nn.Conv2d(channels, num_codes, 1))

    def _check(self, indices: torch.Tensor) -> torch.Tensor:
        if not isinstance(indices, torch.Tensor) or indices.is_floating_point() or indices.dtype == torch.bool:
            raise ValueError(f"indices must be an integer tensor of code numbers, got {getattr(indices, 'dtype', type(indices))}")
        if indices.dim() != 3 or tuple(indices.shape[1:]) != self.grid:
            raise ValueError(f"indices must have shape (B, {self.grid[0]}, {self.grid[1]}), got {tuple(indices.shape)}")
        if indices.numel() and (indices.min() < 0 or indices.max() >= self.num_codes):
            raise ValueError(f"indices must lie in [0, {self.num_codes}), got values in "
                             f"[{int(indices.min())}, {int(indices.max())}]")
        return indices.long()

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        """``indices (B, H, W)`` int -> logits ``(B, K, H, W)`` of ``p(k_i | k_<i)`` at every position."""
        h = self.embed(self._check(indices)).permute(0, 3, 1, 2)
        return self.body(h)

    def nll(self, indices: torch.Tensor) -> torch.Tensor:
        """``-log p(k)`` in nats for each grid: ``(B, H, W) -> (B,)`` (cross-entropy summed over positions).

        Compare with ``H * W * log K`` nats, the cost of the uniform prior.
        """
        logits = self(indices)
        return F.cross_entropy(logits, indices.long(), reduction="none").flatten(1).sum(1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` grids ``(n, H, W)`` int64, position by position in raster order.

        Each step runs the whole network and samples position ``i`` from its softmax
        (``torch.multinomial`` with ``generator``, so a seeded generator repeats the
        samples); the positions after ``i`` do not affect it. Runs in eval mode and
        restores the previous mode.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        was_training = self.training
        self.eval()
        device = self.embed.weight.device
        grid = torch.zeros(n, *self.grid, dtype=torch.long, device=device)
        try:
            for row in range(self.grid[0]):
                for col in range(self.grid[1]):
                    probs = F.softmax(self(grid)[:, :, row, col], dim=1)
                    grid[:, row, col] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        finally:
            self.train(was_training)
        return grid
