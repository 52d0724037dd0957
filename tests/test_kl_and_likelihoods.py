from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, MultivariateNormal, Normal, kl_divergence

from course_vae import bernoulli_log_likelihood, gaussian_kl, gaussian_kl_full, gaussian_log_likelihood

D64 = torch.float64


def _random_spd(k, batch=(), seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(*batch, k, k, generator=g, dtype=D64)
    return a @ a.transpose(-1, -2) + 0.5 * torch.eye(k, dtype=D64)


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(7, 4, generator=g, dtype=D64), torch.randn(7, 4, generator=g, dtype=D64)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)
    got = gaussian_kl(mu, logvar)
    assert got.shape == (7,)
    torch.testing.assert_close(got, expected)
    assert gaussian_kl(torch.zeros(3, 5), torch.zeros(3, 5)).abs().max() == 0


def test_gaussian_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(1)
    mu, logvar = torch.tensor([[0.7, -1.2, 0.1]], dtype=D64), torch.tensor([[-0.5, 0.3, 0.0]], dtype=D64)
    q = Normal(mu, (0.5 * logvar).exp())
    z = q.mean + q.stddev * torch.randn(200_000, 3, generator=g, dtype=D64)
    samples = (q.log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1)
    stderr = samples.std() / math.sqrt(len(samples))
    assert abs(samples.mean() - gaussian_kl(mu, logvar)[0]) < 4 * stderr


def test_gaussian_kl_gradcheck_and_shape_error():
    mu = torch.randn(3, 2, dtype=D64, requires_grad=True)
    logvar = torch.randn(3, 2, dtype=D64, requires_grad=True)
    assert torch.autograd.gradcheck(gaussian_kl, (mu, logvar))
    with pytest.raises(ValueError, match="same shape"):
        gaussian_kl(torch.zeros(3, 2), torch.zeros(3, 1))


def test_gaussian_kl_full_matches_torch_distributions_batched():
    k = 3
    mu0 = torch.randn(5, k, dtype=D64, generator=torch.Generator().manual_seed(2))
    mu1 = torch.randn(5, k, dtype=D64, generator=torch.Generator().manual_seed(3))
    cov0, cov1 = _random_spd(k, (5,), seed=4), _random_spd(k, (5,), seed=5)
    expected = kl_divergence(MultivariateNormal(mu0, cov0), MultivariateNormal(mu1, cov1))
    torch.testing.assert_close(gaussian_kl_full(mu0, cov0, mu1, cov1), expected)
    # broadcasting: one shared covariance, one shared target
    shared = gaussian_kl_full(mu0, cov0[0], torch.zeros(k, dtype=D64), torch.eye(k, dtype=D64))
    assert shared.shape == (5,)
    torch.testing.assert_close(shared[1], kl_divergence(MultivariateNormal(mu0[1], cov0[0]), MultivariateNormal(torch.zeros(k, dtype=D64), torch.eye(k, dtype=D64))))


def test_gaussian_kl_full_reduces_to_the_diagonal_formula_and_has_gradients():
    mu = torch.randn(4, 3, dtype=D64)
    logvar = torch.randn(4, 3, dtype=D64)
    full = gaussian_kl_full(mu, torch.diag_embed(logvar.exp()), torch.zeros(3, dtype=D64), torch.eye(3, dtype=D64))
    torch.testing.assert_close(full, gaussian_kl(mu, logvar))
    a = torch.randn(3, 3, dtype=D64)
    m0 = torch.randn(3, dtype=D64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda m, s: gaussian_kl_full(m, s @ s.T + torch.eye(3, dtype=D64), torch.zeros(3, dtype=D64), _random_spd(3)),
                                    (m0, a.clone().requires_grad_()))


def test_gaussian_kl_full_rejects_bad_covariances():
    with pytest.raises(ValueError, match="not symmetric positive definite"):
        gaussian_kl_full(torch.zeros(2), -torch.eye(2), torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2, 2\)"):
        gaussian_kl_full(torch.zeros(2), torch.eye(3), torch.zeros(2), torch.eye(2))


def test_bernoulli_log_likelihood_matches_torch_distributions():
    g = torch.Generator().manual_seed(6)
    x = torch.bernoulli(torch.full((4, 1, 3, 3), 0.4), generator=g)
    logits = torch.randn(4, 1, 3, 3, generator=g) * 5
    expected = Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    got = bernoulli_log_likelihood(x, logits)
    assert got.shape == (4,)
    torch.testing.assert_close(got, expected)
    assert torch.isfinite(bernoulli_log_likelihood(torch.ones(1, 2), torch.tensor([[-200.0, 300.0]])))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bernoulli_log_likelihood(torch.full((1, 2), 2.0), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="same shape"):
        bernoulli_log_likelihood(torch.zeros(1, 784), torch.zeros(1, 1, 28, 28))


def test_gaussian_log_likelihood_matches_torch_and_the_weighted_squared_error():
    g = torch.Generator().manual_seed(7)
    x, mean = torch.randn(5, 6, generator=g, dtype=D64), torch.randn(5, 6, generator=g, dtype=D64)
    logvar = torch.randn(5, 6, generator=g, dtype=D64)
    expected = Normal(mean, (0.5 * logvar).exp()).log_prob(x).sum(1)
    torch.testing.assert_close(gaussian_log_likelihood(x, mean, logvar), expected)
    sigma = 0.3  # fixed variance: -||x - mean||^2 / (2 sigma^2) - D/2 log(2 pi sigma^2)
    fixed = gaussian_log_likelihood(x, mean, math.log(sigma**2))
    torch.testing.assert_close(fixed, -(x - mean).pow(2).sum(1) / (2 * sigma**2) - 3 * math.log(2 * math.pi * sigma**2))
    with pytest.raises(ValueError, match="same shape"):
        gaussian_log_likelihood(x, mean[:, :3], 0.0)
