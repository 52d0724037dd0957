"""Checker of chapter 4's exercise: the VAE training loss with the right reductions."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..vae import VAEOutput
from .core import (
    F32,
    F64,
    CheckFailed,
    call,
    expect_close,
    expect_dtype,
    expect_gradients,
    expect_shape,
    expect_tensor,
    expect_unchanged,
    gradient,
    passed,
    snapshot,
    student_gradient,
)
from .elbo import kl_variants

LARGE_LOGITS = (
    "The probe has logits up to +-30, which a trained decoder gives to background pixels. In float32 sigmoid(l) "
    "rounds to exactly 1 for l > 17, so log(1 - sigmoid(l)) is log(0), and F.binary_cross_entropy(sigmoid(l), x) "
    "clips that log at -100; a clamp of the logits or of the probabilities changes the loss there too. Compute the "
    "reconstruction term from the logits (F.binary_cross_entropy_with_logits does it stably)."
)

VAE_HINTS = [
    ("within the support",
     "torch.distributions.Bernoulli checks that x is exactly 0 or 1, and MNIST intensities are grey levels: use "
     "F.binary_cross_entropy_with_logits, which accepts targets in [0, 1]."),
    ("between 0 and 1",
     "out.logits are logits (any real number), not probabilities; F.binary_cross_entropy_with_logits takes them as they are."),
]


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a.detach(), b.detach(), rtol=0, atol=0, equal_nan=True)


def _case(batch: int, d: int, dtype: torch.dtype, g: torch.Generator, *, logit_scale: float, binary: bool, extreme: bool):
    x = torch.rand(batch, 1, 28, 28, generator=g, dtype=F64)
    if binary:  # mostly exact 0s and 1s, as in MNIST's background and strokes, with some grey levels
        x = torch.where(x < 0.7, torch.zeros_like(x), torch.where(x > 0.85, torch.ones_like(x), (x - 0.7) / 0.15))
    logits = logit_scale * torch.randn(batch, 1, 28, 28, generator=g, dtype=F64)
    if extreme:  # confident logits, right and wrong, up to +-30
        logits = torch.sign(logits) * (15 + 15 * torch.rand(logits.shape, generator=g, dtype=F64))
    mu = torch.randn(batch, d, generator=g, dtype=F64)
    logvar = torch.randn(batch, d, generator=g, dtype=F64)
    if extreme:
        mu, logvar = 4 * mu, torch.linspace(-12, 8, batch * d, dtype=F64).reshape(batch, d)
    z = mu + (0.5 * logvar).exp() * torch.randn(batch, d, generator=g, dtype=F64)
    return tuple(t.to(dtype) for t in (x, logits, mu, logvar, z))


def vae_loss(fn) -> None:
    """Check ``fn(x, out)``: ``{"loss": -mean ELBO, "recon": mean -log p(x|z), "kl": mean KL}``.

    Probes: float64 batches (one with a single image), float32 batches with binary-like
    pixels, and float32 logits up to +-30 with extreme log-variances (where unstable
    formulas give inf, NaN or clipped values). Values of the three entries, the
    dtype of the loss, and the gradients of the loss with respect to the logits, mu
    and logvar.
    """
    __tracebackhide__ = True
    name = "vae_loss"
    g = torch.Generator().manual_seed(13)
    cases = [  # (probe, batch, d, dtype, logit scale, binary pixels, extreme values)
        ("float64, 6 images, d = 3", 6, 3, F64, 2.0, False, False),
        ("float64, 4 images, d = 20", 4, 20, F64, 2.0, False, False),
        ("float64, a batch of one image", 1, 5, F64, 2.0, False, False),
        ("float32, 8 images with mostly black and white pixels, logits up to about +-15, d = 16", 8, 16, F32, 4.0, True, False),
        ("float32 logits from -30 to -15 and 15 to 30 and logvar from -12 to 8", 6, 8, F32, 1.0, True, True),
    ]
    for probe, batch, d, dtype, scale, binary, extreme in cases:
        x, logits, mu, logvar, z = _case(batch, d, dtype, g, logit_scale=scale, binary=binary, extreme=extreme)
        for t in (logits, mu, logvar):
            t.requires_grad_()
        out = VAEOutput(logits=logits, mu=mu, logvar=logvar, z=z)
        args = (x.clone(), out)
        copies = snapshot(args[0], logits, mu, logvar, z)
        terms = call(fn, name, *args, hints=VAE_HINTS)
        expect_unchanged([args[0], logits, mu, logvar, z], copies, ["x", "out.logits", "out.mu", "out.logvar", "out.z"], name)
        if not isinstance(terms, dict) or not {"loss", "recon", "kl"} <= set(terms):
            got = sorted(terms) if isinstance(terms, dict) else type(terms).__name__
            raise CheckFailed(f"{name} should return a dict with the keys 'loss', 'recon' and 'kl', got {got}")
        loss = expect_tensor(terms["loss"], f"{name}()['loss']")
        expect_shape(loss, (), f"{name}()['loss']", "one number for the batch (fit minimizes it)")
        again = call(fn, name, x.clone(), out, seed=1, hints=VAE_HINTS)
        if isinstance(again, dict) and isinstance(again.get("loss"), torch.Tensor) and not _same(again["loss"], loss):
            raise CheckFailed(f"{name} gives different values for the same inputs: the loss uses the closed-form KL and "
                              "the logits it is given; it draws nothing")

        x64, l64, m64, lv64 = x.to(F64), logits.to(F64), mu.to(F64), logvar.to(F64)
        bce = F.binary_cross_entropy_with_logits(l64, x64, reduction="none").flatten(1)  # (B, 784)
        recon = bce.sum(1)  # (B,) -log p(x|z)
        kl_terms = 0.5 * (lv64.exp() + m64.pow(2) - 1 - lv64)  # (B, d)
        kl = kl_terms.sum(1)
        expected = (recon + kl).mean()
        z64 = z.to(F64)
        sampled_kl = (0.5 * (z64.pow(2) - (z64 - m64).pow(2) / lv64.exp() - lv64)).sum(1)  # log q(z) - log p(z)
        known = [
            ((bce.mean(1) + kl).mean(), "The reconstruction is averaged over pixels while the KL is summed: that silently multiplies the KL's weight by 784."),
            ((recon - kl).mean(), "The KL enters with the wrong sign: the loss is -ELBO = reconstruction loss + KL."),
            (-expected, "That is +ELBO; fit minimizes the loss, so return the negative ELBO."),
            ((F.binary_cross_entropy_with_logits(torch.sigmoid(l64), x64, reduction="none").flatten(1).sum(1) + kl).mean(), "The logits went through a sigmoid before a loss that applies its own: pass the logits directly."),
            ((F.binary_cross_entropy(torch.sigmoid(torch.sigmoid(l64)), x64, reduction="none").flatten(1).sum(1) + kl).mean(), "The logits went through a sigmoid twice."),
            ((recon + kl).sum(), "The loss is summed over the batch; average it instead."),
            ((recon + kl_terms.mean(1)).mean(), "The KL is averaged over latent dimensions; sum it."),
            (recon.mean(), "The KL term is missing."),
            (bce.mean() + kl.mean(), "The reconstruction is averaged over pixels and batch together; sum over the pixels of each image."),
            ((recon + sampled_kl).mean(), "The KL is estimated from the sample z; the exercise asks for the closed form from mu and logvar."),
            *[((recon + wrong).mean(), f"In the KL term: {hint[0].lower()}{hint[1:]}") for wrong, hint in kl_variants(m64, lv64)],
        ]
        expect_dtype(loss, dtype, f"{name}()['loss']")
        hint_probe = f"{probe}. {LARGE_LOGITS}" if extreme else probe
        expect_close(loss, expected, f"{name}()['loss']", what="loss", known_mistakes=known, dtype=dtype, probe=hint_probe)
        for key, want, mistakes in (
            ("recon", recon.mean(), [(-recon.mean(), "'recon' is the reconstruction loss -log p(x|z), a positive number; yours has the opposite sign."),
                                     (bce.mean(), "'recon' is averaged over the pixels; sum over the pixels of each image, then average over the batch.")]),
            ("kl", kl.mean(), [(kl.sum(), "'kl' is summed over the batch; average it.")]),
        ):
            got = expect_tensor(terms[key], f"{name}()['{key}']")
            expect_shape(got, (), f"{name}()['{key}']", "the batch average, for the training curves")
            expect_close(got, want, f"{name}()['{key}']", known_mistakes=mistakes, dtype=dtype, probe=probe)
        weights = torch.ones((), dtype=F64)
        inputs = [logits, mu, logvar]
        got = student_gradient(loss, inputs, weights, name)
        expect_gradients(got, gradient(expected, inputs, weights), ["the logits", "mu", "logvar"], name, dtype=dtype,
                         probe=hint_probe, axes=[("example", "channel", "row", "column"), ("example", "coordinate"),
                                                 ("example", "coordinate")])
    passed(name, f"loss, recon and kl match the negative ELBO and its terms on {len(cases)} probes (a batch of one, "
                 "float32, logits up to +-30), with gradients")


EXERCISES = {"vae_loss": vae_loss}
