"""An autoregressive decoder over the pixels: a MADE conditioned on the code. Taught in chapter 6."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 ``mask`` ``(out, in)``."""

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias=bias)
        if tuple(mask.shape) != (out_features, in_features):
            raise ValueError(f"mask must have shape ({out_features}, {in_features}), got {tuple(mask.shape)}")
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in) -> (B, out)`` with the masked weight."""
        return F.linear(x, self.weight * self.mask, self.bias)


class MADEDecoder(nn.Module):
    """A decoder strong enough to ignore ``z``: ``p(x | z) = prod_i p(x_i | x_<i, z)``.

    A MADE (Germain et al. 2015) over the ``D`` pixels of a binary image in raster order,
    conditioned on the code ``z``: the Bernoulli logit of pixel ``i`` depends on the
    pixels before it and on ``z`` only. One hidden layer of ``hidden`` units, unit ``k``
    (0-based) with degree ``m(k) = 1 + floor(k (D - 1) / hidden)`` (spread evenly over
    ``1 ... D - 1``), sees pixels ``j <= m(k)``; logit ``i`` (1-based) reads the units
    with ``m(k) < i``. With ``direct=True`` (the default) the logits also get a masked
    linear map of the earlier pixels and a linear map of ``z`` (the first pixel has no
    earlier pixels, so it depends on ``z`` through this path only). ``z`` enters every
    hidden unit unmasked.

    Pass it to ``VAE(decoder=MADEDecoder(d))``: it sets ``autoregressive = True``, so
    :class:`course_vae.VAE` calls it as ``decoder(z, x)`` with the data ``x`` (teacher
    forcing) and samples pixel by pixel. Taught in chapter 6, where it shows posterior
    collapse: this decoder can model the images without the code.

    Args:
        latent_dim: ``d``, the size of ``z``.
        image_shape: the shape ``(C, H, W)`` of one image; ``D = C * H * W`` pixels,
            ordered as ``x.flatten(1)``.
        hidden: the number of hidden units.
        activation: the hidden layer's activation, e.g. ``nn.ReLU``.
        direct: add the direct (masked) pixel-to-logit and code-to-logit maps.

    Raises:
        ValueError: for a non-positive ``latent_dim`` or ``hidden``, or an image of
            fewer than 2 pixels.
    """

    autoregressive = True

    def __init__(self, latent_dim: int, image_shape: Sequence[int] = (1, 28, 28), hidden: int = 500,
                 activation: Callable[[], nn.Module] = nn.ReLU, direct: bool = True) -> None:
        super().__init__()
        for name, value in (("latent_dim", latent_dim), ("hidden", hidden)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.image_shape = tuple(image_shape)
        if not self.image_shape or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in self.image_shape):
            raise ValueError(f"image_shape must be a tuple of positive integers such as (1, 28, 28), got {image_shape!r}")
        n_pixels = 1
        for dim in self.image_shape:
            n_pixels *= dim
        if n_pixels < 2:
            raise ValueError(f"an autoregressive decoder needs at least 2 pixels, got image_shape {self.image_shape}")
        self.latent_dim, self.n_pixels, self.direct = latent_dim, n_pixels, bool(direct)
        order = torch.arange(1, n_pixels + 1)  # pixel degrees 1 ... D
        degrees = 1 + torch.arange(hidden) * (n_pixels - 1) // hidden  # hidden degrees in 1 ... D - 1
        self.register_buffer("degrees", degrees)
        self.x_to_hidden = MaskedLinear(n_pixels, hidden, (degrees[:, None] >= order[None, :]).float())
        self.z_to_hidden = nn.Linear(latent_dim, hidden, bias=False)
        self.hidden_to_logits = MaskedLinear(hidden, n_pixels, (order[:, None] > degrees[None, :]).float())
        self.activation = activation()
        if self.direct:
            self.x_to_logits = MaskedLinear(n_pixels, n_pixels, (order[:, None] > order[None, :]).float(), bias=False)
            self.z_to_logits = nn.Linear(latent_dim, n_pixels, bias=False)

    def _check(self, z: torch.Tensor, x: torch.Tensor | None) -> None:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        if x is not None and tuple(x.shape) != (len(z), *self.image_shape):
            raise ValueError(f"x must have shape ({len(z)}, {', '.join(map(str, self.image_shape))}) "
                             f"to match z, got {tuple(x.shape)}")

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The logits of every pixel given the earlier pixels of ``x`` and ``z``.

        Args:
            z: codes ``(B, d)``.
            x: images ``(B, C, H, W)`` (binary; teacher forcing: logit ``i`` reads the
                true pixels before ``i``).

        Returns:
            logits ``(B, C, H, W)`` of ``p(x_i = 1 | x_<i, z)``.
        """
        self._check(z, x)
        flat = x.flatten(1).to(self.x_to_hidden.weight.dtype)
        h = self.activation(self.x_to_hidden(flat) + self.z_to_hidden(z))
        logits = self.hidden_to_logits(h)
        if self.direct:
            logits = logits + self.x_to_logits(flat) + self.z_to_logits(z)
        return logits.view(len(z), *self.image_shape)

    @torch.no_grad()
    def sample(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Binary images drawn from ``p(x | z)``, pixel by pixel in raster order.

        Pixel ``i`` is drawn from ``Bernoulli(sigmoid(logit_i))`` given the pixels
        already drawn; the hidden layer's input is updated one pixel at a time, so the
        ``D`` steps together cost about one pass of the network, not ``D`` passes. The
        uniforms come from ``generator`` (on the CPU), so a seeded generator repeats the
        images.

        Args:
            z: codes ``(B, d)``.
            generator: optional ``torch.Generator`` for the draws.

        Returns:
            ``(B, C, H, W)`` images of 0.0 and 1.0.
        """
        self._check(z, None)
        b = len(z)
        uniforms = torch.rand(b, self.n_pixels, generator=generator, dtype=z.dtype).to(z.device)
        x = torch.zeros(b, self.n_pixels, dtype=z.dtype, device=z.device)
        pre = self.z_to_hidden(z) + self.x_to_hidden.bias  # hidden pre-activations with no pixel set
        w_in = self.x_to_hidden.weight * self.x_to_hidden.mask  # (hidden, D)
        w_out = self.hidden_to_logits.weight * self.hidden_to_logits.mask  # (D, hidden)
        if self.direct:
            w_direct = self.x_to_logits.weight * self.x_to_logits.mask  # (D, D)
            z_direct = self.z_to_logits(z)  # (B, D)
        for i in range(self.n_pixels):
            logit = self.activation(pre) @ w_out[i] + self.hidden_to_logits.bias[i]
            if self.direct:
                logit = logit + x[:, :i] @ w_direct[i, :i] + z_direct[:, i]
            x[:, i] = (uniforms[:, i] < torch.sigmoid(logit)).to(x.dtype)
            pre = pre + x[:, i : i + 1] * w_in[:, i]
        return x.view(b, *self.image_shape)
