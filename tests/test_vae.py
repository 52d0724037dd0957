from __future__ import annotations


import pytest
import torch
from torch import nn

from course_vae import VAE, VAEOutput, LinearGaussian, elbo, iwae_bound, prior_estimate, vae_loss
from course_vae import bernoulli_log_likelihood, gaussian_kl, iwae

D64 = torch.float64


def test_vae_shapes_and_sampling():
    torch.manual_seed(0)
    model = VAE(latent_dim=3, hidden=(32,))
    x = torch.rand(5, 1, 28, 28)
    out = model(x)
    assert isinstance(out, VAEOutput)
    assert out.logits.shape == x.shape and out.mu.shape == out.logvar.shape == out.z.shape == (5, 3)
    mu, logvar = model.encode(x)
    assert torch.equal(mu, out.mu) and torch.equal(logvar, out.logvar)
    samples = model.sample(4, generator=torch.Generator().manual_seed(1))
    assert samples.shape == (4, 1, 28, 28) and samples.min() >= 0 and samples.max() <= 1
    assert torch.equal(samples, model.sample(4, generator=torch.Generator().manual_seed(1)))
    silu = VAE(latent_dim=3, hidden=(32, 16), activation=nn.SiLU)
    assert sum(isinstance(m, nn.SiLU) for m in silu.modules()) == 4 and not any(isinstance(m, nn.ReLU) for m in silu.modules())
    assert silu(x).logits.shape == x.shape
    with pytest.raises(ValueError, match="latent_dim"):
        VAE(latent_dim=0)


def test_vae_accepts_custom_modules():
    class Enc(nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :2], torch.zeros(len(x), 2)

    model = VAE(latent_dim=2, encoder=Enc(), decoder=nn.Sequential(nn.Linear(2, 4), nn.Unflatten(1, (1, 2, 2))), image_shape=(1, 2, 2))
    assert model(torch.rand(3, 1, 2, 2)).logits.shape == (3, 1, 2, 2)


def test_elbo_terms_and_loss():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(4, 1, 28, 28, generator=g)
    out = VAEOutput(logits=torch.randn(4, 1, 28, 28, generator=g), mu=torch.randn(4, 3, generator=g),
                    logvar=torch.randn(4, 3, generator=g), z=torch.randn(4, 3, generator=g))
    terms = elbo(x, out)
    torch.testing.assert_close(terms.recon, -bernoulli_log_likelihood(x, out.logits))
    torch.testing.assert_close(terms.kl, gaussian_kl(out.mu, out.logvar))
    torch.testing.assert_close(terms.elbo, -terms.recon - terms.kl)
    torch.testing.assert_close(elbo(x, out, beta=4.0).elbo, -terms.recon - 4.0 * terms.kl)
    loss = vae_loss(x, out)
    assert set(loss) == {"loss", "recon", "kl"} and all(v.shape == () for v in loss.values())
    torch.testing.assert_close(loss["loss"], -terms.elbo.mean())
    gaussian = elbo(x, out, likelihood="gaussian", sigma=0.5)
    expected = torch.distributions.Normal(out.logits, 0.5).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(gaussian.recon, -expected)
    with pytest.raises(ValueError, match="likelihood must be one of"):
        elbo(x, out, likelihood="poisson")
    with pytest.raises(ValueError, match="positive sigma"):
        elbo(x, out, likelihood="gaussian")


class ExactLinearVAE(nn.Module):
    """Probabilistic PCA whose 'encoder' returns the exact (diagonal) posterior."""

    def __init__(self, D=6, d=2, sigma=0.4, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(D, d, generator=g, dtype=D64))
        self.model = LinearGaussian(q * torch.tensor([2.0, 1.0], dtype=D64)[:d], torch.randn(D, generator=g, dtype=D64), sigma)
        self.sigma, self.latent_dim = sigma, d

    def encode(self, x):
        mean, cov = self.model.posterior(x)
        return mean, cov.diagonal().log().expand_as(mean)

    def decode(self, z):
        return z @ self.model.W.T + self.model.b


