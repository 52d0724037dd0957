"""Chapter 4's checker rejects the known mistakes of VAE losses (SYLLABUS items 3 and 9)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import course_vae
from course_vae.checks import vae as checks

from .checker_harness import assert_rejects


def _parts(x, out):
    bce = F.binary_cross_entropy_with_logits(out.logits, x, reduction="none").flatten(1)
    kl = 0.5 * (out.logvar.exp() + out.mu.pow(2) - 1 - out.logvar)
    return bce, kl


def _loss(recon_per_image, kl_per_image, loss):
    return {"loss": loss, "recon": recon_per_image.mean(), "kl": kl_per_image.mean()}


def _pixel_averaged(x, out):  # SYLLABUS item 9
    bce, kl = _parts(x, out)
    return _loss(bce.sum(1), kl.sum(1), (bce.mean(1) + kl.sum(1)).mean())


def _kl_wrong_sign(x, out):
    bce, kl = _parts(x, out)
    return _loss(bce.sum(1), kl.sum(1), (bce.sum(1) - kl.sum(1)).mean())


def _plus_elbo(x, out):  # SYLLABUS item 3: minimizing the ELBO itself
    bce, kl = _parts(x, out)
    return _loss(bce.sum(1), kl.sum(1), -(bce.sum(1) + kl.sum(1)).mean())


def _sigmoid_twice(x, out):
    _, kl = _parts(x, out)
    bce = F.binary_cross_entropy_with_logits(torch.sigmoid(out.logits), x, reduction="none").flatten(1).sum(1)
    return _loss(bce, kl.sum(1), (bce + kl.sum(1)).mean())


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


def _detached(x, out):
    bce, kl = _parts(x, out)
    return _loss(bce.sum(1), kl.sum(1), (bce.sum(1) + kl.sum(1)).mean().detach())


MISTAKES = {
    "vae_loss": [
        (_pixel_averaged, ["averaged over pixels", "784"]),
        (_kl_wrong_sign, ["wrong sign"]),
        (_plus_elbo, ["+ELBO"]),
        (_sigmoid_twice, ["sigmoid"]),
        (_batch_sum, ["summed over the batch"]),
        (_no_kl, ["KL term is missing"]),
        (_missing_keys, ["'recon' and 'kl'"]),
        (_wrong_recon_entry, ["['recon']"]),
        (_detached, ["no gradient"]),
    ],
}


@pytest.mark.parametrize("wrong, words", MISTAKES["vae_loss"])
def test_vae_loss_checker_rejects(wrong, words):
    assert_rejects(checks.vae_loss, wrong, words)


def test_checker_accepts_the_package_loss(capsys):
    checks.vae_loss(course_vae.vae_loss)
    assert capsys.readouterr().out.startswith("✓ vae_loss")
