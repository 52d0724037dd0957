"""Chapter 6: the free-bits option of vae_loss (Kingma et al. 2016)."""

from __future__ import annotations

import pytest
import torch

from course_vae import VAEOutput, elbo, gaussian_kl, kl_per_dimension, vae_loss

D64 = torch.float64


def _output(batch=6, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 1, 4, 4, generator=g, dtype=D64)
    # dimension 0 near the prior (tiny KL), the others far from it
    mu = torch.randn(batch, d, generator=g, dtype=D64) * torch.tensor([0.01, 1.0, 2.0, 1.5], dtype=D64)
    logvar = torch.randn(batch, d, generator=g, dtype=D64) * torch.tensor([0.01, 1.0, 1.0, 0.5], dtype=D64)
    # dimension 4: one example far out, the rest at the prior; its batch average stays small
    spike = torch.zeros(batch, 1, dtype=D64)
    spike[0] = 1.2
    mu, logvar = torch.cat([mu, spike], dim=1), torch.cat([logvar, torch.zeros_like(spike)], dim=1)
    d += 1
    out = VAEOutput(logits=torch.randn(batch, 1, 4, 4, generator=g, dtype=D64).requires_grad_(),
                    mu=mu.requires_grad_(), logvar=logvar.requires_grad_(), z=torch.zeros(batch, d, dtype=D64))
    return x, out


def test_free_bits_clamp_each_batch_averaged_dimension_from_below():
    x, out = _output()
    terms = elbo(x, out)
    per_dim = kl_per_dimension(out.mu, out.logvar)
    lam = 0.25
    assert per_dim[0] < lam < per_dim[1:4].min() and per_dim[4] < lam  # two dimensions under lambda
    for beta in (1.0, 0.3):
        got = vae_loss(x, out, beta=beta, free_bits=lam)
        clamped = torch.clamp(per_dim, min=lam).sum()
        torch.testing.assert_close(got["kl_objective"], clamped)
        torch.testing.assert_close(got["loss"], terms.recon.mean() + beta * clamped)
        torch.testing.assert_close(got["kl"], terms.kl.mean())  # the true KL, for the curves
        torch.testing.assert_close(got["recon"], terms.recon.mean())
    # not the same as clamping each example's KL, nor the whole sum
    per_example = gaussian_kl(out.mu, out.logvar, reduction="none").clamp(min=lam).sum(1).mean()
    assert (got["kl_objective"] - per_example).abs() > 1e-3
    assert (got["kl_objective"] - per_dim.sum().clamp(min=lam)).abs() > 1e-3


def test_a_dimension_under_lambda_gets_no_kl_gradient():
    x, out = _output()
    loss = vae_loss(x, out, free_bits=0.25)["loss"]
    g_mu, g_logvar = torch.autograd.grad(loss, [out.mu, out.logvar])
    for j in (0, 4):
        assert torch.all(g_mu[:, j] == 0) and torch.all(g_logvar[:, j] == 0)
    assert torch.all(g_mu[:, 1:4].abs().sum(0) > 0)
    # the free dimension's gradient is back as soon as lambda is below its KL
    plain = vae_loss(x, out)["loss"]
    g_plain = torch.autograd.grad(plain, out.logvar)[0]
    assert g_plain[:, 0].abs().sum() > 0


def test_free_bits_zero_is_the_plain_loss():
    x, out = _output()
    plain, off = vae_loss(x, out), vae_loss(x, out, free_bits=0.0)
    assert set(off) == {"loss", "recon", "kl"}
    for key in plain:
        torch.testing.assert_close(off[key], plain[key])
    # lambda below every dimension's KL changes nothing but adds the entry
    small = vae_loss(x, out, free_bits=1e-9)
    torch.testing.assert_close(small["loss"], plain["loss"])
    torch.testing.assert_close(small["kl_objective"], plain["kl"])


@pytest.mark.parametrize("kwargs, match", [
    (dict(free_bits=-0.1), "free_bits must be a finite number of nats per latent dimension >= 0"),
    (dict(free_bits=float("nan")), "free_bits must be a finite number"),
    (dict(free_bits=float("inf")), "free_bits must be a finite number"),
    (dict(free_bits="0.25"), "free_bits must be a finite number"),
    (dict(free_bits=True), "free_bits must be a finite number"),
    (dict(free_bits=0.25, capacity=5.0, gamma=10.0), "free_bits and capacity are two different KL objectives"),
    (dict(free_bits=0.25, gamma=10.0), "gamma weighs"),
])
def test_bad_free_bits_are_rejected(kwargs, match):
    x, out = _output()
    with pytest.raises(ValueError, match=match):
        vae_loss(x, out, **kwargs)
