"""The VQ-VAE: a convolutional autoencoder with a vector-quantized code grid. Taught in chapter 8.

The encoder maps an image to a grid of ``D``-vectors ``z_e``, the quantizer replaces each
by a code (:class:`course_vae.VectorQuantizer` or :class:`course_vae.FSQ`), and the decoder
maps the grid of codes ``z_q`` back to Bernoulli logits (van den Oord et al., 2017).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .fsq import FSQ
from .likelihoods import bernoulli_log_likelihood
from .nets import _conv_plan, _downsampling, _upsampling
from .quantizer import QuantizerOutput, VectorQuantizer


@dataclass
class VQVAEOutput:
    """What :meth:`VQVAE.forward` returns."""

    logits: torch.Tensor  # (B, C, H, W) Bernoulli logits of the reconstruction
    z_e: torch.Tensor  # (B, D, h, w) encoder outputs before quantization
    quantized: QuantizerOutput  # z_q, indices, loss terms, perplexity


def grid_encoder(code_dim: int, image_shape: Sequence[int] = (1, 28, 28), channels: Sequence[int] = (32, 64),
                 activation: Callable[[], nn.Module] = nn.ReLU, normalize: bool = False) -> nn.Sequential:
    """A convolutional encoder to a grid of vectors: ``(B, C, H, W) -> (B, D, H/2^n, W/2^n)``.

    The convolutions of :func:`course_vae.conv_encoder` (one ``Conv2d(kernel 4, stride 2,
    padding 1)`` per entry of ``channels``), then a ``3 x 3`` convolution and a ``1 x 1``
    convolution to ``D`` channels instead of a linear layer: the code keeps its spatial
    layout. For MNIST and two entries, a 7 x 7 grid. With ``normalize=True`` a
    ``BatchNorm2d(D, affine=False)`` ends the encoder, so each output channel has mean 0
    and variance 1 over the batch (running averages in eval mode). Taught in chapter 8.
    """
    image_shape = _conv_plan(image_shape, channels, "grid_encoder")
    layers, n_in = _downsampling(image_shape[0], channels, activation)
    layers += [nn.Conv2d(n_in, n_in, kernel_size=3, padding=1), activation(), nn.Conv2d(n_in, code_dim, kernel_size=1)]
    if normalize:
        layers.append(nn.BatchNorm2d(code_dim, affine=False))
    return nn.Sequential(*layers)


def grid_decoder(code_dim: int, image_shape: Sequence[int] = (1, 28, 28), channels: Sequence[int] = (64, 32),
                 activation: Callable[[], nn.Module] = nn.ReLU) -> nn.Sequential:
    """The mirror of :func:`grid_encoder`: ``(B, D, H/2^n, W/2^n) -> logits (B, C, H, W)``.

    A ``3 x 3`` convolution to ``channels[0]``, then one ``ConvTranspose2d(kernel 4,
    stride 2, padding 1)`` per entry of ``channels`` as in :func:`course_vae.conv_decoder`,
    the last one to ``C`` channels of logits. Taught in chapter 8.
    """
    image_shape = _conv_plan(image_shape, channels, "grid_decoder")
    layers: list[nn.Module] = [nn.Conv2d(code_dim, channels[0], kernel_size=3, padding=1), activation()]
    layers += _upsampling(channels, image_shape[0], activation)
    return nn.Sequential(*layers)


class VQVAE(nn.Module):
    """A VQ-VAE: ``x -> z_e`` (a ``D x h x w`` grid) ``-> z_q`` (nearest codes) ``-> logits``.

    ``VQVAE(num_codes=64, code_dim=8)`` builds :func:`grid_encoder` (two stride-2
    convolutions: a 7 x 7 grid for 28 x 28 images), a :class:`course_vae.VectorQuantizer`
    with ``K`` codes of dimension ``D`` and :func:`grid_decoder`. ``forward`` computes no
    loss: see :func:`vqvae_loss`. Taught in chapter 8.

    Args:
        num_codes: ``K``; ignored (may be ``None``) when ``quantizer`` is given.
        code_dim: ``D``, the channels of the code grid; must equal ``quantizer.code_dim``
            when ``quantizer`` is given (``len(levels)`` for :class:`course_vae.FSQ`).
        image_shape: ``(C, H, W)``.
        channels: the encoder's stride-2 convolutions; the decoder mirrors them.
        quantizer: an optional ready quantizer module (e.g. ``FSQ((8, 5, 5, 5))``).
        activation: the activation of the convolutional blocks.
        encoder_norm: end the encoder with a ``BatchNorm2d(D, affine=False)``
            (:func:`grid_encoder` with ``normalize=True``). ``None`` (default) means yes
            for an :class:`course_vae.FSQ` quantizer and no otherwise. FSQ's grid is
            fixed: without the normalization, the small encoder pushes its outputs
            deep into the ``tanh`` of the bound (Adam keeps stepping on the tiny
            saturated gradients) and only a handful of the grid's codes get used.
        **quantizer_kwargs: passed to :class:`course_vae.VectorQuantizer` (``beta``,
            ``ema_decay``, ``eps``, ``dead_code_threshold``) when ``quantizer`` is ``None``.

    Raises:
        ValueError: for bad sizes, quantizer arguments together with a ``quantizer``, or a
            ``code_dim`` that differs from the quantizer's.
    """

    def __init__(self, num_codes: int | None = 64, code_dim: int = 8, image_shape: Sequence[int] = (1, 28, 28),
                 channels: Sequence[int] = (32, 64), quantizer: nn.Module | None = None,
                 activation: Callable[[], nn.Module] = nn.ReLU, encoder_norm: bool | None = None,
                 **quantizer_kwargs) -> None:
        super().__init__()
        if quantizer is None:
            quantizer = VectorQuantizer(num_codes, code_dim, **quantizer_kwargs)
        elif quantizer_kwargs:
            raise ValueError(f"pass quantizer arguments {sorted(quantizer_kwargs)} to the quantizer you give, not to VQVAE")
        elif getattr(quantizer, "code_dim", None) != code_dim:
            raise ValueError(f"code_dim = {code_dim} must equal the quantizer's code_dim = "
                             f"{getattr(quantizer, 'code_dim', None)}")
        if isinstance(code_dim, bool) or not isinstance(code_dim, int) or code_dim < 1:
            raise ValueError(f"code_dim must be a positive integer, got {code_dim!r}")
        self.image_shape = tuple(image_shape)
        self.code_dim, self.num_codes = code_dim, quantizer.num_codes
        if encoder_norm is None:
            encoder_norm = isinstance(quantizer, FSQ)
        self.encoder = grid_encoder(code_dim, self.image_shape, channels, activation, normalize=bool(encoder_norm))
        self.quantizer = quantizer
        self.decoder = grid_decoder(code_dim, self.image_shape, tuple(reversed(tuple(channels))), activation)
        n = len(tuple(channels))
        self.grid = (self.image_shape[1] >> n, self.image_shape[2] >> n)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, C, H, W) -> z_e (B, D, h, w)``."""
        if x.dim() != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"x must have shape (B, {', '.join(map(str, self.image_shape))}), got {tuple(x.shape)}")
        return self.encoder(x)

    def quantize(self, z_e: torch.Tensor) -> QuantizerOutput:
        """``z_e (B, D, h, w) ->`` :class:`course_vae.QuantizerOutput` (nearest codes, losses)."""
        return self.quantizer(z_e)

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """``z_q (B, D, h, w) -> logits (B, C, H, W)``."""
        return self.decoder(z_q)

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """A grid of code indices ``(B, h, w)`` int64 ``-> logits (B, C, H, W)``: look up, then decode."""
        if indices.dim() != 3 or tuple(indices.shape[1:]) != self.grid:
            raise ValueError(f"indices must have shape (B, {self.grid[0]}, {self.grid[1]}), got {tuple(indices.shape)}")
        if indices.is_floating_point() or indices.min() < 0 or indices.max() >= self.num_codes:
            raise ValueError(f"indices must be integers in [0, {self.num_codes})")
        return self.decode(self.quantizer.codebook[indices.long()].permute(0, 3, 1, 2))

    def forward(self, x: torch.Tensor) -> VQVAEOutput:
        """``x (B, C, H, W) ->`` :class:`VQVAEOutput`."""
        z_e = self.encode(x)
        quantized = self.quantize(z_e)
        return VQVAEOutput(logits=self.decode(quantized.z_q), z_e=z_e, quantized=quantized)


