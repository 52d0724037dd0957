"""Small network blocks that models take as arguments, so a chapter can swap them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


def mlp(
    sizes: Sequence[int],
    activation: Callable[[], nn.Module] = nn.ReLU,
    out_activation: Callable[[], nn.Module] | None = None,
) -> nn.Sequential:
    """A multilayer perceptron: Linear layers with an activation between them.

    ``mlp([784, 256, 2])`` is ``Linear(784, 256), ReLU, Linear(256, 2)``: there is no
    activation after the last layer unless ``out_activation`` is given. The input is
    ``(B, sizes[0])`` and the output ``(B, sizes[-1])``; flatten images first
    (``nn.Flatten()``). Used from chapter 1 on.

    Args:
        sizes: layer widths, input first; at least two positive integers.
        activation: a module class (or factory) put between layers, e.g. ``nn.ReLU``.
        out_activation: an optional module class for the output, e.g. ``nn.Sigmoid``.

    Raises:
        ValueError: if ``sizes`` has fewer than two entries or a non-positive one.
    """
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"mlp needs at least two sizes (input and output), got {sizes}")
    if any(isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in sizes):
        raise ValueError(f"mlp sizes must be positive integers, got {sizes}")
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    if out_activation is not None:
        layers.append(out_activation())
    return nn.Sequential(*layers)


def image_encoder(sizes: Sequence[int], activation: Callable[[], nn.Module] = nn.ReLU) -> nn.Sequential:
    """An MLP that reads images: ``(B, C, H, W) -> (B, sizes[-1])``.

    ``sizes[0]`` must be ``C * H * W`` (784 for MNIST). Used from chapter 1 on.
    """
    return nn.Sequential(nn.Flatten(), mlp(sizes, activation))


def image_decoder(
    sizes: Sequence[int],
    image_shape: Sequence[int] = (1, 28, 28),
    activation: Callable[[], nn.Module] = nn.ReLU,
    out_activation: Callable[[], nn.Module] | None = None,
) -> nn.Sequential:
    """An MLP that writes images: ``(B, sizes[0]) -> (B, *image_shape)``.

    ``sizes[-1]`` must equal the number of pixels of ``image_shape``. Used from chapter 1 on.

    Raises:
        ValueError: if ``sizes[-1]`` does not match ``image_shape``.
    """
    sizes, image_shape = list(sizes), tuple(image_shape)
    n_pixels = 1
    for dim in image_shape:
        n_pixels *= dim
    if sizes and sizes[-1] != n_pixels:
        raise ValueError(f"image_decoder: the last size {sizes[-1]} must equal the {n_pixels} values of an image of shape {image_shape}")
    return nn.Sequential(mlp(sizes, activation, out_activation), nn.Unflatten(1, image_shape))


class GaussianEncoder(nn.Module):
    """An amortized Gaussian encoder: ``x -> (mu, logvar)`` through a shared trunk.

    ``GaussianEncoder([784, 256], latent_dim=2)`` flattens the input, applies
    ``mlp([784, 256])`` and the activation, then two linear heads give the mean and the
    log-variance of ``q(z | x) = N(mu, diag(exp(logvar)))``. The log-variance head is
    unconstrained: any real output is a valid log-variance. Taught in chapter 2, used
    by the VAE of chapter 4.
    """

    def __init__(self, sizes: Sequence[int], latent_dim: int, activation: Callable[[], nn.Module] = nn.ReLU) -> None:
        super().__init__()
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}")
        sizes = list(sizes)
        self.trunk = nn.Sequential(nn.Flatten(), mlp(sizes, activation), activation()) if len(sizes) > 1 else nn.Flatten()
        width = sizes[-1] if sizes else 0
        if width < 1:
            raise ValueError(f"GaussianEncoder needs at least the input size, got sizes {sizes}")
        self.mu = nn.Linear(width, latent_dim)
        self.logvar = nn.Linear(width, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, ...) -> (mu (B, d), logvar (B, d))``."""
        h = self.trunk(x)
        return self.mu(h), self.logvar(h)
