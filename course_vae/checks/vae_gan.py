"""Checkers of chapter 9's exercise: the three losses of one VAE-GAN step.

The student writes ``vae_gan_losses(x, x_tilde, x_p, mu, logvar, discriminator, gamma)``
returning ``{"encoder": ..., "decoder": ..., "discriminator": ...}``. As in
``fit(..., groups=...)``, each loss is differentiated with respect to its own network's
parameters only; the checker builds a tiny encoder, decoder and discriminator, and
compares, for each loss, its gradient with respect to its own network's parameters with
the reference (Larsen et al. 2016 with one definition of L_GAN and the non-saturating
decoder term), for two values of gamma, in float64 and float32. The discriminator's loss
is also compared by value (it has no additive constant); the other two may drop the
constant ``F/2 log(2 pi)`` of the feature likelihood. A wrong gradient is matched against
a catalogue of common slips to say which one it is, and failing that, written as a
combination of the terms the loss should contain (e.g. "0.5 * (L_prior) + 1 * (L_llike)").
Once every ordinary probe passes, a confident discriminator (logits up to 120 in size, of
both signs for real, reconstructed and sampled images) tests that the losses are stable
where log(sigmoid(l)), log(1 - sigmoid(l)), an epsilon or F.binary_cross_entropy on
probabilities break down. The input ``x`` must not be changed in place.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..vae_gan import Discriminator
from .core import CRASH_HINTS, F32, F64, CheckFailed, call, passed

GROUPS = ("encoder", "decoder", "discriminator")
GAMMAS = (0.3, 2.5)
SIDE, LATENT, FEATURES, BATCH = 4, 3, 5, 6
RTOL = {F64: 1e-7, F32: 2e-5}
PRECISION_BAND = 1e-4
CONFIDENT_LOGIT = 120.0  # the confident discriminator's largest logit in size

HINTS = [
    ("cannot unpack", "The discriminator returns a pair (logit (B,), features (B, F)): "
     "logit, features = discriminator(images)."),
    ("must be Tensor, not tuple", "discriminator(images) returns a pair (logit (B,), features (B, F)), not one "
     "tensor: logit, features = discriminator(images)."),
    ("has no attribute", "discriminator(images) returns a pair (logit (B,), features (B, F)), not one tensor: "
     "logit, features = discriminator(images)."),
    ("not subscriptable", "Return a dict {'encoder': ..., 'decoder': ..., 'discriminator': ...}."),
]


# ---- the reference and the catalogue of slips --------------------------------------------------


def _parts(x, x_tilde, x_p, mu, logvar, discriminator):
    """Every ingredient a variant may need, each a batch mean or per-example tensor."""
    logit_real, f_real = discriminator(x)
    logit_rec, f_rec = discriminator(x_tilde)
    logit_p, _ = discriminator(x_p)
    p = {
        "prior": (0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar)).sum(1).mean(),
        "llike": (0.5 * (f_real - f_rec).pow(2).sum(1)).mean(),
        "llike_logits": (0.5 * (logit_real - logit_rec).pow(2)).mean(),
        "llike_probs": (0.5 * (torch.sigmoid(logit_real) - torch.sigmoid(logit_rec)).pow(2)).mean(),
        "llike_pixels": (0.5 * (x - x_tilde).pow(2).flatten(1).sum(1)).mean(),
        "llike_pixels_bce": F.binary_cross_entropy(x_tilde, x, reduction="none").flatten(1).sum(1).mean(),
        "llike_norm": (f_real - f_rec).norm(dim=1).mean(),
        "prior_logvar_sign": (0.5 * (logvar.exp() + mu.pow(2) - 1 + logvar)).sum(1).mean(),
        "prior_std": (0.5 * ((0.5 * logvar).exp() + mu.pow(2) - 1 - logvar)).sum(1).mean(),
        "log_d_real": F.logsigmoid(logit_real).mean(),
        "log_d_rec": F.logsigmoid(logit_rec).mean(),
        "log_d_p": F.logsigmoid(logit_p).mean(),
        "log_1md_real": F.logsigmoid(-logit_real).mean(),
        "log_1md_rec": F.logsigmoid(-logit_rec).mean(),
        "log_1md_p": F.logsigmoid(-logit_p).mean(),
        # sigmoid applied twice: F.binary_cross_entropy_with_logits(torch.sigmoid(logit), target)
        "log_d2_real": F.logsigmoid(torch.sigmoid(logit_real)).mean(),
        "log_d2_rec": F.logsigmoid(torch.sigmoid(logit_rec)).mean(),
        "log_d2_p": F.logsigmoid(torch.sigmoid(logit_p)).mean(),
        "log_1md2_rec": F.logsigmoid(-torch.sigmoid(logit_rec)).mean(),
        "log_1md2_p": F.logsigmoid(-torch.sigmoid(logit_p)).mean(),
    }
    p["gan"] = p["log_d_real"] + p["log_1md_rec"] + p["log_1md_p"]
    p["adv"] = -(p["log_d_rec"] + p["log_d_p"])
    return p


def reference(x, x_tilde, x_p, mu, logvar, discriminator, gamma):
    """The three losses of Larsen et al. with one L_GAN: what the checker expects."""
    p = _parts(x, x_tilde, x_p, mu, logvar, discriminator)
    return {"encoder": p["prior"] + p["llike"], "decoder": gamma * p["llike"] + p["adv"], "discriminator": -p["gan"]}


# (group, diagnosis, loss of that group from the parts and gamma)
SLIPS: list[tuple[str, str, Callable]] = [
    ("encoder", "the encoder's loss has no KL term: it must be L_prior + L_llike, where L_prior = KL(q(z | x) || "
     "N(0, I)) keeps the codes near the prior that sampling draws from",
     lambda p, g: p["llike"]),
    ("encoder", "no gradient of the feature loss reaches the encoder: L_llike must reach it through x_tilde = "
     "Dec(z) and Dis_l(x_tilde) (no .detach() on the way)", lambda p, g: p["prior"]),
    ("encoder", "the encoder's loss subtracts the KL: L_prior enters with a plus sign (it is a loss to minimize)",
     lambda p, g: -p["prior"] + p["llike"]),
    ("encoder", "gamma weighs the feature loss in the encoder's loss; in Larsen et al. gamma appears only in the "
     "decoder's loss (gamma * L_llike against the adversarial term), the encoder's is L_prior + L_llike",
     lambda p, g: p["prior"] + g * p["llike"]),
    ("encoder", "the encoder's loss contains an adversarial term; Larsen et al. train the encoder on L_prior + "
     "L_llike only (L_GAN is not back-propagated to the encoder)",
     lambda p, g: p["prior"] + p["llike"] + p["adv"]),
    ("encoder", "the encoder's loss contains an adversarial term; Larsen et al. train the encoder on L_prior + "
     "L_llike only (L_GAN is not back-propagated to the encoder)",
     lambda p, g: p["prior"] + p["llike"] - p["gan"]),
    ("encoder", "the encoder's feature loss compares the discriminator's OUTPUT (its logit) on x and x_tilde; "
     "L_llike compares the features Dis_l of an intermediate layer (the second value the discriminator returns)",
     lambda p, g: p["prior"] + p["llike_logits"]),
    ("encoder", "the encoder's feature loss compares the discriminator's OUTPUT (its probability Dis(x)) on x and "
     "x_tilde; L_llike compares the features Dis_l of an intermediate layer (the second value the discriminator "
     "returns)", lambda p, g: p["prior"] + p["llike_probs"]),
    ("encoder", "the encoder's reconstruction loss is computed on pixels; the VAE-GAN measures it in the "
     "discriminator's feature space, between Dis_l(x) and Dis_l(x_tilde)",
     lambda p, g: p["prior"] + p["llike_pixels"]),
    ("encoder", "the encoder's reconstruction loss is the pixel-wise binary cross-entropy of the plain VAE; the "
     "VAE-GAN measures it in the discriminator's feature space, between Dis_l(x) and Dis_l(x_tilde)",
     lambda p, g: p["prior"] + p["llike_pixels_bce"]),
    ("encoder", "the encoder's feature loss has no 1/2: -log N(Dis_l(x) | Dis_l(x_tilde), I) = 1/2 ||Dis_l(x) - "
     "Dis_l(x_tilde)||^2 + const", lambda p, g: p["prior"] + 2 * p["llike"]),
    ("encoder", "the encoder's feature loss is F.mse_loss(...) with its default mean: that averages over the F "
     "features and drops the 1/2; L_llike = 1/2 ||Dis_l(x) - Dis_l(x_tilde)||^2 is a SUM over features (then a "
     "batch mean)", lambda p, g: p["prior"] + 2 / FEATURES * p["llike"]),
    ("encoder", "the encoder's feature loss averages over the F features; L_llike = 1/2 ||Dis_l(x) - "
     "Dis_l(x_tilde)||^2 is a SUM over features (then a batch mean)",
     lambda p, g: p["prior"] + p["llike"] / FEATURES),
    ("encoder", "the encoder's feature loss uses the norm ||Dis_l(x) - Dis_l(x_tilde)|| without squaring it; "
     "L_llike = 1/2 ||.||^2 (the Gaussian's exponent)", lambda p, g: p["prior"] + p["llike_norm"]),
    ("encoder", "the encoder's feature loss uses the norm ||Dis_l(x) - Dis_l(x_tilde)|| without squaring it; "
     "L_llike = 1/2 ||.||^2 (the Gaussian's exponent)", lambda p, g: p["prior"] + 0.5 * p["llike_norm"]),
    ("encoder", "the KL is averaged over the latent coordinates (.mean() over everything?); KL(q(z | x) || N(0, I)) "
     "is a SUM over the latent coordinates, then a batch mean", lambda p, g: p["prior"] / LATENT + p["llike"]),
    ("encoder", "the KL is summed over the batch while L_llike is averaged: average every term over the batch",
     lambda p, g: BATCH * p["prior"] + p["llike"]),
    ("encoder", "the KL is reduced over the wrong axes (summed over the batch, averaged over the latent "
     "coordinates: .sum(0).mean()?); it is a SUM over the latent coordinates (dim=1), then a batch mean",
     lambda p, g: BATCH / LATENT * p["prior"] + p["llike"]),
    ("encoder", "the KL's log sigma^2 term has the wrong sign: KL = 1/2 sum(sigma^2 + mu^2 - 1 - log sigma^2)",
     lambda p, g: p["prior_logvar_sign"] + p["llike"]),
    ("encoder", "the KL uses sigma = exp(logvar / 2) where it needs the variance sigma^2 = exp(logvar): "
     "KL = 1/2 sum(sigma^2 + mu^2 - 1 - log sigma^2)", lambda p, g: p["prior_std"] + p["llike"]),
    ("encoder", "the encoder's loss is the decoder's (gamma * L_llike + adversarial term) plus the KL; Larsen et al. "
     "train the encoder on L_prior + L_llike only", lambda p, g: p["prior"] + g * p["llike"] + p["adv"]),
    ("encoder", "the encoder's feature loss is not averaged over the batch (a sum over examples); average every "
     "term over the batch", lambda p, g: BATCH * (p["prior"] + p["llike"])),
    ("decoder", "the decoder ascends L_GAN as the notes' update rule is written (loss gamma * L_llike - L_GAN, "
     "or its decoder part -log(1 - Dis(x_tilde)) - log(1 - Dis(x_p)), i.e. targets 0 for its own images): "
     "with L_GAN the discriminator's log-likelihood of correct answers, that trains the decoder to HELP the "
     "discriminator. The decoder wants L_GAN small",
     lambda p, g: g * p["llike"] - p["gan"]),
    ("decoder", "the decoder's loss contains the discriminator's loss -L_GAN: its gradient reaches the decoder and "
     "pushes it to help the discriminator. The decoder's adversarial term is its own, -log Dis(x_tilde) - "
     "log Dis(x_p)", lambda p, g: g * p["llike"] + p["adv"] - p["gan"]),
    ("decoder", "the decoder uses the saturating minimax term log(1 - Dis(x_tilde)) + log(1 - Dis(x_p)); its "
     "gradient vanishes when the discriminator wins. Use the non-saturating -log Dis(x_tilde) - log Dis(x_p)",
     lambda p, g: g * p["llike"] + p["log_1md_rec"] + p["log_1md_p"]),
    ("decoder", "gamma multiplies the adversarial term instead of the feature loss: the decoder's loss is "
     "gamma * L_llike + (its adversarial term)", lambda p, g: p["llike"] + g * p["adv"]),
    ("decoder", "gamma multiplies the whole decoder loss; it weighs L_llike against the adversarial term, "
     "gamma * L_llike + (adversarial term)", lambda p, g: g * (p["llike"] + p["adv"])),
    ("decoder", "the decoder's loss has no gamma: it is gamma * L_llike + (adversarial term)",
     lambda p, g: p["llike"] + p["adv"]),
    ("decoder", "the decoder's feature loss compares the discriminator's OUTPUT (its logit) on x and x_tilde; "
     "L_llike compares the features Dis_l of an intermediate layer (the second value the discriminator returns)",
     lambda p, g: g * p["llike_logits"] + p["adv"]),
    ("decoder", "the decoder's feature loss compares the discriminator's OUTPUT (its probability Dis(x)) on x and "
     "x_tilde; L_llike compares the features Dis_l of an intermediate layer (the second value the discriminator "
     "returns)", lambda p, g: g * p["llike_probs"] + p["adv"]),
    ("decoder", "the decoder's reconstruction loss is computed on pixels; the VAE-GAN measures it in the "
     "discriminator's feature space, between Dis_l(x) and Dis_l(x_tilde)",
     lambda p, g: g * p["llike_pixels"] + p["adv"]),
    ("decoder", "the decoder's reconstruction loss is the pixel-wise binary cross-entropy of the plain VAE; the "
     "VAE-GAN measures it in the discriminator's feature space, between Dis_l(x) and Dis_l(x_tilde)",
     lambda p, g: g * p["llike_pixels_bce"] + p["adv"]),
    ("decoder", "the decoder's feature loss has no 1/2: -log N(Dis_l(x) | Dis_l(x_tilde), I) = 1/2 ||Dis_l(x) - "
     "Dis_l(x_tilde)||^2 + const", lambda p, g: 2 * g * p["llike"] + p["adv"]),
    ("decoder", "the decoder's feature loss is F.mse_loss(...) with its default mean: that averages over the F "
     "features and drops the 1/2; L_llike = 1/2 ||Dis_l(x) - Dis_l(x_tilde)||^2 is a SUM over features (then a "
     "batch mean)", lambda p, g: 2 / FEATURES * g * p["llike"] + p["adv"]),
    ("decoder", "the decoder's feature loss averages over the F features; L_llike = 1/2 ||Dis_l(x) - "
     "Dis_l(x_tilde)||^2 is a SUM over features (then a batch mean)",
     lambda p, g: g * p["llike"] / FEATURES + p["adv"]),
    ("decoder", "the decoder's feature loss uses the norm ||Dis_l(x) - Dis_l(x_tilde)|| without squaring it; "
     "L_llike = 1/2 ||.||^2 (the Gaussian's exponent)", lambda p, g: g * p["llike_norm"] + p["adv"]),
    ("decoder", "the decoder's feature loss uses the norm ||Dis_l(x) - Dis_l(x_tilde)|| without squaring it; "
     "L_llike = 1/2 ||.||^2 (the Gaussian's exponent)", lambda p, g: 0.5 * g * p["llike_norm"] + p["adv"]),
    ("decoder", "the decoder's adversarial term averages its two parts (one BCE over the 2B generated images?); it "
     "is their sum, -log Dis(x_tilde) - log Dis(x_p), each a batch mean", lambda p, g: g * p["llike"] + p["adv"] / 2),
    ("decoder", "the decoder's adversarial term applies the sigmoid twice: F.binary_cross_entropy_with_logits "
     "takes the LOGIT, not Dis(x) = sigmoid(logit)",
     lambda p, g: g * p["llike"] - p["log_d2_rec"] - p["log_d2_p"]),
    ("decoder", "the decoder's adversarial term uses the reconstructions twice (x_tilde in place of the prior "
     "samples x_p): it must fool the discriminator with both x_tilde and x_p",
     lambda p, g: g * p["llike"] - 2 * p["log_d_rec"]),
    ("decoder", "the decoder's adversarial term leaves out the prior samples x_p: it must fool the discriminator "
     "with both x_tilde and x_p", lambda p, g: g * p["llike"] - p["log_d_rec"]),
    ("decoder", "the decoder's adversarial term leaves out the reconstructions x_tilde: it must fool the "
     "discriminator with both x_tilde and x_p", lambda p, g: g * p["llike"] - p["log_d_p"]),
    ("decoder", "the decoder's loss has no feature loss (or it does not reach the decoder: a .detach()?): "
     "gamma * L_llike keeps reconstructions faithful",
     lambda p, g: p["adv"]),
    ("decoder", "the decoder's loss is not averaged over the batch (a sum over examples)",
     lambda p, g: BATCH * (g * p["llike"] + p["adv"])),
    ("discriminator", "the discriminator descends L_GAN as the notes' update rule is written (loss +L_GAN): with "
     "L_GAN its log-likelihood of correct answers, that teaches it to be WRONG. It maximizes L_GAN: its loss "
     "is -L_GAN", lambda p, g: p["gan"]),
    ("discriminator", "the discriminator's labels are swapped (real digits labelled 0, generated ones 1)",
     lambda p, g: -(p["log_1md_real"] + p["log_d_rec"] + p["log_d_p"])),
    ("discriminator", "the discriminator's loss leaves out the reconstructions: L_GAN has three terms, real x, "
     "reconstructed x_tilde and prior-sampled x_p", lambda p, g: -(p["log_d_real"] + p["log_1md_p"])),
    ("discriminator", "the discriminator's loss leaves out the prior samples: L_GAN has three terms, real x, "
     "reconstructed x_tilde and prior-sampled x_p", lambda p, g: -(p["log_d_real"] + p["log_1md_rec"])),
    ("discriminator", "the discriminator labels the real digits 0 as well: its loss then rewards calling every image "
     "fake; real digits get label 1, -log Dis(x)",
     lambda p, g: -(p["log_1md_real"] + p["log_1md_rec"] + p["log_1md_p"])),
    ("discriminator", "the discriminator's loss contains the decoder's adversarial term -log Dis(x_tilde) - log "
     "Dis(x_p); that term belongs to the decoder's loss, the discriminator's is -L_GAN alone",
     lambda p, g: -p["gan"] + p["adv"]),
    ("discriminator", "the discriminator's loss leaves out the real digits: L_GAN has three terms, real x, "
     "reconstructed x_tilde and prior-sampled x_p", lambda p, g: -(p["log_1md_rec"] + p["log_1md_p"])),
    ("discriminator", "the discriminator's loss uses the reconstructions twice (x_tilde in place of the prior "
     "samples x_p): L_GAN has three terms, real x, reconstructed x_tilde and prior-sampled x_p",
     lambda p, g: -(p["log_d_real"] + 2 * p["log_1md_rec"])),
    ("discriminator", "the discriminator's loss averages its three terms (one BCE over the 3B answers, or a mean of "
     "three BCEs?); -L_GAN is their SUM: BCE(real) + BCE(reconstructed) + BCE(sampled), each a batch mean",
     lambda p, g: -p["gan"] / 3),
    ("discriminator", "the discriminator's loss applies the sigmoid twice: F.binary_cross_entropy_with_logits takes "
     "the LOGIT, not Dis(x) = sigmoid(logit)",
     lambda p, g: -(p["log_d2_real"] + p["log_1md2_rec"] + p["log_1md2_p"])),
    ("discriminator", "the discriminator's loss contains the feature loss; it is -L_GAN alone",
     lambda p, g: -p["gan"] + p["llike"]),
    ("discriminator", "the discriminator's loss contains the feature loss; it is -L_GAN alone",
     lambda p, g: -p["gan"] + g * p["llike"]),
    ("discriminator", "the discriminator's loss is not averaged over the batch (a sum over examples)",
     lambda p, g: -BATCH * p["gan"]),
]


# ---- the probe ----------------------------------------------------------------------------------


class _Nets:
    """A tiny encoder, decoder and discriminator with fixed random weights, and one batch through them."""

    def __init__(self, seed: int, dtype: torch.dtype, confident: bool = False) -> None:
        g = torch.Generator().manual_seed(seed)
        n = SIDE * SIDE
        self.encoder = nn.Linear(n, 2 * LATENT)
        self.decoder = nn.Linear(LATENT, n)
        self.discriminator = Discriminator([n, FEATURES], head_hidden=(4,))
        for module in (self.encoder, self.decoder, self.discriminator):
            for param in module.parameters():
                with torch.no_grad():
                    param.copy_(torch.randn(param.shape, generator=g, dtype=F64) * 0.7)
            module.to(dtype)
        self.x = torch.rand(BATCH, 1, SIDE, SIDE, generator=g, dtype=F64).to(dtype)
        self.eps = torch.randn(BATCH, LATENT, generator=g, dtype=F64).to(dtype)
        self.z_p = torch.randn(BATCH, LATENT, generator=g, dtype=F64).to(dtype)
        if confident:  # logits of both signs far from 0, as from a discriminator that is sure of itself
            self._make_confident()
        self.groups = {"encoder": list(self.encoder.parameters()), "decoder": list(self.decoder.parameters()),
                       "discriminator": list(self.discriminator.parameters())}

    def _make_confident(self) -> None:
        """Stretch the logits affinely: median 0, largest size CONFIDENT_LOGIT (for seed 2, every kind of image
        then has logits of both signs beyond 20 in size)."""
        with torch.no_grad():
            logits = torch.cat([self.discriminator(images)[0] for images in self.inputs()[:3]])
            median = logits.median()
            scale = CONFIDENT_LOGIT / (logits - median).abs().max()
            last = self.discriminator.head[-1]
            last.bias.copy_((last.bias - median) * scale)
            last.weight.mul_(scale)

    def inputs(self) -> tuple:
        """A fresh graph: ``(x, x_tilde, x_p, mu, logvar, discriminator)``."""
        mu, logvar = self.encoder(self.x.flatten(1)).chunk(2, dim=1)
        z = mu + (0.5 * logvar).exp() * self.eps
        x_tilde = torch.sigmoid(self.decoder(z)).view_as(self.x)
        x_p = torch.sigmoid(self.decoder(self.z_p)).view_as(self.x)
        return self.x, x_tilde, x_p, mu, logvar, self.discriminator

    def own_gradient(self, loss: torch.Tensor, group: str) -> torch.Tensor | None:
        """The gradient of ``loss`` with respect to ``group``'s parameters, flattened (None if unreachable)."""
        if not (isinstance(loss, torch.Tensor) and loss.requires_grad):
            return None
        grads = torch.autograd.grad(loss, self.groups[group], retain_graph=True, allow_unused=True)
        if all(g is None for g in grads):
            return None
        return torch.cat([(torch.zeros_like(p) if g is None else g).flatten() for p, g in zip(self.groups[group], grads)])


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float) -> bool:
    scale = b.abs().max().item() + 1e-12
    return (a.to(F64) - b.to(F64)).abs().max().item() <= rtol * scale


