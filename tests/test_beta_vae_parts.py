"""Chapter 5's package parts: the beta and capacity options of vae_loss, the KL per
latent dimension, and the convolutional encoder and decoder blocks."""

from __future__ import annotations

import pytest
import torch

from course_vae import VAE, VAEOutput, conv_decoder, conv_encoder, elbo, fit, gaussian_kl, kl_per_dimension, vae_loss

D64 = torch.float64


def _output(batch=5, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 1, 8, 8, generator=g, dtype=D64)
    out = VAEOutput(logits=torch.randn(batch, 1, 8, 8, generator=g, dtype=D64).requires_grad_(),
                    mu=torch.randn(batch, d, generator=g, dtype=D64).requires_grad_(),
                    logvar=torch.randn(batch, d, generator=g, dtype=D64).requires_grad_(),
                    z=torch.randn(batch, d, generator=g, dtype=D64))
    return x, out


def test_beta_weighs_only_the_kl():
    x, out = _output()
    terms = elbo(x, out)
    for beta in (0.0, 0.5, 1.0, 4.0):
        got = vae_loss(x, out, beta=beta)
        torch.testing.assert_close(got["loss"], (terms.recon + beta * terms.kl).mean())
        torch.testing.assert_close(got["kl"], terms.kl.mean())  # the unweighted KL, for the curves
        torch.testing.assert_close(got["recon"], terms.recon.mean())


def test_capacity_objective():
    x, out = _output()
    terms = elbo(x, out)
    kl = terms.kl.mean()
    for capacity in (0.0, kl.item() - 1.0, kl.item() + 2.5):
        got = vae_loss(x, out, capacity=capacity, gamma=30.0)
        torch.testing.assert_close(got["loss"], terms.recon.mean() + 30.0 * (kl - capacity).abs())
        assert got["capacity"] == capacity
    below = vae_loss(x, out, capacity=kl.item() + 2.5, gamma=30.0)["loss"]
    above = vae_loss(x, out, capacity=kl.item() - 1.0, gamma=30.0)["loss"]
    (grad_kl,) = torch.autograd.grad(kl, out.mu, retain_graph=True)
    (grad_kl_below,) = torch.autograd.grad(below, out.mu, retain_graph=True)  # the reconstruction ignores mu here
    (grad_kl_above,) = torch.autograd.grad(above, out.mu)
    torch.testing.assert_close(grad_kl_above, 30.0 * grad_kl)  # above C the KL is pushed down
    torch.testing.assert_close(grad_kl_below, -30.0 * grad_kl)  # below C the KL is pushed up


@pytest.mark.parametrize("kwargs, match", [
    ({"capacity": -1.0, "gamma": 1.0}, "capacity must be"),
    ({"capacity": float("inf"), "gamma": 1.0}, "capacity must be"),
    ({"capacity": 1.0}, "positive finite gamma"),
    ({"capacity": 1.0, "gamma": 0.0}, "positive finite gamma"),
    ({"capacity": 1.0, "gamma": 2.0, "beta": 4.0}, "beta must stay 1"),
    ({"gamma": 2.0}, "pass a capacity"),
    ({"beta": -1.0}, "beta must be"),
])
def test_bad_loss_options(kwargs, match):
    x, out = _output()
    with pytest.raises(ValueError, match=match):
        vae_loss(x, out, **kwargs)


def test_kl_per_dimension_sums_to_the_average_kl():
    _, out = _output(batch=7, d=3)
    per_dim = kl_per_dimension(out.mu, out.logvar)
    assert per_dim.shape == (3,) and (per_dim >= 0).all()
    torch.testing.assert_close(per_dim.sum(), gaussian_kl(out.mu, out.logvar).mean())
    prior = kl_per_dimension(torch.zeros(4, 2), torch.zeros(4, 2))
    assert torch.equal(prior, torch.zeros(2))
    with pytest.raises(ValueError, match=r"\(B, d\)"):
        kl_per_dimension(torch.zeros(3), torch.zeros(3))


def test_conv_blocks_plug_into_the_vae_and_train():
    torch.manual_seed(0)
    encoder, decoder = conv_encoder(3, (1, 16, 16), channels=(4, 8)), conv_decoder(3, (1, 16, 16), channels=(8, 4))
    model = VAE(latent_dim=3, image_shape=(1, 16, 16), encoder=encoder, decoder=decoder)
    x = (torch.rand(64, 1, 16, 16) > 0.7).float()
    out = model(x)
    assert out.logits.shape == (64, 1, 16, 16) and out.mu.shape == (64, 3) and out.logvar.shape == (64, 3)
    history = fit(model, lambda m, xb: vae_loss(xb, m(xb)), x, epochs=3, batch_size=16, lr=1e-2, seed=0, progress=False)
    assert history.train["loss"][-1] < history.train["loss"][0]


def test_conv_blocks_for_colour_and_rectangles():
    encoder = conv_encoder(5, (3, 32, 16), channels=(4, 4, 4, 4), hidden=7)
    decoder = conv_decoder(5, (3, 32, 16), channels=(4, 4, 4, 4), hidden=7)
    mu, logvar = encoder(torch.rand(2, 3, 32, 16))
    assert mu.shape == logvar.shape == (2, 5)
    assert decoder(mu).shape == (2, 3, 32, 16)


@pytest.mark.parametrize("build, match", [
    (lambda: conv_encoder(2, (1, 28, 28), channels=(4, 4, 4)), "divisible by 8"),
    (lambda: conv_decoder(2, (1, 20, 20), channels=(4, 4, 4)), "divisible by 8"),
    (lambda: conv_encoder(2, (1, 32, 32), channels=()), "non-empty"),
    (lambda: conv_encoder(2, (32, 32), channels=(4,)), r"\(C, H, W\)"),
    (lambda: conv_decoder(0, (1, 32, 32)), "latent_dim"),
    (lambda: conv_encoder(0, (1, 32, 32)), "latent_dim"),
])
def test_conv_blocks_reject_bad_arguments(build, match):
    with pytest.raises(ValueError, match=match):
        build()
