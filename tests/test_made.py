"""Chapter 6: the MADE decoder (Germain et al. 2015) and the VAE with an autoregressive decoder."""

from __future__ import annotations

import pytest
import torch

from course_vae import VAE, elbo_estimate, fit, iwae_bound, vae_loss
from course_vae.made import MADEDecoder

D64 = torch.float64


def _decoder(shape=(1, 4, 5), d=3, hidden=16, direct=True, seed=0):
    torch.manual_seed(seed)
    return MADEDecoder(d, image_shape=shape, hidden=hidden, direct=direct).double()


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("shape, hidden", [((1, 4, 5), 16), ((2, 3, 3), 40), ((1, 1, 2), 3)])
def test_logit_i_depends_on_earlier_pixels_only(direct, shape, hidden):
    dec = _decoder(shape, hidden=hidden, direct=direct)
    with torch.no_grad():  # random weights everywhere, so that no dependence hides behind a zero
        for p in dec.parameters():
            p.normal_()
    g = torch.Generator().manual_seed(1)
    n_pixels = dec.n_pixels
    for _ in range(3):
        z = torch.randn(1, 3, generator=g, dtype=D64)
        x = torch.rand(1, *shape, generator=g, dtype=D64)
        jac = torch.autograd.functional.jacobian(lambda x_: dec(z, x_).flatten(), x).reshape(n_pixels, n_pixels)
        assert torch.all(jac.triu() == 0)  # d logit_i / d x_j = 0 for j >= i
        if not direct:
            continue
        rows, cols = torch.tril_indices(n_pixels, n_pixels, -1)
        assert torch.all(jac[rows, cols] != 0)  # and every earlier pixel counts (direct path)
    # through the hidden layer (masks only, as ReLUs can be off at one x), every logit
    # after the first reads pixel 1 at least, and no logit reads pixel i or later
    paths = dec.hidden_to_logits.mask @ dec.x_to_hidden.mask  # (D, D): number of hidden paths j -> i
    assert torch.all(paths.triu() == 0) and torch.all(paths[1:, 0] > 0)


def test_the_logits_depend_on_z_including_the_first_pixel():
    dec = _decoder()
    g = torch.Generator().manual_seed(2)
    z, x = torch.randn(4, 3, generator=g, dtype=D64), torch.bernoulli(torch.full((4, 1, 4, 5), 0.5, dtype=D64), generator=g)
    jac = torch.autograd.functional.jacobian(lambda z_: dec(z_, x).sum(0).flatten(), z)  # (D, B, d)
    assert torch.all(jac.abs().sum(dim=(1, 2)) > 0)
    no_direct = _decoder(direct=False)
    jac = torch.autograd.functional.jacobian(lambda z_: no_direct(z_, x).sum(0).flatten(), z)
    assert torch.all(jac.abs().sum(dim=(1, 2))[1:] > 0)


def test_vae_with_a_made_decoder_forward_decode_and_estimates():
    torch.manual_seed(0)
    model = VAE(latent_dim=2, hidden=(32,), image_shape=(1, 6, 6), decoder=MADEDecoder(2, image_shape=(1, 6, 6), hidden=24))
    assert model.autoregressive and not VAE(latent_dim=2, hidden=(8,)).autoregressive
    x = torch.bernoulli(torch.full((5, 1, 6, 6), 0.3), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    out = model(x)
    assert out.logits.shape == x.shape and out.z.shape == (5, 2)
    torch.testing.assert_close(out.logits, model.decode(out.z, x))
    with pytest.raises(ValueError, match=r"autoregressive.*decode\(z, x\) needs the images x"):
        model.decode(out.z)
    with pytest.raises(ValueError, match=r"x must have shape \(5, 1, 6, 6\)"):
        model.decode(out.z, x[:, :, :5])
    assert elbo_estimate(model, x, draws=3).shape == (5,)
    assert iwae_bound(model, x, K=4, generator=torch.Generator().manual_seed(0)).shape == (5,)
    history = fit(model, lambda m, b: vae_loss(b, m(b)), x, epochs=2, batch_size=5, lr=1e-2, seed=0, progress=False)
    assert history.train["loss"][1] < history.train["loss"][0]


def test_sampling_is_the_model_drawn_pixel_by_pixel_and_repeats_with_a_seed():
    torch.manual_seed(0)
    model = VAE(latent_dim=3, hidden=(16,), image_shape=(1, 4, 5), decoder=MADEDecoder(3, image_shape=(1, 4, 5), hidden=16))
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.normal_()
    a = model.sample(50, generator=torch.Generator().manual_seed(3))
    b = model.sample(50, generator=torch.Generator().manual_seed(3))
    assert a.shape == (50, 1, 4, 5) and torch.equal(a, b)
    assert set(a.unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(a, model.sample(50, generator=torch.Generator().manual_seed(4)))
    # the incremental sampler draws pixel i from sigmoid(logit_i) of the teacher-forced
    # decoder on the finished image, with the uniforms in generator order (after z)
    g = torch.Generator().manual_seed(3)
    z = torch.randn(50, 3, generator=g)
    u = torch.rand(50, 20, generator=g)
    with torch.no_grad():
        probs = torch.sigmoid(model.decode(z, a)).flatten(1)
    torch.testing.assert_close((u < probs).float(), a.flatten(1), rtol=0, atol=0)
    assert torch.equal(model.decoder.sample(z, generator=torch.Generator().manual_seed(9)),
                       model.decoder.sample(z, generator=torch.Generator().manual_seed(9)))


@pytest.mark.parametrize("kwargs, match", [
    (dict(latent_dim=0), "latent_dim must be a positive integer"),
    (dict(latent_dim=2, hidden=0), "hidden must be a positive integer"),
    (dict(latent_dim=2, image_shape=(1, 1, 1)), "at least 2 pixels"),
    (dict(latent_dim=2, image_shape=(1, 0, 4)), "image_shape must be a tuple of positive integers"),
])
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MADEDecoder(**kwargs)


def test_the_vae_checks_an_autoregressive_decoder_against_its_latent_size():
    with pytest.raises(ValueError, match=r"z must have shape \(B, 3\)"):
        VAE(latent_dim=2, hidden=(8,), image_shape=(1, 4, 5), decoder=MADEDecoder(3, image_shape=(1, 4, 5), hidden=8))