def _student_losses(fn, nets: _Nets, gamma: float, name: str) -> dict[str, torch.Tensor]:
    out = call(fn, name, *nets.inputs(), gamma, hints=HINTS)
    if not isinstance(out, dict) or any(k not in out for k in GROUPS):
        got = sorted(out) if isinstance(out, dict) else type(out).__name__
        raise CheckFailed(f"{name} should return a dict with the keys {list(GROUPS)} (one loss per network, as "
                          f"fit(..., groups=...) expects), got {got}")
    for key in GROUPS:
        value = out[key]
        if isinstance(value, (float, int)):
            raise CheckFailed(f"{name}: the {key}'s loss is a Python {type(value).__name__} (.item() or float()?): a "
                              f"number has no graph, so no gradient reaches the {key}; return the scalar tensor")
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            what = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise CheckFailed(f"{name}: the {key}'s loss should be one number (a scalar tensor averaged over the "
                              f"batch), got {what}")
        if value.dtype != nets.x.dtype:
            raise CheckFailed(f"{name}: the {key}'s loss is {value.dtype} for {nets.x.dtype} inputs; compute in the "
                              f"inputs' dtype")
    return out


def _diagnose(nets: _Nets, group: str, got: torch.Tensor, gamma: float, rtol: float) -> str | None:
    parts = _parts(*nets.inputs())
    for slip_group, message, loss in SLIPS:
        if slip_group != group:
            continue
        expected = nets.own_gradient(loss(parts, gamma), group)
        if expected is not None and got.shape == expected.shape and _close(got, expected, 1e3 * rtol):
            return message
    return _combination(nets, group, got, parts)