def test_iwae_equals_log_marginal_when_q_is_the_posterior():
    vae = ExactLinearVAE()
    x = vae.model.sample(7, torch.Generator().manual_seed(3))
    exact = vae.model.log_marginal(x)
    for k in (1, 10, 200):
        bound = iwae_bound(vae, x, k, likelihood="gaussian", sigma=vae.sigma, generator=torch.Generator().manual_seed(k))
        assert bound.shape == (7,)
        torch.testing.assert_close(bound, exact, rtol=1e-10, atol=1e-9)


def test_prior_estimate_converges_in_low_dimension_and_chunking_is_invisible(monkeypatch):
    vae = ExactLinearVAE(D=3, d=1, sigma=1.0)
    x = vae.model.sample(5, torch.Generator().manual_seed(4))
    estimate = prior_estimate(vae, x, 200_000, likelihood="gaussian", sigma=1.0, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(estimate, vae.model.log_marginal(x), atol=0.02, rtol=0)
    monkeypatch.setattr(iwae, "MAX_PAIRS", 3)  # tiny chunks: the exact result must not change
    bound = iwae_bound(vae, x, 10, likelihood="gaussian", sigma=1.0)
    torch.testing.assert_close(bound, vae.model.log_marginal(x), rtol=1e-10, atol=1e-9)


def test_iwae_k1_averages_to_the_elbo_and_grows_with_k():
    torch.manual_seed(6)
    model = VAE(latent_dim=2, hidden=(16,))
    x = torch.rand(8, 1, 28, 28)
    g = torch.Generator().manual_seed(7)
    k1 = torch.stack([iwae_bound(model, x, 1, generator=g) for _ in range(400)])  # (400, 8)
    torch.manual_seed(8)
    with torch.no_grad():
        sgvb = torch.stack([elbo(x, model(x)).elbo for _ in range(400)])
    # both estimate the same ELBO: their means agree within the combined standard error
    se = (k1.var(0) / 400 + sgvb.var(0) / 400).sqrt()
    assert ((k1.mean(0) - sgvb.mean(0)).abs() < 4 * se).all()
    k100 = iwae_bound(model, x, 100, generator=g)
    assert (k100 > k1.mean(0)).all()
    assert model.training  # iwae_bound restores the training mode


def test_log_weights_validate_their_arguments():
    vae = ExactLinearVAE()
    x = vae.model.sample(2)
    with pytest.raises(ValueError, match="K, the number of samples, must be a positive integer"):
        iwae_bound(vae, x, 0, likelihood="gaussian", sigma=0.4)
    with pytest.raises(ValueError, match="proposal must be"):
        iwae.log_weights(vae, x, 3, proposal="uniform", likelihood="gaussian", sigma=0.4)


def test_vae_checks_custom_modules_against_its_latent_size():
    class OneHead(nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :3]

    with pytest.raises(ValueError, match=r"pair \(mu, logvar\)"):
        VAE(latent_dim=3, encoder=OneHead())

    class WrongSize(nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :3], x.flatten(1)[:, :3]

    with pytest.raises(ValueError, match=r"expected \(2, 2\)"):
        VAE(latent_dim=2, encoder=WrongSize())
    with pytest.raises(ValueError, match=r"expected \(2, 1, 28, 28\)"):
        VAE(latent_dim=2, decoder=nn.Linear(2, 784))


def test_elbo_validates_beta_and_vae_loss_passes_the_likelihood():
    g = torch.Generator().manual_seed(9)
    x = torch.rand(3, 1, 28, 28, generator=g)
    out = VAEOutput(logits=torch.rand(3, 1, 28, 28, generator=g), mu=torch.zeros(3, 2), logvar=torch.zeros(3, 2), z=torch.zeros(3, 2))
    for beta in (-1.0, float("nan"), "1"):
        with pytest.raises(ValueError, match="beta must be"):
            elbo(x, out, beta=beta)
    gaussian = vae_loss(x, out, likelihood="gaussian", sigma=0.1)
    expected = -torch.distributions.Normal(out.logits, 0.1).log_prob(x).flatten(1).sum(1).mean()
    torch.testing.assert_close(gaussian["recon"], expected)


def test_gaussian_kl_can_report_each_dimension():
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    per_dim = gaussian_kl(mu, logvar, reduction="none")
    assert per_dim.shape == (4, 3)
    torch.testing.assert_close(per_dim.sum(1), gaussian_kl(mu, logvar))
    with pytest.raises(ValueError, match="reduction"):
        gaussian_kl(mu, logvar, reduction="mean")


def test_elbo_estimate_averages_draws_without_touching_the_global_rng():
    from course_vae import elbo_estimate

    torch.manual_seed(10)
    model = VAE(latent_dim=2, hidden=(16,))
    x = torch.rand(6, 1, 28, 28)
    state = torch.random.get_rng_state()
    one = elbo_estimate(model, x, draws=1, seed=3)
    many = elbo_estimate(model, x, draws=50, seed=3, batch_size=4)
    assert torch.equal(state, torch.random.get_rng_state()) and model.training
    assert one.shape == many.shape == (6,)
    assert torch.equal(one, elbo_estimate(model, x, draws=1, seed=3))
    with torch.no_grad():
        mu, logvar = model.encode(x)
        z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=torch.Generator().manual_seed(3))
        by_hand = elbo(x, VAEOutput(model.decode(z), mu, logvar, z)).elbo
    torch.testing.assert_close(one, by_hand)
    # averaging 50 draws reduces the spread around the ELBO: the 50-draw values vary less across seeds
    spread_one = torch.stack([elbo_estimate(model, x, draws=1, seed=s) for s in range(20)]).std(0).mean()
    spread_many = torch.stack([elbo_estimate(model, x, draws=50, seed=s) for s in range(20)]).std(0).mean()
    assert spread_many < 0.3 * spread_one


