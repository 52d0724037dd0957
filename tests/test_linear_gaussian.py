from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from course_vae import GaussianEncoder, LinearGaussian, gaussian_kl_full

D64 = torch.float64


def _model(D=5, d=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return LinearGaussian(torch.randn(D, d, generator=g, dtype=D64), torch.randn(D, generator=g, dtype=D64), 0.7)


def test_log_marginal_matches_monte_carlo_over_the_prior():
    model = _model(D=2, d=1)
    x = torch.tensor([[0.3, -0.4]], dtype=D64)
    g = torch.Generator().manual_seed(1)
    z = torch.randn(400_000, 1, generator=g, dtype=D64)
    estimate = torch.logsumexp(model.log_likelihood(x, z), 1) - math.log(len(z))
    assert abs(estimate - model.log_marginal(x)[0]) < 1e-2


def test_posterior_is_bayes_rule():
    model = _model()
    x = model.sample(3, torch.Generator().manual_seed(2))
    mean, cov = model.posterior(x)
    z = torch.randn(4, 2, dtype=D64, generator=torch.Generator().manual_seed(3))
    # log p(z | x) = log p(x | z) + log p(z) - log p(x), for every z
    prior = MultivariateNormal(torch.zeros(2, dtype=D64), torch.eye(2, dtype=D64))
    for i in range(3):
        lhs = MultivariateNormal(mean[i], cov).log_prob(z)
        rhs = model.log_likelihood(x[i : i + 1], z)[0] + prior.log_prob(z) - model.log_marginal(x[i : i + 1])
        torch.testing.assert_close(lhs, rhs)


def test_elbo_plus_kl_to_posterior_is_log_marginal():
    model = _model(D=6, d=3)
    g = torch.Generator().manual_seed(4)
    x = model.sample(8, g)
    q_mu, q_logvar = torch.randn(8, 3, generator=g, dtype=D64), torch.randn(8, 3, generator=g, dtype=D64)
    post_mean, post_cov = model.posterior(x)
    kl = gaussian_kl_full(q_mu, torch.diag_embed(q_logvar.exp()), post_mean, post_cov)
    assert (model.elbo(x, q_mu, q_logvar) + kl - model.log_marginal(x)).abs().max() < 1e-10


def test_elbo_matches_a_monte_carlo_estimate():
    model = _model()
    g = torch.Generator().manual_seed(5)
    x = model.sample(1, g)
    q_mu, q_logvar = torch.tensor([[0.2, -0.1]], dtype=D64), torch.tensor([[-1.0, -0.5]], dtype=D64)
    z = q_mu + (0.5 * q_logvar).exp() * torch.randn(200_000, 2, generator=g, dtype=D64)
    q = MultivariateNormal(q_mu[0], torch.diag(q_logvar[0].exp()))
    prior = MultivariateNormal(torch.zeros(2, dtype=D64), torch.eye(2, dtype=D64))
    samples = model.log_likelihood(x, z)[0] + prior.log_prob(z) - q.log_prob(z)
    assert abs(samples.mean() - model.elbo(x, q_mu, q_logvar)[0]) < 4 * samples.std() / math.sqrt(len(z))


def test_log_likelihood_with_codes_per_point_matches_a_direct_computation():
    model = _model()
    g = torch.Generator().manual_seed(8)
    x, z = torch.randn(3, 5, generator=g, dtype=D64), torch.randn(3, 4, 2, generator=g, dtype=D64)
    direct = torch.distributions.Normal(z @ model.W.T + model.b, model.sigma).log_prob(x[:, None, :]).sum(-1)
    torch.testing.assert_close(model.log_likelihood(x, z), direct)
    with pytest.raises(ValueError, match="log_likelihood needs"):
        model.log_likelihood(x, z[0, 0])


def test_fit_ppca_is_maximum_likelihood_with_orthogonal_columns():
    g = torch.Generator().manual_seed(6)
    x = torch.randn(500, 4, generator=g, dtype=D64) @ torch.randn(4, 8, generator=g, dtype=D64) + 0.3 * torch.randn(500, 8, generator=g, dtype=D64)
    model = LinearGaussian.fit_ppca(x, 2)
    gram = model.W.T @ model.W
    torch.testing.assert_close(gram, torch.diag(gram.diagonal()))  # orthogonal columns
    best = model.log_marginal(x).mean()
    for scale in (0.9, 1.1):  # perturbing W or sigma lowers the likelihood
        assert LinearGaussian(model.W * scale, model.b, model.sigma).log_marginal(x).mean() < best
        assert LinearGaussian(model.W, model.b, model.sigma * scale).log_marginal(x).mean() < best
    torch.testing.assert_close(model.b, x.mean(0))


def test_linear_gaussian_validates_its_inputs():
    with pytest.raises(ValueError, match="sigma must be a positive"):
        LinearGaussian(torch.zeros(3, 1), torch.zeros(3), 0.0)
    with pytest.raises(ValueError, match=r"b must have shape \(3,\)"):
        LinearGaussian(torch.zeros(3, 1), torch.zeros(2), 1.0)
    model = _model()
    with pytest.raises(ValueError, match="5 entries"):
        model.log_marginal(torch.zeros(2, 4, dtype=D64))
    with pytest.raises(ValueError, match=r"shape \(B, 2\)"):
        model.elbo(torch.zeros(2, 5, dtype=D64), torch.zeros(2, 3, dtype=D64), torch.zeros(2, 3, dtype=D64))
    with pytest.raises(ValueError, match="latent_dim must be an integer"):
        LinearGaussian.fit_ppca(torch.randn(10, 3), 3)


def test_gaussian_encoder_outputs_mean_and_logvar():
    torch.manual_seed(0)
    encoder = GaussianEncoder([784, 32], latent_dim=4)
    mu, logvar = encoder(torch.rand(6, 1, 28, 28))
    assert mu.shape == logvar.shape == (6, 4)
    assert not torch.equal(mu, logvar)
    assert GaussianEncoder([5], latent_dim=2)(torch.rand(3, 5))[0].shape == (3, 2)
    with pytest.raises(ValueError, match="latent_dim"):
        GaussianEncoder([784, 32], latent_dim=0)