# The terms a group's gradient is tried as a combination of, when no catalogued slip matches:
# (name in messages, key in _parts, weight in the right loss as a function of gamma).
TERMS = {
    "encoder": [("L_prior", "prior", lambda g: 1.0), ("L_llike", "llike", lambda g: 1.0),
                ("-log Dis(x_tilde)", "log_d_rec", lambda g: 0.0)],
    "decoder": [("L_llike", "llike", lambda g: g), ("-log Dis(x_tilde)", "log_d_rec", lambda g: 1.0),
                ("-log Dis(x_p)", "log_d_p", lambda g: 1.0), ("log(1 - Dis(x_tilde))", "log_1md_rec", lambda g: 0.0),
                ("log(1 - Dis(x_p))", "log_1md_p", lambda g: 0.0)],
    "discriminator": [("-log Dis(x)", "log_d_real", lambda g: 1.0),
                      ("-log(1 - Dis(x_tilde))", "log_1md_rec", lambda g: 1.0),
                      ("-log(1 - Dis(x_p))", "log_1md_p", lambda g: 1.0),
                      ("-log Dis(x_tilde)", "log_d_rec", lambda g: 0.0), ("-log Dis(x_p)", "log_d_p", lambda g: 0.0),
                      ("-log(1 - Dis(x))", "log_1md_real", lambda g: 0.0), ("L_llike", "llike", lambda g: 0.0)],
}


