"""The VAE-GAN of Larsen et al. (2016): a VAE whose reconstruction is measured in a
discriminator's feature space, and whose decoder is also a GAN generator. Taught in chapter 9.

Notation (chapter 9). ``Dis(x)`` is the discriminator's probability that ``x`` is a real
digit, ``Dis_l(x)`` the features of its hidden layer ``l``. For a batch of real digits
``x``, their reconstructions ``x_tilde = Dec(z)`` with ``z ~ q(z | x)`` and digits
``x_p = Dec(z_p)`` decoded from prior codes ``z_p ~ N(0, I)``:

* ``L_prior = KL(q(z | x) || p(z))``;
* ``L_llike = -log N(Dis_l(x) | Dis_l(x_tilde), I)``, the reconstruction error in feature space;
* ``L_GAN = log Dis(x) + log(1 - Dis(x_tilde)) + log(1 - Dis(x_p))``: the discriminator's
  log-likelihood of the correct answers (real = 1, reconstructed and sampled = 0).

Each is averaged over the batch. The discriminator *maximizes* ``L_GAN``; the generator
(the decoder) wants it small. The three losses minimized are

* encoder: ``L_prior + L_llike``;
* decoder: ``gamma * L_llike + L_GAN^dec`` with the non-saturating adversarial term
  ``L_GAN^dec = -log Dis(x_tilde) - log Dis(x_p)`` (Goodfellow et al. 2014: same
  fixed point as minimizing ``L_GAN``, but strong gradients when the discriminator wins);
* discriminator: ``-L_GAN`` (the binary cross-entropy of its answers).

Each loss's gradient is taken with respect to its own network's parameters only
(:meth:`VAEGAN.parameter_groups` and ``fit(..., groups=...)``). The source notes and the
paper's Algorithm 1 write the discriminator's update as descending ``L_GAN`` and the
decoder's as ascending it: with ``L_GAN`` defined as above those signs teach the
discriminator to be wrong (``signs="verbatim"`` reproduces them for the chapter's check).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .kl import gaussian_kl
from .nets import mlp
from .vae import VAE, VAEOutput

SIGNS = ("correct", "verbatim")
GROUPS = ("encoder", "decoder", "discriminator")


class Discriminator(nn.Module):
    """An MLP discriminator ``x (B, C, H, W) -> (logit (B,), features (B, F))``.

    ``Discriminator([784, 256])`` flattens the image and applies ``mlp([784, 256])`` and
    the activation: those ``F = 256`` values are the features ``Dis_l(x)``. A head
    ``mlp([256, *head_hidden, 1])`` turns them into the logit of ``Dis(x) = sigmoid(logit)``,
    the probability that ``x`` is real. Taught in chapter 9.

    Args:
        sizes: input size (``C * H * W``) then the widths of the layers up to the feature
            layer ``l``; at least two positive integers.
        head_hidden: widths of hidden layers between the features and the logit.
        activation: a module class such as ``nn.LeakyReLU`` (the GAN default) or ``nn.ReLU``.
    """

    def __init__(self, sizes: Sequence[int] = (784, 256), head_hidden: Sequence[int] = (),
                 activation: Callable[[], nn.Module] = nn.LeakyReLU) -> None:
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"Discriminator needs the input size and at least one feature width, got sizes {sizes}")
        self.features = nn.Sequential(nn.Flatten(), mlp(sizes, activation), activation())
        self.head = mlp([sizes[-1], *head_hidden, 1], activation)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, C, H, W)`` in [0, 1] -> ``(logit (B,), Dis_l(x) (B, F))``."""
        features = self.features(x)
        return self.head(features).squeeze(-1), features


