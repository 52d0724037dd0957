"""Checker of chapter 4's exercise: the VAE training loss with the right reductions."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..vae import VAEOutput
from .core import CheckFailed, call, expect_close, expect_gradients, expect_shape, expect_tensor, gradient, passed

D64 = torch.float64


def vae_loss(fn) -> None:
    """Check ``fn(x, out)``: ``{"loss": -mean ELBO, "recon": mean -log p(x|z), "kl": mean KL}``."""
    name = "vae_loss"
    g = torch.Generator().manual_seed(13)
    cases = [(6, 3), (4, 20)]
    for batch, d in cases:
        x = torch.rand(batch, 1, 28, 28, generator=g, dtype=D64)
        logits = (2 * torch.randn(batch, 1, 28, 28, generator=g, dtype=D64)).requires_grad_()
        mu = torch.randn(batch, d, generator=g, dtype=D64).requires_grad_()
        logvar = torch.randn(batch, d, generator=g, dtype=D64).requires_grad_()
        out = VAEOutput(logits=logits, mu=mu, logvar=logvar, z=torch.randn(batch, d, generator=g, dtype=D64))
        terms = call(fn, name, x.clone(), out)
        if not isinstance(terms, dict) or not {"loss", "recon", "kl"} <= set(terms):
            got = sorted(terms) if isinstance(terms, dict) else type(terms).__name__
            raise CheckFailed(f"{name} should return a dict with the keys 'loss', 'recon' and 'kl', got {got}")
        loss = expect_tensor(terms["loss"], f"{name}()['loss']")
        expect_shape(loss, (), f"{name}()['loss']", "one number for the batch (fit minimizes it)")

        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)  # (B, 784)
        recon = bce.sum(1)  # (B,) -log p(x|z)
        kl_terms = 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar)  # (B, d)
        kl = kl_terms.sum(1)
        expected = (recon + kl).mean()
        expect_close(
            loss,
            expected,
            f"{name}()['loss']",
            what="loss",
            known_mistakes=[
                ((bce.mean(1) + kl).mean(), "The reconstruction is averaged over pixels while the KL is summed: that silently multiplies the KL's weight by 784."),
                ((recon - kl).mean(), "The KL enters with the wrong sign: the loss is -ELBO = reconstruction loss + KL."),
                (-expected, "That is +ELBO; fit minimizes the loss, so return the negative ELBO."),
                ((F.binary_cross_entropy_with_logits(torch.sigmoid(logits), x, reduction="none").flatten(1).sum(1) + kl).mean(), "The logits went through a sigmoid before a loss that applies its own: pass the logits directly."),
                ((F.binary_cross_entropy(torch.sigmoid(torch.sigmoid(logits)), x, reduction="none").flatten(1).sum(1) + kl).mean(), "The logits went through a sigmoid twice."),
                ((recon + kl).sum(), "The loss is summed over the batch; average it instead."),
                ((recon + kl_terms.mean(1)).mean(), "The KL is averaged over latent dimensions; sum it."),
                (recon.mean(), "The KL term is missing."),
                (bce.mean() + kl.mean(), "The reconstruction is averaged over pixels and batch together; sum over the pixels of each image."),
            ],
            rtol=1e-6,
            atol=1e-8,
        )
        for key, want in (("recon", recon.mean()), ("kl", kl.mean())):
            got = expect_tensor(terms[key], f"{name}()['{key}']")
            expect_shape(got, (), f"{name}()['{key}']", "the batch average, for the training curves")
            expect_close(got, want, f"{name}()['{key}']", rtol=1e-6, atol=1e-8)
        weights = torch.ones((), dtype=D64)
        expect_gradients(gradient(loss, [logits, mu, logvar], weights), gradient(expected, [logits, mu, logvar], weights),
                         ["the logits", "mu", "logvar"], name, rtol=1e-6, atol=1e-9)
    passed(name, f"loss, recon and kl match the negative ELBO and its terms on {len(cases)} batches, with gradients")


EXERCISES = {"vae_loss": vae_loss}