def _combination(nets: _Nets, group: str, got: torch.Tensor, parts: dict) -> str | None:
    """Name the weights of the terms if the gradient is a combination of them (e.g. a KL weighted 0.5)."""
    names, columns = [], []
    for label, key, _ in TERMS[group]:
        sign = -1.0 if label.startswith("-") and key != "llike" else 1.0
        grad = nets.own_gradient(sign * parts[key], group)
        if grad is not None:
            names.append(label)
            columns.append(grad.detach().to(F64))
    if not columns:
        return None
    basis = torch.stack(columns, dim=1)
    target = got.detach().to(F64)[:, None]
    weights = torch.linalg.lstsq(basis, target).solution
    if (basis @ weights - target).norm() > 1e-5 * target.norm():
        return None
    weights = weights.squeeze(1).tolist()
    found = " + ".join(f"{w:.3g} * ({n})" for w, n in zip(weights, names) if abs(w) > 1e-6) or "0"
    right = " + ".join(f"{'gamma' if key == 'llike' and group == 'decoder' else 1} * ({label})"
                       for label, key, weight in TERMS[group] if weight(1.0) != 0)
    return (f"its gradient on the {group}'s parameters is that of {found}, where the text asks for {right}: a "
            f"term is missing, has the wrong sign, or is weighted, summed or averaged differently")


