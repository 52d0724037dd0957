"""The conditional VAE of chapter 7."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_vae import CVAE, VAEOutput, elbo, elbo_estimate, fit, gaussian_kl, iwae_bound, vae_loss
from course_vae.likelihoods import bernoulli_log_likelihood


def _model(**kwargs):
    torch.manual_seed(0)
    return CVAE(**{"latent_dim": 3, "hidden": (16,), **kwargs})


def test_shapes_and_vae_output():
    model = _model()
    x, y = torch.rand(5, 1, 28, 28), torch.tensor([0, 3, 9, 3, 1])
    out = model(x, y)
    assert isinstance(out, VAEOutput)
    assert out.logits.shape == x.shape and out.mu.shape == out.logvar.shape == out.z.shape == (5, 3)
    mu, logvar = model.encode(x, y)
    assert torch.equal(mu, out.mu) and torch.equal(logvar, out.logvar)
    assert model.decode(out.z, y).shape == x.shape
    terms = elbo(x, out)  # the chapter-4 loss, unchanged
    torch.testing.assert_close(terms.kl, gaussian_kl(out.mu, out.logvar))
    torch.testing.assert_close(vae_loss(x, out)["loss"], -terms.elbo.mean())
    assert model.condition_width == 10 and model.num_classes == 10 and model.condition_dim is None


def test_built_from_the_vae_pieces():
    model = _model(num_classes=4, image_shape=(1, 2, 3))
    first = [m for m in model.encoder.modules() if isinstance(m, nn.Linear)][0]
    assert first.in_features == 6 + 4  # data values plus the one-hot
    first_dec = [m for m in model.decoder.modules() if isinstance(m, nn.Linear)][0]
    assert first_dec.in_features == 3 + 4  # latent coordinates plus the one-hot


def test_one_hot_inside():
    model = _model(num_classes=4)
    onehot = model.condition(torch.tensor([2, 0, 3]))
    assert onehot.dtype == torch.float32
    torch.testing.assert_close(onehot, torch.eye(4)[[2, 0, 3]])
    assert model.condition(torch.tensor([1], dtype=torch.int32)).shape == (1, 4)


def test_the_label_reaches_encoder_and_decoder():
    model = _model()
    x, z = torch.rand(4, 1, 28, 28), torch.randn(4, 3)
    y0, y1 = torch.zeros(4, dtype=torch.long), torch.full((4,), 7)
    mu0, logvar0 = model.encode(x, y0)
    mu1, logvar1 = model.encode(x, y1)
    assert not torch.allclose(mu0, mu1) and not torch.allclose(logvar0, logvar1)
    assert not torch.allclose(model.decode(z, y0), model.decode(z, y1))
    # the encoder's input is exactly [x, one-hot(y)] and the decoder's [z, one-hot(y)]
    seen = {}
    model.encoder.register_forward_pre_hook(lambda m, inp: seen.__setitem__("enc", inp[0]))
    model.decoder.register_forward_pre_hook(lambda m, inp: seen.__setitem__("dec", inp[0]))
    model(x, y1)
    torch.testing.assert_close(seen["enc"][:, 784:], nn.functional.one_hot(y1, 10).float())
    torch.testing.assert_close(seen["enc"][:, :784], x.flatten(1))
    torch.testing.assert_close(seen["dec"][:, 3:], nn.functional.one_hot(y1, 10).float())


def test_bad_labels_raise():
    model = _model(num_classes=10)
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        model(x, torch.tensor([0, 10]))
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        model(x, torch.tensor([-1, 2]))
    with pytest.raises(ValueError, match="integer labels"):
        model(x, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="integer labels"):
        model(x, torch.zeros(2, 10))
    with pytest.raises(ValueError, match="rows"):
        model(x, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="latent_dim"):
        CVAE(latent_dim=0)
    with pytest.raises(ValueError, match="num_classes"):
        CVAE(latent_dim=2, num_classes=0)
    with pytest.raises(ValueError, match="not both"):
        CVAE(latent_dim=2, num_classes=5, condition_dim=3)
    with pytest.raises(ValueError, match="num_classes .* or condition_dim"):
        CVAE(latent_dim=2, num_classes=None)


def test_continuous_condition():
    model = _model(num_classes=None, condition_dim=196, image_shape=(588,))
    assert model.num_classes is None and model.condition_width == 196
    x, y = torch.rand(3, 588), torch.rand(3, 196)
    out = model(x, y)
    assert out.logits.shape == (3, 588)
    assert model.condition(y) is y
    assert not torch.allclose(model.decode(out.z, y), model.decode(out.z, y + 1))
    assert model.sample(y, generator=torch.Generator().manual_seed(0)).shape == (3, 588)
    assert _model(condition_dim=4, image_shape=(2,)).condition_dim == 4  # default num_classes is accepted
    with pytest.raises(ValueError, match=r"\(B, 196\)"):
        model(x, torch.rand(3, 195))
    with pytest.raises(ValueError, match=r"\(B, 196\)"):
        model(x, torch.ones(3, 196, dtype=torch.long))


def test_sampling_seeded_and_deterministic():
    model = _model()
    y = torch.arange(10).repeat_interleave(2)
    a = model.sample(y, generator=torch.Generator().manual_seed(1))
    b = model.sample(y, generator=torch.Generator().manual_seed(1))
    assert a.shape == (20, 1, 28, 28) and torch.equal(a, b) and a.min() >= 0 and a.max() <= 1
    assert not torch.equal(a, model.sample(y, generator=torch.Generator().manual_seed(2)))
    # the sample is the decoder's mean at codes from the generator
    z = torch.randn(20, 3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, torch.sigmoid(model.decode(z, y)))
    x = torch.rand(4, 1, 28, 28)
    torch.manual_seed(5)
    first = model(x, y[:4])
    torch.manual_seed(5)
    second = model(x, y[:4])
    assert torch.equal(first.logits, second.logits) and torch.equal(first.z, second.z)


def test_given_view_works_with_the_chapter4_estimators():
    model = _model(num_classes=3, image_shape=(1, 2, 2))
    x = torch.bernoulli(torch.rand(5, 1, 2, 2, generator=torch.Generator().manual_seed(0)))
    y = torch.tensor([0, 1, 2, 1, 0])
    view = model.given(y)
    mu, logvar = view.encode(x)
    torch.testing.assert_close(mu, model.encode(x, y)[0])
    # iwae_bound decodes k stacked blocks of the batch: compare with a direct computation
    K = 7
    got = iwae_bound(view, x, K=K, generator=torch.Generator().manual_seed(3))
    eps = torch.randn(K, 5, 3, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        std = (0.5 * logvar).exp()
        z = mu + std * eps
        normal = torch.distributions.Normal
        logw = torch.stack([bernoulli_log_likelihood(x, model.decode(z[k], y)) for k in range(K)])
        logw = logw + normal(0.0, 1.0).log_prob(z).sum(-1) - normal(mu, std).log_prob(z).sum(-1)
    torch.testing.assert_close(got, torch.logsumexp(logw, 0) - math.log(K))
    est = elbo_estimate(view, x, draws=3, batch_size=len(x))
    assert est.shape == (5,) and torch.isfinite(est).all()
    with pytest.raises(ValueError, match="multiple of 5"):
        view.decode(torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        model.given(torch.tensor([3]))
    view.eval()
    assert not model.training


def test_fit_on_image_label_tuples():
    model = _model()
    g = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.rand(64, 1, 28, 28, generator=g))
    y = torch.randint(0, 10, (64,), generator=g)
    history = fit(model, lambda model, batch: vae_loss(batch[0], model(*batch)), (x, y),
                  epochs=1, batch_size=32, lr=1e-3, seed=0, val_data=(x, y), progress=False)
    assert len(history.train["loss"]) == 1 and math.isfinite(history.train["loss"][0])


def test_given_view_tiles_a_continuous_condition():
    model = _model(num_classes=None, condition_dim=4, image_shape=(6,))
    x = torch.bernoulli(torch.rand(3, 6, generator=torch.Generator().manual_seed(1)))
    y = torch.rand(3, 4, generator=torch.Generator().manual_seed(2))
    view = model.given(y)
    z = torch.randn(2 * 3, 3, generator=torch.Generator().manual_seed(3))  # two stacked blocks of the batch
    with torch.no_grad():
        torch.testing.assert_close(view.decode(z), torch.cat([model.decode(z[:3], y), model.decode(z[3:], y)]))
    got = iwae_bound(view, x, K=5, generator=torch.Generator().manual_seed(4))
    assert got.shape == (3,) and torch.isfinite(got).all()
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        model.given(torch.rand(3, 5))
