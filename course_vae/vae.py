"""The variational autoencoder. Taught in chapter 4."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .nets import GaussianEncoder, image_decoder
from .reparameterization import reparameterize


@dataclass
class VAEOutput:
    """What :meth:`VAE.forward` returns."""

    logits: torch.Tensor  # (B, C, H, W) decoder outputs: the logits of p(x | z) for a Bernoulli decoder
    mu: torch.Tensor  # (B, d) mean of q(z | x)
    logvar: torch.Tensor  # (B, d) log-variance of q(z | x)
    z: torch.Tensor  # (B, d) one reparameterized sample from q(z | x)
    log_prior: torch.Tensor | None = None  # (B,) log p(z) at z for a learned prior (chapter 10); None: p(z) = N(0, I)


class VAE(nn.Module):
    """A VAE with a Gaussian encoder ``q(z | x)``, a prior ``p(z)`` and a decoder.

    ``VAE(latent_dim=2)`` builds MLPs ``784 -> 400 -> (mu, logvar)`` and
    ``2 -> 400 -> 784`` (logits) for MNIST with ReLU activations. Pass ``hidden`` and
    ``activation`` for other MLPs, or your own ``encoder`` (``x -> (mu, logvar)``) and
    ``decoder`` (``z -> logits``) modules.
    ``forward`` computes no loss: see :func:`course_vae.elbo`.

    An *autoregressive* decoder (one with the attribute ``autoregressive = True``, such
    as :class:`course_vae.MADEDecoder` of chapter 6) models each pixel given the earlier
    ones: the VAE then calls it as ``decoder(z, x)`` with the data ``x`` (teacher
    forcing) in :meth:`forward` and :meth:`decode`, and :meth:`sample` draws the pixels
    one by one.

    The prior is the standard normal ``N(0, I)`` unless a learned ``prior`` module is
    given (chapter 10, e.g. :class:`course_vae.MixturePrior`): its parameters are then
    trained with the rest, :meth:`forward` also returns ``log p(z)`` at the sampled code
    (``VAEOutput.log_prior``, so :func:`course_vae.elbo` estimates the KL by Monte Carlo),
    :meth:`sample` draws codes from it, and the importance weights of
    :func:`course_vae.log_weights` use its density.

    Args:
        latent_dim: ``d``, the number of latent coordinates.
        hidden: widths of the hidden layers of the default encoder; the decoder mirrors them.
        activation: the activation of the default MLPs, e.g. ``nn.ReLU`` or ``nn.SiLU``.
        image_shape: the shape of one data point.
        encoder, decoder: optional modules replacing the defaults.
        prior: ``None`` for ``N(0, I)``, or a module with ``log_prob(z (..., d)) -> (...)``,
            ``sample(n, generator) -> (n, d)`` and ``latent_dim == d``.
    """

    def __init__(
        self,
        latent_dim: int = 2,
        hidden: Sequence[int] = (400,),
        image_shape: Sequence[int] = (1, 28, 28),
        activation: Callable[[], nn.Module] = nn.ReLU,
        encoder: nn.Module | None = None,
        decoder: nn.Module | None = None,
        prior: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}")
        self.latent_dim = latent_dim
        self.image_shape = tuple(image_shape)
        n_pixels = 1
        for dim in self.image_shape:
            n_pixels *= dim
        custom = encoder is not None or decoder is not None
        if encoder is None:
            encoder = GaussianEncoder([n_pixels, *hidden], latent_dim, activation)
        if decoder is None:
            decoder = image_decoder([latent_dim, *reversed(tuple(hidden)), n_pixels], self.image_shape, activation)
        self.encoder, self.decoder = encoder, decoder
        if prior is not None:
            if not (callable(getattr(prior, "log_prob", None)) and callable(getattr(prior, "sample", None))):
                raise ValueError("prior must be None (the standard normal) or a module with log_prob(z) and sample(n, generator)")
            if getattr(prior, "latent_dim", latent_dim) != latent_dim:
                raise ValueError(f"the prior has latent_dim={prior.latent_dim}, the VAE latent_dim={latent_dim}")
        self.prior = prior
        if custom:
            self._check_modules()

    def _check_modules(self) -> None:
        """Run one dummy example through custom modules and check the shapes they produce."""
        with torch.no_grad():
            out = self.encoder(torch.zeros(2, *self.image_shape))
            if not (isinstance(out, tuple) and len(out) == 2):
                raise ValueError("the encoder must return a pair (mu, logvar)")
            for name, tensor in zip(("mu", "logvar"), out):
                if tuple(tensor.shape) != (2, self.latent_dim):
                    raise ValueError(f"the encoder's {name} has shape {tuple(tensor.shape)} for 2 examples; "
                                     f"expected (2, {self.latent_dim}) for latent_dim={self.latent_dim}")
            z = torch.zeros(2, self.latent_dim)
            decoded = self.decoder(z, torch.zeros(2, *self.image_shape)) if self.autoregressive else self.decoder(z)
            if tuple(decoded.shape) != (2, *self.image_shape):
                raise ValueError(f"the decoder maps 2 codes to shape {tuple(decoded.shape)}; "
                                 f"expected (2, {', '.join(map(str, self.image_shape))})")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, C, H, W) -> (mu (B, d), logvar (B, d))``."""
        return self.encoder(x)

    @property
    def autoregressive(self) -> bool:
        """Whether the decoder reads the earlier pixels of ``x`` (``decoder.autoregressive``)."""
        return bool(getattr(self.decoder, "autoregressive", False))

    def decode(self, z: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """``z (B, d) -> logits (B, C, H, W)``.

        An autoregressive decoder also needs the images ``x (B, C, H, W)`` whose pixels
        it conditions on (teacher forcing); other decoders ignore ``x``.

        Raises:
            ValueError: if the decoder is autoregressive and ``x`` is missing.
        """
        if self.autoregressive:
            if x is None:
                raise ValueError("this VAE's decoder is autoregressive: logit i depends on the pixels before i, "
                                 "so decode(z, x) needs the images x (B, C, H, W); use sample() to generate")
            return self.decoder(z, x)
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> VAEOutput:
        """Encode ``x (B, C, H, W)``, draw one reparameterized ``z`` (global RNG), decode it."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        log_prior = None if self.prior is None else self.prior.log_prob(z)
        return VAEOutput(logits=self.decode(z, x), mu=mu, logvar=logvar, z=z, log_prior=log_prior)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``n`` codes drawn from the prior (``N(0, I)`` or the learned one): ``(n, C, H, W)``.

        For an ordinary decoder, returns the decoder's *means*, the pixel probabilities
        ``sigmoid(logits)``: what VAE "samples" usually show. Draw binary images from
        them with :func:`course_vae.binarize`. For an autoregressive decoder the
        probability of a pixel depends on the pixels drawn before it, so the result is
        binary images (0.0 and 1.0) drawn pixel by pixel with the decoder's ``sample(z,
        generator)``. The codes (and the pixels) are drawn from ``generator``.
        """
        device = next(self.parameters()).device
        if self.prior is None:
            z = torch.randn(n, self.latent_dim, generator=generator).to(device)  # drawn on the CPU, so the generator works
        else:
            z = self.prior.sample(n, generator=generator).to(device)
        if self.autoregressive:
            return self.decoder.sample(z, generator=generator)
        return torch.sigmoid(self.decode(z))


def decode_for(model: nn.Module, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``model.decode(z)``, passing the data ``x`` when the model's decoder is autoregressive.

    For helpers that decode codes of the data ``x`` (ELBO and importance-sampling
    estimates), so that they work for every model with ``decode(z)`` and for a
    :class:`VAE` with an autoregressive decoder (chapter 6).
    """
    return model.decode(z, x) if getattr(model, "autoregressive", False) else model.decode(z)


def prior_log_prob(model: nn.Module, z: torch.Tensor) -> torch.Tensor | None:
    """``log p(z)`` under the model's learned prior, ``(..., d) -> (...)``, or ``None`` for ``N(0, I)``.

    ``None`` when the model has no ``prior`` attribute or it is ``None`` (chapter 4's
    standard normal); helpers then use the closed-form KL. Chapter 10.
    """
    prior = getattr(model, "prior", None)
    return None if prior is None else prior.log_prob(z)