def _probe(fn, nets: _Nets, gamma: float, name: str, confident: bool) -> None:
    """One call: gradients of each group's loss on its own parameters, then the discriminator's value."""
    dtype = nets.x.dtype
    x_before, version = nets.x.clone(), nets.x._version
    out = _student_losses(fn, nets, gamma, name)
    if nets.x._version != version or not torch.equal(nets.x, x_before):
        raise CheckFailed(f"{name} changed its input x in place (with +=, x[...] = ... or a method ending in _): the "
                          f"caller still needs the batch; work on new tensors instead")
    ref = reference(*nets.inputs(), gamma)
    where = (f"gamma = {gamma}, {str(dtype).replace('torch.', '')} inputs" +
             (", a confident discriminator (logits up to 120 in size)" if confident else ""))
    wrong: dict[str, str] = {}
    for group in GROUPS:
        try:
            got = nets.own_gradient(out[group], group)
        except RuntimeError as err:
            text = str(err).strip().splitlines()[0].split(" Hint:")[0]
            hint = next((h for words, h in CRASH_HINTS if words in str(err)), "")
            raise CheckFailed(f"{name}: back-propagating the {group}'s loss failed with RuntimeError: "
                              f"{text[:240]} {hint}") from err
        expected = nets.own_gradient(ref[group], group)
        if got is None:
            wrong[group] = (f"no gradient of the {group}'s loss reaches the {group}'s parameters (a "
                            f".detach(), torch.no_grad() or .item() on the way?)")
            continue
        if confident and not (torch.isfinite(out[group]).all() and torch.isfinite(got).all()):
            wrong[group] = (f"the {group}'s loss or its gradient is inf or nan where the discriminator is sure of "
                            f"itself ({where}): log(sigmoid(l)) and log(1 - sigmoid(l)) round to log(0) = -inf "
                            f"there; write them as F.logsigmoid(l) and F.logsigmoid(-l) (or use "
                            f"F.binary_cross_entropy_with_logits), which are stable at any logit")
            continue
        if _close(got, expected, RTOL[dtype]):
            continue
        if confident:
            wrong[group] = (f"right at ordinary logits but not where the discriminator is sure of itself ({where}): "
                            f"an epsilon inside log(...), a clamp, or F.binary_cross_entropy on probabilities (it "
                            f"clamps the log at -100) caps the loss there and flattens its gradient; use "
                            f"F.logsigmoid(l), F.logsigmoid(-l) or F.binary_cross_entropy_with_logits")
            continue
        diagnosis = _diagnose(nets, group, got, gamma, RTOL[dtype])
        if diagnosis is None and _close(got, expected, PRECISION_BAND):
            diagnosis = (f"the gradient of the {group}'s loss agrees with the reference only to about 1e-4 ({where}): "
                         f"an epsilon inside a log or a clamp, or a step computed in float32?")
        wrong[group] = diagnosis or (
            f"the gradient of the {group}'s loss with respect to the {group}'s parameters differs from "
            f"the reference ({where})")
    if "decoder" in wrong and "discriminator" in wrong and wrong["decoder"].startswith("the decoder ascends") \
            and wrong["discriminator"].startswith("the discriminator descends"):
        raise CheckFailed(
            f"{name}: these are the source notes' verbatim signs. With L_GAN = log Dis(x) + log(1 - "
            f"Dis(x_tilde)) + log(1 - Dis(x_p)), the log-likelihood of the discriminator's correct "
            f"answers, the discriminator must maximize it (loss -L_GAN) and the decoder must not: the "
            f"notes' rules make the discriminator learn to be wrong and the decoder help it.")
    if wrong:
        raise CheckFailed(f"{name}: " + "; ".join(f"{g}: {m}" for g, m in wrong.items()))
    value = out["discriminator"].detach().to(F64)
    if not _close(value.reshape(()), ref["discriminator"].detach().to(F64), RTOL[dtype]):
        raise CheckFailed(f"{name}: the discriminator's loss is {value.item():.6g}, expected -L_GAN = "
                          f"{ref['discriminator'].item():.6g} ({where}; its gradient is right: is a constant "
                          f"added, or the loss capped?)")


def vae_gan_losses(fn) -> None:
    """Check ``fn(x, x_tilde, x_p, mu, logvar, discriminator, gamma) -> {"encoder", "decoder", "discriminator"}``."""
    __tracebackhide__ = True
    name = "vae_gan_losses"
    probes = 0
    for confident in (False, True):  # ordinary logits first, so that a slip is named before any instability
        for dtype in (F64, F32):
            for seed in ((0, 1) if not confident else (2,)):
                nets = _Nets(seed, dtype, confident=confident)
                for gamma in GAMMAS:
                    _probe(fn, nets, gamma, name, confident)
                    probes += 1
    passed(name, f"each network's loss has the reference gradient on its own parameters (L_prior + L_llike; "
                 f"gamma * L_llike - log Dis(x_tilde) - log Dis(x_p); -L_GAN) on {probes} probes, two gammas, "
                 f"float64 and float32, ordinary and confident discriminators")


EXERCISES = {"vae_gan_losses": vae_gan_losses}
