"""The deterministic autoencoder: an encoder, a decoder, and nothing random in between."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class AEOutput:
    """What :meth:`Autoencoder.forward` returns."""

    x_hat: torch.Tensor  # (B, ...) the reconstruction, shaped like the input
    z: torch.Tensor  # (B, d) the code


class Autoencoder(nn.Module):
    """``x -> z = encoder(x) -> x_hat = decoder(z)``. Taught in chapter 1.

    The encoder and decoder are any modules, e.g. from :func:`course_vae.image_encoder`
    and :func:`course_vae.image_decoder`; ``forward`` computes no loss.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, ...) -> (B, d)``."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, d) -> (B, ...)``."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> AEOutput:
        z = self.encode(x)
        return AEOutput(x_hat=self.decode(z), z=z)