class VAEGAN(nn.Module):
    """A VAE (encoder, decoder) and a :class:`Discriminator`, trained as Larsen et al. (2016).

    ``VAEGAN(latent_dim=8)`` builds ``VAE(latent_dim=8, hidden=(256,))`` (MLPs for MNIST)
    and ``Discriminator([784, 256])``; pass your own ``vae`` or ``discriminator`` for
    others. The decoder's outputs are logits; the discriminator reads the pixel
    intensities ``sigmoid(logits)``. ``forward(x)`` returns the VAE's :class:`VAEOutput`,
    so :func:`course_vae.elbo` applies; :func:`vae_gan_losses` computes the three
    losses. Taught in chapter 9.

    Args:
        latent_dim: ``d`` of the default VAE.
        hidden: hidden widths of the default VAE's encoder (the decoder mirrors them).
        disc_sizes: ``sizes`` of the default discriminator (input first, features last).
        vae: a :class:`VAE` (or any module with ``encoder``, ``decoder``, ``encode``,
            ``decode``, ``forward`` and ``sample``) replacing the default.
        discriminator: a module ``x -> (logit (B,), features (B, F))`` replacing the default.
    """

    def __init__(self, latent_dim: int = 8, hidden: Sequence[int] = (256,), disc_sizes: Sequence[int] = (784, 256),
                 vae: nn.Module | None = None, discriminator: nn.Module | None = None) -> None:
        super().__init__()
        self.vae = VAE(latent_dim=latent_dim, hidden=hidden) if vae is None else vae
        self.discriminator = Discriminator(disc_sizes) if discriminator is None else discriminator
        self.latent_dim = self.vae.latent_dim

    @property
    def encoder(self) -> nn.Module:
        """The VAE's encoder ``x -> (mu, logvar)``."""
        return self.vae.encoder

    @property
    def decoder(self) -> nn.Module:
        """The VAE's decoder ``z -> logits``."""
        return self.vae.decoder

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """``{"encoder": [...], "decoder": [...], "discriminator": [...]}``: disjoint lists
        of parameters, one optimizer each. Pass to ``fit(..., groups=model.parameter_groups())``."""
        return {"encoder": list(self.encoder.parameters()), "decoder": list(self.decoder.parameters()),
                "discriminator": list(self.discriminator.parameters())}

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, C, H, W) -> (mu (B, d), logvar (B, d))``."""
        return self.vae.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z (B, d) -> logits (B, C, H, W)``."""
        return self.vae.decode(z)

    def forward(self, x: torch.Tensor) -> VAEOutput:
        """Encode ``x``, draw one reparameterized ``z`` (global RNG), decode it."""
        return self.vae(x)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` digits decoded from prior codes: intensities ``(n, C, H, W)`` in [0, 1]."""
        return self.vae.sample(n, generator=generator)


def feature_nll(features_real: torch.Tensor, features_recon: torch.Tensor) -> torch.Tensor:
    """``L_llike = -log N(Dis_l(x) | Dis_l(x_tilde), I)`` per example: ``(B, F), (B, F) -> (B,)``.

    ``1/2 * ||Dis_l(x) - Dis_l(x_tilde)||^2 + F/2 * log(2 pi)``, in nats. Chapter 9.
    """
    if features_real.shape != features_recon.shape or features_real.dim() != 2:
        raise ValueError(f"features must both have shape (B, F), got {tuple(features_real.shape)} "
                         f"and {tuple(features_recon.shape)}")
    n_features = features_real.shape[1]
    return 0.5 * (features_real - features_recon).pow(2).sum(1) + 0.5 * n_features * math.log(2 * math.pi)


def vae_gan_losses(model: VAEGAN, x: torch.Tensor, gamma: float = 1.0, signs: str = "correct",
                   generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """The three losses of one VAE-GAN step on a batch ``x (B, C, H, W)`` (Larsen et al. 2016).

    Draws ``z ~ q(z | x)`` (reparameterized, global RNG) and ``B`` prior codes ``z_p``
    (from ``generator`` if given), decodes both and runs the discriminator on ``x``,
    ``x_tilde`` and ``x_p``. With ``signs="correct"``:

    * ``"encoder"``: ``L_prior + L_llike``;
    * ``"decoder"``: ``gamma * L_llike - log Dis(x_tilde) - log Dis(x_p)`` (non-saturating);
    * ``"discriminator"``: ``-L_GAN``, the binary cross-entropy of its three answers;

    each averaged over the batch. ``signs="verbatim"`` uses the update rules of the
    source notes (and of the paper's Algorithm 1) as written: the discriminator
    minimizes ``+L_GAN`` and the decoder ``gamma * L_llike - L_GAN``, the mistake
    chapter 9 exposes. Each loss is meant to be differentiated with respect to its own
    group of :meth:`VAEGAN.parameter_groups` only (``fit(..., groups=...)`` does).

    Also returns, as plain floats or detached tensors: ``"prior"``, ``"llike"``,
    ``"gan"`` (``L_GAN``), ``"recon_bce"`` (the pixel-wise Bernoulli reconstruction
    error, for comparison with a VAE) and the discriminator's accuracy on each kind of
    image, ``"acc_real"``, ``"acc_recon"``, ``"acc_sampled"`` (fractions in [0, 1],
    answer "real" when ``Dis > 1/2``). Taught in chapter 9.

    Raises:
        ValueError: for a ``gamma`` that is not a finite number >= 0 or unknown ``signs``.
    """
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not (math.isfinite(gamma) and gamma >= 0):
        raise ValueError(f"gamma must be a finite number >= 0, got {gamma!r}")
    if signs not in SIGNS:
        raise ValueError(f"signs must be one of {SIGNS}, got {signs!r}")
    out = model(x)
    z_p = torch.randn(out.z.shape, generator=generator, dtype=out.z.dtype).to(out.z.device)
    x_tilde = torch.sigmoid(out.logits)
    x_p = torch.sigmoid(model.decode(z_p))
    logit_real, feat_real = model.discriminator(x)
    logit_recon, feat_recon = model.discriminator(x_tilde)
    logit_sampled, _ = model.discriminator(x_p)
    prior = gaussian_kl(out.mu, out.logvar).mean()
    llike = feature_nll(feat_real, feat_recon).mean()
    # log Dis = logsigmoid(logit), log(1 - Dis) = logsigmoid(-logit): stable for any logit
    gan = (F.logsigmoid(logit_real) + F.logsigmoid(-logit_recon) + F.logsigmoid(-logit_sampled)).mean()
    if signs == "correct":
        adversarial = -(F.logsigmoid(logit_recon) + F.logsigmoid(logit_sampled)).mean()
        decoder_loss, discriminator_loss = gamma * llike + adversarial, -gan
    else:
        decoder_loss, discriminator_loss = gamma * llike - gan, gan
    with torch.no_grad():
        recon_bce = F.binary_cross_entropy_with_logits(out.logits, x, reduction="none").flatten(1).sum(1).mean()
        accuracy = {"acc_real": (logit_real > 0).float().mean(), "acc_recon": (logit_recon < 0).float().mean(),
                    "acc_sampled": (logit_sampled < 0).float().mean()}
    return {"encoder": prior + llike, "decoder": decoder_loss, "discriminator": discriminator_loss,
            "prior": prior.detach(), "llike": llike.detach(), "gan": gan.detach(), "recon_bce": recon_bce, **accuracy}