def test_prior_estimate_needs_no_encoder():
    class DecoderOnly(nn.Module):
        latent_dim = 2

        def __init__(self):
            super().__init__()
            self.decoder = nn.Sequential(nn.Linear(2, 784), nn.Unflatten(1, (1, 28, 28)))

        def encode(self, x):
            raise AssertionError("the prior proposal must not call the encoder")

        def decode(self, z):
            return self.decoder(z)

    estimate = prior_estimate(DecoderOnly(), torch.rand(3, 1, 28, 28), 5)
    assert estimate.shape == (3,) and torch.isfinite(estimate).all()


def test_aggregate_log_density_is_the_mixture_density(monkeypatch):
    from course_vae import aggregate, aggregate_log_density

    g = torch.Generator().manual_seed(13)
    mu, logvar, points = torch.randn(5, 2, generator=g), torch.randn(5, 2, generator=g), torch.randn(7, 2, generator=g)
    mixture = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.ones(5)),
        torch.distributions.Independent(torch.distributions.Normal(mu, (0.5 * logvar).exp()), 1),
    )
    torch.testing.assert_close(aggregate_log_density(points, mu, logvar), mixture.log_prob(points))
    monkeypatch.setattr(aggregate, "MAX_TERMS", 10)  # one point per chunk: same result
    torch.testing.assert_close(aggregate_log_density(points, mu, logvar), mixture.log_prob(points))
    with pytest.raises(ValueError, match="must agree in d"):
        aggregate_log_density(torch.zeros(3, 4), mu, logvar)


def test_aggregate_log_density_stays_exact_for_narrow_far_components():
    from course_vae import aggregate_log_density

    g = torch.Generator().manual_seed(14)
    mu = 6 * torch.randn(300, 20, generator=g)
    logvar = torch.full((300, 20), -8.0)  # sd 0.018: the expanded quadratic cancels terms of order 1e5
    points = mu[:50] + 0.02 * torch.randn(50, 20, generator=g)
    exact = torch.distributions.Normal(mu.double(), (0.5 * logvar.double()).exp()).log_prob(points.double()[:, None]).sum(-1)
    expected = (torch.logsumexp(exact, dim=1) - torch.tensor(300.0, dtype=D64).log()).float()
    torch.testing.assert_close(aggregate_log_density(points, mu, logvar), expected)
