"""Sharpness of images: the variance of their Laplacian. Taught in chapter 9.

The discrete Laplacian ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]`` responds to edges and is 0
on flat or linearly varying regions; a blurred image has weaker edges, so the variance of
its Laplacian over the pixels is smaller. A common focus measure (Pech-Pacheco et al.
2000), here per image, computed on the image's own pixels (no padding).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def laplacian(images: torch.Tensor) -> torch.Tensor:
    """The 3x3 Laplacian of each channel: ``(N, C, H, W) -> (N, C, H - 2, W - 2)`` (no padding)."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[-1] < 3 or images.shape[-2] < 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a tensor (N, C, H, W) with H, W >= 3, got {shape}")
    if not torch.is_floating_point(images):
        raise ValueError(f"images must be floating point (e.g. intensities in [0, 1]), got dtype {images.dtype}")
    n, c, h, w = images.shape
    kernel = LAPLACIAN.to(images.dtype).to(images.device).view(1, 1, 3, 3)
    return F.conv2d(images.reshape(n * c, 1, h, w), kernel).reshape(n, c, h - 2, w - 2)


def sharpness(images: torch.Tensor) -> torch.Tensor:
    """Variance of the Laplacian of each image: ``(N, C, H, W) -> (N,)``.

    Higher is sharper; 0 for a constant image. Compare images on the same intensity
    scale (e.g. [0, 1]). Chapter 9.

    Raises:
        ValueError: for anything but a floating-point tensor ``(N, C, H, W)`` with ``H, W >= 3``.
    """
    with torch.no_grad():
        return laplacian(images).flatten(1).var(dim=1, unbiased=False)
