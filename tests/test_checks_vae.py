"""Chapter 4's checker rejects the known mistakes of VAE losses (SYLLABUS items 3 and 9, and
issue 9's unstable forms at large logits) and accepts correct losses however they are written."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Normal, kl_divergence

import course_vae
from course_vae.checks import vae as checks

from .checker_harness import assert_accepts, assert_rejects


def _parts(x, out):
    bce = F.binary_cross_entropy_with_logits(out.logits, x, reduction="none").flatten(1)
    kl = 0.5 * (out.logvar.exp() + out.mu.pow(2) - 1 - out.logvar)
    return bce, kl


def _loss(recon_per_image, kl_per_image, loss=None):
    if loss is None:
        loss = (recon_per_image + kl_per_image).mean()
    return {"loss": loss, "recon": recon_per_image.mean(), "kl": kl_per_image.mean()}


def _with_recon(recon_per_image):
    """A loss with the given per-image reconstruction term and the right KL."""
    def loss(x, out):
        _, kl = _parts(x, out)
        return _loss(recon_per_image(x, out), kl.sum(1))
    return loss


def _with_kl(kl_per_image):
    def loss(x, out):
        bce, _ = _parts(x, out)
        return _loss(bce.sum(1), kl_per_image(out))
    return loss


def _pixel_averaged(x, out):  # SYLLABUS item 9
    bce, kl = _parts(x, out)
    return _loss(bce.sum(1), kl.sum(1), (bce.mean(1) + kl.sum(1)).mean())


def _kl_wrong_sign(x, out):
    bce, kl = _parts(x, out)
    return _loss(bce.sum(1), kl.sum(1), (bce.sum(1) - kl.sum(1)).mean())


def _plus_elbo(x, out):  # SYLLABUS item 3: minimizing the ELBO itself
    bce, kl = _parts(x, out)
    return _loss(bce.sum(1), kl.sum(1), -(bce.sum(1) + kl.sum(1)).mean())


def _batch_sum(x, out):
    bce, kl = _parts(x, out)
    return _loss(bce.sum(1), kl.sum(1), (bce.sum(1) + kl.sum(1)).sum())


def _no_kl(x, out):
    bce, kl = _parts(x, out)
    return _loss(bce.sum(1), kl.sum(1), bce.sum(1).mean())


def _missing_keys(x, out):
    bce, kl = _parts(x, out)
    return {"loss": (bce.sum(1) + kl.sum(1)).mean()}


def _wrong_recon_entry(x, out):
    bce, kl = _parts(x, out)
    return {"loss": (bce.sum(1) + kl.sum(1)).mean(), "recon": bce.mean(), "kl": kl.sum(1).mean()}


def _negated_recon_entry(x, out):
    bce, kl = _parts(x, out)
    return {"loss": (bce.sum(1) + kl.sum(1)).mean(), "recon": -bce.sum(1).mean(), "kl": kl.sum(1).mean()}


def _detached(x, out):
    bce, kl = _parts(x, out)
    return _loss(bce.sum(1), kl.sum(1), (bce.sum(1) + kl.sum(1)).mean().detach())


def _log_sigmoid_by_hand(x, l):  # the textbook formula, unstable in float32 for |l| > 17
    p = torch.sigmoid(l)
    return -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(1)


def _clamped_probabilities(x, l):
    p = torch.sigmoid(l).clamp(1e-7, 1 - 1e-7)
    return -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(1)


def _clamped_in_place(x, out):
    p = torch.sigmoid(out.logits)
    p.clamp_(1e-7, 1 - 1e-7)  # overwrites sigmoid's saved output
    recon = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(1)
    return _loss(recon, _parts(x, out)[1].sum(1))


def _sampled_kl(out):
    q = Normal(out.mu, (0.5 * out.logvar).exp())
    return (q.log_prob(out.z) - Normal(0.0, 1.0).log_prob(out.z)).sum(1)


def _fresh_sample_kl(out):
    z = out.mu + (0.5 * out.logvar).exp() * torch.randn_like(out.mu)
    return (0.5 * (z**2 - (z - out.mu) ** 2 / out.logvar.exp() - out.logvar)).sum(1)


MISTAKES = {
    "vae_loss": [
        (_pixel_averaged, ["averaged over pixels", "784"]),
        (_kl_wrong_sign, ["wrong sign"]),
        (_plus_elbo, ["+ELBO"]),
        (_with_recon(lambda x, out: F.binary_cross_entropy_with_logits(torch.sigmoid(out.logits), x, reduction="none").flatten(1).sum(1)),
         ["sigmoid"]),
        (_batch_sum, ["summed over the batch"]),
        (_no_kl, ["KL term is missing"]),
        (_missing_keys, ["'recon' and 'kl'"]),
        (_wrong_recon_entry, ["['recon']"]),
        (_negated_recon_entry, ["opposite sign"]),
        (_detached, ["no gradient"]),
        (lambda x, out: tuple(course_vae.vae_loss(x, out).values()), ["should return a dict"]),
        # new: unstable forms and clamps, visible at logits of +-15 to 30 in float32
        (_with_recon(lambda x, out: _log_sigmoid_by_hand(x, out.logits)), ["NaN or infinite", "sigmoid(l) rounds to exactly 1"]),
        (_with_recon(lambda x, out: F.binary_cross_entropy(torch.sigmoid(out.logits), x, reduction="none").flatten(1).sum(1)),
         ["logits up to +-30", "clips that log at -100"]),
        (_with_recon(lambda x, out: _clamped_probabilities(x, out.logits)), ["logits up to +-30", "clamp"]),
        (_with_recon(lambda x, out: F.binary_cross_entropy_with_logits(out.logits.clamp(-10, 10), x, reduction="none").flatten(1).sum(1)),
         ["logits up to about +-15"]),
        (_clamped_in_place, ["in-place", "autograd had saved"]),
        # new: the wrong tools for grey-level targets and logits
        (_with_recon(lambda x, out: -Bernoulli(logits=out.logits).log_prob(x).flatten(1).sum(1)), ["grey levels"]),
        (_with_recon(lambda x, out: F.binary_cross_entropy(out.logits, x, reduction="none").flatten(1).sum(1)),
         ["out.logits are logits"]),
        # new: the KL slips of chapter 2 inside the loss, and sampled KLs
        (_with_kl(lambda out: 0.5 * (out.logvar.exp() + out.mu.pow(2) - 1 + out.logvar).sum(1)), ["In the KL term", "log-variance"]),
        (_with_kl(lambda out: 0.5 * (out.logvar.exp().pow(2) + out.mu.pow(2) - 1 - 2 * out.logvar).sum(1)),
         ["In the KL term", "standard deviation"]),
        (_with_kl(lambda out: 0.5 * (out.logvar.exp() + out.mu.pow(2) - 1 - out.logvar).mean(1)), ["averaged over latent dimensions"]),
        (_with_kl(_sampled_kl), ["closed form"]),
        (_with_kl(_fresh_sample_kl), ["different values for the same inputs"]),
        # new: dtypes
        (lambda x, out: {k: v.double() for k, v in course_vae.vae_loss(x, out).items()}, ["float64 for float32 inputs"]),
    ],
}


def _softplus_form(x, out):
    l = out.logits  # noqa: E741
    return _loss((x * F.softplus(-l) + (1 - x) * F.softplus(l)).flatten(1).sum(1), _parts(x, out)[1].sum(1))


def _logsigmoid_form(x, out):
    l = out.logits  # noqa: E741
    return _loss(-(x * F.logsigmoid(l) + (1 - x) * F.logsigmoid(-l)).flatten(1).sum(1), _parts(x, out)[1].sum(1))


def _batch_sums_divided(x, out):
    batch = len(x)
    recon = F.binary_cross_entropy_with_logits(out.logits, x, reduction="sum")
    kl = 0.5 * (out.logvar.exp() + out.mu.pow(2) - 1 - out.logvar).sum()
    return {"loss": (recon + kl) / batch, "recon": recon / batch, "kl": kl / batch}


def _distributions(x, out):
    recon = -Bernoulli(logits=out.logits, validate_args=False).log_prob(x).flatten(1).sum(1)
    kl = kl_divergence(Normal(out.mu, (0.5 * out.logvar).exp()), Normal(torch.zeros_like(out.mu), torch.ones_like(out.mu))).sum(1)
    return _loss(recon, kl)


def _float64_inside(x, out):
    terms = course_vae.vae_loss(x.double(), course_vae.VAEOutput(out.logits.double(), out.mu.double(), out.logvar.double(), out.z.double()))
    return {key: value.to(x.dtype) for key, value in terms.items()}


def _loop_over_images(x, out):
    recon = torch.stack([F.binary_cross_entropy_with_logits(out.logits[i], x[i], reduction="sum") for i in range(len(x))])
    return _loss(recon, _parts(x, out)[1].sum(1))


def _stable_by_hand(x, out):
    l = out.logits  # noqa: E741 - max(l, 0) - l x + log(1 + exp(-|l|))
    recon = (l.clamp(min=0) - l * x + torch.log1p(torch.exp(-l.abs()))).flatten(1).sum(1)
    return _loss(recon, _parts(x, out)[1].sum(1))


CORRECT = {
    "vae_loss": [
        course_vae.vae_loss,
        lambda x, out: _loss(_parts(x, out)[0].sum(1), _parts(x, out)[1].sum(1)),
        _softplus_form,
        _logsigmoid_form,
        _batch_sums_divided,
        _distributions,
        _float64_inside,
        _loop_over_images,
        _stable_by_hand,
    ],
}


@pytest.mark.parametrize("wrong, words", MISTAKES["vae_loss"])
def test_vae_loss_checker_rejects(wrong, words):
    assert_rejects(checks.vae_loss, wrong, words)


@pytest.mark.parametrize("right", CORRECT["vae_loss"])
def test_vae_loss_checker_accepts(right):
    assert_accepts(checks.vae_loss, right)