def vqvae_loss(x: torch.Tensor, out: VQVAEOutput) -> dict[str, torch.Tensor]:
    """The VQ-VAE objective in per-image units, a loss function for :func:`course_vae.fit`.

    ``recon`` is the Bernoulli negative log-likelihood ``-log p(x | z_q)`` in nats, summed
    over the pixels, averaged over the batch. The quantizer's terms are means over the
    ``D * h * w`` entries of a code grid; to put them on the same per-image footing as
    ``recon`` (the squared norms of the paper's eq. 3 are sums over the grid), they are
    multiplied by ``D * h * w``:

        loss = recon + codebook + beta * commitment,
        codebook = D h w * mean (sg[z_e] - e)^2,   commitment = D h w * mean (z_e - sg[e])^2.

    Returns ``{"loss", "recon", "codebook", "commitment", "perplexity"}`` (scalars;
    ``commitment`` unweighted, ``perplexity`` of the batch's code usage). Use it as
    ``fit(model, lambda m, b: vqvae_loss(b, m(b)), x_train, ...)``. Taught in chapter 8.
    """
    recon = -bernoulli_log_likelihood(x, out.logits).mean()
    q = out.quantized
    per_image = out.z_e[0].numel()
    return {
        "loss": recon + per_image * q.loss,
        "recon": recon,
        "codebook": per_image * q.codebook_loss,
        "commitment": per_image * q.commitment_loss,
        "perplexity": q.perplexity.detach(),
    }
