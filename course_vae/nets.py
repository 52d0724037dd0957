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
    unconstrained: any real output is a valid log-variance. A ``trunk`` module, if given,
    replaces the MLP and must map the input to ``(B, sizes[-1])`` features (chapter 5's
    :func:`conv_encoder` passes convolutions). Taught in chapter 2, used by the VAE of
    chapter 4.
    """

    def __init__(self, sizes: Sequence[int], latent_dim: int, activation: Callable[[], nn.Module] = nn.ReLU,
                 trunk: nn.Module | None = None) -> None:
        super().__init__()
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}")
        sizes = list(sizes)
        if trunk is not None:  # a given trunk (e.g. convolutions) ending in sizes[-1] features
            self.trunk = trunk
        else:
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


def _conv_plan(image_shape: Sequence[int], channels: Sequence[int], name: str) -> tuple[int, int, int]:
    """Check the arguments of the conv blocks; return ``(C, H, W)`` of the image."""
    image_shape = tuple(image_shape)
    if len(image_shape) != 3 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in image_shape):
        raise ValueError(f"{name}: image_shape must be (C, H, W) with positive integers, got {image_shape}")
    channels = list(channels)
    if not channels or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in channels):
        raise ValueError(f"{name}: channels must be a non-empty sequence of positive integers, got {channels}")
    factor = 2 ** len(channels)
    _, height, width = image_shape
    if height % factor or width % factor:
        raise ValueError(f"{name}: {len(channels)} stride-2 layers need H and W divisible by {factor}, "
                         f"got {height} x {width}; use fewer channels entries or another image size")
    return image_shape


def _downsampling(n_in: int, channels: Sequence[int], activation: Callable[[], nn.Module]) -> tuple[list[nn.Module], int]:
    """One ``Conv2d(kernel 4, stride 2, padding 1)`` and activation per entry of ``channels``.

    Returns the layers and the number of channels they output. Shared by
    :func:`conv_encoder` and the grid encoder of chapter 8.
    """
    layers: list[nn.Module] = []
    for n_out in channels:
        layers += [nn.Conv2d(n_in, n_out, kernel_size=4, stride=2, padding=1), activation()]
        n_in = n_out
    return layers, n_in


def _upsampling(channels: Sequence[int], n_final: int, activation: Callable[[], nn.Module]) -> list[nn.Module]:
    """One ``ConvTranspose2d(kernel 4, stride 2, padding 1)`` per entry of ``channels``.

    Layer ``i`` reads ``channels[i]`` channels and writes ``channels[i + 1]`` (the last
    writes ``n_final``, with no activation after it). Shared by :func:`conv_decoder` and
    the grid decoder of chapter 8.
    """
    layers: list[nn.Module] = []
    outs = [*channels[1:], n_final]
    for i, (n_in, n_out) in enumerate(zip(channels, outs)):
        layers.append(nn.ConvTranspose2d(n_in, n_out, kernel_size=4, stride=2, padding=1))
        if i < len(channels) - 1:
            layers.append(activation())
    return layers


def conv_encoder(latent_dim: int, image_shape: Sequence[int] = (1, 32, 32), channels: Sequence[int] = (16, 32, 32),
                 hidden: int = 128, activation: Callable[[], nn.Module] = nn.ReLU) -> GaussianEncoder:
    """A convolutional Gaussian encoder ``x (B, C, H, W) -> (mu (B, d), logvar (B, d))``.

    One ``Conv2d(kernel 4, stride 2, padding 1)`` per entry of ``channels``, each halving
    the height and width, then a linear layer to ``hidden`` features and the two heads of
    :class:`GaussianEncoder`: the encoder of Burgess et al. (2018), smaller. Pass it to
    ``VAE(encoder=...)``. Taught in chapter 5.

    Raises:
        ValueError: if ``H`` or ``W`` is not divisible by ``2 ** len(channels)``, or for
            non-positive sizes.
    """
    image_shape = _conv_plan(image_shape, channels, "conv_encoder")
    layers, n_in = _downsampling(image_shape[0], channels, activation)
    side_h, side_w = image_shape[1] >> len(channels), image_shape[2] >> len(channels)
    layers += [nn.Flatten(), nn.Linear(n_in * side_h * side_w, hidden), activation()]
    return GaussianEncoder([hidden], latent_dim, activation, trunk=nn.Sequential(*layers))


def conv_decoder(latent_dim: int, image_shape: Sequence[int] = (1, 32, 32), channels: Sequence[int] = (32, 32, 16),
                 hidden: int = 128, activation: Callable[[], nn.Module] = nn.ReLU) -> nn.Sequential:
    """A convolutional decoder ``z (B, d) -> logits (B, C, H, W)``, the mirror of :func:`conv_encoder`.

    Linear layers to ``hidden`` features and to a ``channels[0] x H/2^n x W/2^n`` map,
    then one ``ConvTranspose2d(kernel 4, stride 2, padding 1)`` per entry of ``channels``,
    each doubling the height and width; the last one outputs ``C`` channels of logits
    (no activation). Pass it to ``VAE(decoder=...)``. Taught in chapter 5.

    Raises:
        ValueError: as :func:`conv_encoder`, and for a non-positive ``latent_dim``.
    """
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
        raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}")
    image_shape = _conv_plan(image_shape, channels, "conv_decoder")
    n = len(channels)
    side_h, side_w = image_shape[1] >> n, image_shape[2] >> n
    layers: list[nn.Module] = [nn.Linear(latent_dim, hidden), activation(),
                               nn.Linear(hidden, channels[0] * side_h * side_w), activation(),
                               nn.Unflatten(1, (channels[0], side_h, side_w))]
    layers += _upsampling(channels, image_shape[0], activation)
    return nn.Sequential(*layers)
