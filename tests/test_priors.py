"""The learned mixture prior of chapter 10 and the VAE that uses it."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

from course_vae import VAE, MixturePrior, elbo, elbo_estimate, gaussian_kl, iwae_bound, log_weights, prior_estimate, vae_loss
from course_vae.iwae import log_weights as iwae_log_weights


def _prior(d=3, c=4, seed=0):
    torch.manual_seed(seed)
    prior = MixturePrior(d, c)
    with torch.no_grad():
        prior.logvars.copy_(0.5 * torch.randn(c, d))
        prior.logits.copy_(torch.randn(c))
    return prior


def test_log_prob_is_the_brute_force_mixture():
    prior = _prior().double()
    z = torch.randn(7, 3, dtype=torch.float64)
    pi = torch.softmax(prior.logits, 0)
    brute = torch.zeros(7, dtype=torch.float64)
    for c in range(4):
        cov = torch.diag(prior.logvars[c].exp())
        brute += pi[c] * torch.distributions.MultivariateNormal(prior.means[c], cov).log_prob(z).exp()
    torch.testing.assert_close(prior.log_prob(z), brute.log())
    assert prior.log_prob(z.view(7, 1, 3).expand(7, 2, 3)).shape == (7, 2)


def test_samples_follow_the_mixture():
    prior = _prior(d=2, c=3)
    g = torch.Generator().manual_seed(0)
    z = prior.sample(40_000, generator=g)
    assert z.shape == (40_000, 2)
    pi = torch.softmax(prior.logits, 0).detach()
    mean = (pi.unsqueeze(1) * prior.means).sum(0).detach()
    torch.testing.assert_close(z.mean(0), mean, atol=0.05, rtol=0)
    assert torch.equal(z, prior.sample(40_000, generator=torch.Generator().manual_seed(0)))
    assert prior.sample(0).shape == (0, 2)


def test_standard_normal_special_case():
    prior = MixturePrior(4, 1, init_scale=0.0)
    z = torch.randn(5, 4)
    torch.testing.assert_close(prior.log_prob(z), Normal(0.0, 1.0).log_prob(z).sum(-1))


def test_monte_carlo_kl_matches_the_closed_form():
    """With p(z) = N(0, I) as a one-component prior, the one-sample KL averages to the closed form."""
    torch.manual_seed(0)
    model = VAE(latent_dim=3, hidden=(16,), prior=MixturePrior(3, 1, init_scale=0.0))
    x = torch.rand(4, 1, 28, 28).bernoulli()
    draws = torch.stack([elbo(x, model(x)).kl for _ in range(4000)])  # (S, B)
    terms = elbo(x, model(x))
    assert terms.kl_estimator == "monte_carlo"
    closed = gaussian_kl(*model.encode(x)).detach()
    mean, se = draws.mean(0).detach(), draws.std(0).detach() / math.sqrt(len(draws))
    assert ((mean - closed).abs() < 4 * se).all(), (mean, closed, se)


def test_gradients_reach_the_prior():
    torch.manual_seed(0)
    prior = MixturePrior(2, 5)
    model = VAE(latent_dim=2, hidden=(8,), prior=prior)
    x = torch.rand(6, 1, 28, 28).bernoulli()
    vae_loss(x, model(x))["loss"].backward()
    for p in (prior.means, prior.logvars, prior.logits):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    assert {id(p) for p in prior.parameters()} <= {id(p) for p in model.parameters()}


def test_default_prior_is_unchanged():
    torch.manual_seed(0)
    model = VAE(latent_dim=2, hidden=(8,))
    assert model.prior is None and not any("prior" in k for k in model.state_dict())
    x = torch.rand(3, 1, 28, 28).bernoulli()
    torch.manual_seed(1)
    out = model(x)
    assert out.log_prior is None
    terms = elbo(x, out)
    assert terms.kl_estimator == "closed_form"
    torch.testing.assert_close(terms.kl, gaussian_kl(out.mu, out.logvar), rtol=0, atol=0)


def test_log_weights_and_sample_use_the_learned_prior():
    torch.manual_seed(0)
    prior = _prior(d=2, c=3)
    model = VAE(latent_dim=2, hidden=(8,), prior=prior)
    x = torch.rand(3, 1, 28, 28).bernoulli()
    g = lambda: torch.Generator().manual_seed(5)
    w = log_weights(model, x, 6, generator=g())
    # rebuild the weights by hand from the same noise
    mu, logvar = model.encode(x)
    std = (0.5 * logvar).exp()
    eps = torch.randn(6, 3, 2, generator=g())
    z = mu + std * eps
    logits = model.decode(z.reshape(18, 2)).view(6, 3, -1)
    log_px = -torch.nn.functional.binary_cross_entropy_with_logits(logits, x.view(1, 3, -1).expand(6, 3, -1), reduction="none").sum(-1)
    expected = log_px + prior.log_prob(z) - Normal(mu, std).log_prob(z).sum(-1)
    torch.testing.assert_close(w, expected.detach(), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(iwae_bound(model, x, 6, generator=g()), torch.logsumexp(w, 0) - math.log(6))
    # prior proposal: codes from the learned prior
    wp = iwae_log_weights(model, x, 4, proposal="prior", generator=g())
    zp = prior.sample(12, generator=g()).view(4, 3, 2)
    logits = model.decode(zp.reshape(12, 2)).view(4, 3, -1)
    expected = -torch.nn.functional.binary_cross_entropy_with_logits(logits, x.view(1, 3, -1).expand(4, 3, -1), reduction="none").sum(-1)
    torch.testing.assert_close(wp, expected.detach(), rtol=1e-5, atol=1e-4)
    assert prior_estimate(model, x, 4).shape == (3,)
    # sample decodes the prior's codes
    images = model.sample(5, generator=g())
    torch.testing.assert_close(images, torch.sigmoid(model.decode(prior.sample(5, generator=g()))))


def test_elbo_estimate_with_a_learned_prior_matches_the_mean_weight():
    torch.manual_seed(0)
    model = VAE(latent_dim=2, hidden=(8,), prior=_prior(d=2, c=3))
    x = torch.rand(4, 1, 28, 28).bernoulli()
    a = elbo_estimate(model, x, draws=3000, seed=0)
    b = log_weights(model, x, 3000, generator=torch.Generator().manual_seed(1))
    se = b.std(0) / math.sqrt(3000)
    assert ((a - b.mean(0)).abs() < 4 * math.sqrt(2) * se).all()


def test_free_bits_refuses_a_learned_prior():
    torch.manual_seed(0)
    model = VAE(latent_dim=2, hidden=(8,), prior=MixturePrior(2, 2))
    x = torch.rand(2, 1, 28, 28).bernoulli()
    with pytest.raises(ValueError, match="free_bits"):
        vae_loss(x, model(x), free_bits=0.5)


@pytest.mark.parametrize("make, match", [
    (lambda: MixturePrior(0, 2), "latent_dim"),
    (lambda: MixturePrior(2, 0), "num_components"),
    (lambda: MixturePrior(2, 2.0), "num_components"),
    (lambda: MixturePrior(2, 2, init_scale=-1.0), "init_scale"),
    (lambda: MixturePrior(2, 2).log_prob(torch.zeros(3, 4)), "z must have shape"),
    (lambda: MixturePrior(2, 2).sample(-1), "n must"),
    (lambda: VAE(latent_dim=2, prior=MixturePrior(3, 2)), "latent_dim"),
    (lambda: VAE(latent_dim=2, prior=torch.nn.Linear(2, 2)), "prior must be"),
])
def test_bad_inputs(make, match):
    with pytest.raises(ValueError, match=match):
        make()
