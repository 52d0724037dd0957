"""CAVI for the Bayesian Gaussian mixture of chapter 10."""

from __future__ import annotations

import math

import pytest
import torch

from course_vae import CAVIResult, cavi_gmm
from course_vae.cavi import gmm_elbo


def _mixture(n=300, means=(-6.0, 0.0, 7.0), seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(len(means), (n,), generator=g)
    return torch.tensor(means, dtype=torch.float64)[labels] + torch.randn(n, generator=g, dtype=torch.float64), labels


@pytest.mark.parametrize("seed", range(5))
def test_elbo_never_decreases_on_random_data(seed):
    g = torch.Generator().manual_seed(100 + seed)
    x = 3 * torch.randn(80, 2, generator=g, dtype=torch.float64)
    res = cavi_gmm(x, num_components=4, prior_var=5.0, iters=30, seed=seed)
    assert isinstance(res, CAVIResult) and res.elbo.shape == (31,) and res.elbo.dtype == torch.float64
    steps = res.elbo.diff()
    assert (steps >= -1e-9 * res.elbo.abs().max()).all(), steps.min()
    assert res.m.shape == (4, 2) and res.s2.shape == (4,) and res.phi.shape == (80, 4) and res.iters == 30
    torch.testing.assert_close(res.phi.sum(1), torch.ones(80, dtype=torch.float64))


def test_each_half_step_increases_the_elbo():
    """The q(mu) update is the exact optimum given phi: perturbing m or s2 lowers the ELBO."""
    x, _ = _mixture(n=60)
    x = x.unsqueeze(1)
    res = cavi_gmm(x, 3, prior_var=10.0, iters=5, seed=1)
    best = gmm_elbo(x, res.m, res.s2, res.phi, 10.0)
    for dm in (1e-3, -1e-3):
        assert gmm_elbo(x, res.m + dm, res.s2, res.phi, 10.0) < best
    # the s2, m update is the optimum given phi
    s2 = 1 / (1 / 10.0 + res.phi.sum(0))
    m = s2.unsqueeze(1) * (res.phi.T @ x)
    opt = gmm_elbo(x, m, s2, res.phi, 10.0)
    for factor in (1.05, 0.95):
        assert gmm_elbo(x, m, s2 * factor, res.phi, 10.0) < opt


def test_elbo_matches_a_monte_carlo_estimate():
    """The closed-form ELBO equals E_q[log p(x, mu, c) - log q(mu, c)] estimated by sampling."""
    torch.manual_seed(0)
    x = torch.randn(7, 2, dtype=torch.float64) * 2
    k, sigma2 = 3, 4.0
    m = torch.randn(k, 2, dtype=torch.float64)
    s2 = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    phi = torch.softmax(torch.randn(7, k, dtype=torch.float64), 1)
    exact = gmm_elbo(x, m, s2, phi, sigma2)
    S = 200_000
    mu = m + s2.sqrt().unsqueeze(1) * torch.randn(S, k, 2, dtype=torch.float64)  # (S, K, D)
    c = torch.distributions.Categorical(probs=phi).sample((S,))  # (S, N)
    normal = torch.distributions.Normal
    log_p = normal(0.0, math.sqrt(sigma2)).log_prob(mu).sum((1, 2)) - 7 * math.log(k)
    chosen = mu.gather(1, c.unsqueeze(-1).expand(S, 7, 2))  # (S, N, D)
    log_p = log_p + normal(chosen, 1.0).log_prob(x).sum((1, 2))
    log_q = normal(m, s2.sqrt().unsqueeze(1)).log_prob(mu).sum((1, 2)) + phi.log().gather(1, c.T).sum(0)
    values = log_p - log_q
    se = values.std() / math.sqrt(S)
    assert abs(values.mean() - exact) < 4 * se


def test_recovers_well_separated_means():
    true = torch.tensor([-6.0, 0.0, 7.0], dtype=torch.float64)
    x, labels = _mixture()
    res = cavi_gmm(x, num_components=3, prior_var=100.0, iters=50, seed=0)
    assert res.m.shape == (3,)
    fitted, _ = res.m.sort()
    assert (fitted - true).abs().max() < 0.3, fitted
    order = res.m.argsort()
    hard = res.phi.argmax(1)
    remap = torch.empty(3, dtype=torch.long)
    remap[order] = torch.arange(3)
    assert (remap[hard] == labels).double().mean() > 0.97


def test_two_dimensional_means():
    g = torch.Generator().manual_seed(3)
    centres = torch.tensor([[-5.0, 0.0], [5.0, 0.0], [0.0, 6.0]], dtype=torch.float64)
    labels = torch.randint(3, (400,), generator=g)
    x = centres[labels] + torch.randn(400, 2, generator=g, dtype=torch.float64)
    best = max((cavi_gmm(x, 3, prior_var=50.0, iters=40, seed=s) for s in range(4)), key=lambda r: r.elbo[-1])
    dist = torch.cdist(best.m, centres)
    assert dist.min(1).values.max() < 0.3


def test_seed_determinism_and_permutation():
    x, _ = _mixture(n=100)
    a = cavi_gmm(x, 3, iters=10, seed=4)
    b = cavi_gmm(x, 3, iters=10, seed=4)
    assert torch.equal(a.m, b.m) and torch.equal(a.elbo, b.elbo) and torch.equal(a.phi, b.phi)
    c = cavi_gmm(x, 3, iters=10, seed=5)
    assert not torch.equal(a.elbo, c.elbo) or not torch.equal(a.m, c.m)
    # Permuting the data with the same initial means permutes the responsibilities only.
    init = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64)
    perm = torch.randperm(100, generator=torch.Generator().manual_seed(0))
    p = cavi_gmm(x, 3, iters=10, init_means=init)
    q = cavi_gmm(x[perm], 3, iters=10, init_means=init)
    torch.testing.assert_close(p.m, q.m)
    torch.testing.assert_close(p.elbo, q.elbo)
    torch.testing.assert_close(p.phi[perm], q.phi)


def test_float32_input_and_zero_iterations():
    x, _ = _mixture(n=20)
    res = cavi_gmm(x.float(), 2, iters=0, seed=0)
    assert res.elbo.shape == (1,) and res.m.dtype == torch.float64
    torch.testing.assert_close(res.phi, torch.full((20, 2), 0.5, dtype=torch.float64))


@pytest.mark.parametrize("kwargs, match", [
    ({"x": torch.zeros(2, 2, 2)}, "x must be"),
    ({"x": torch.tensor([0.0, float("nan"), 1.0])}, "NaN"),
    ({"num_components": 0}, "num_components"),
    ({"num_components": 11}, "num_components"),
    ({"num_components": 2.0}, "num_components"),
    ({"prior_var": 0.0}, "prior_var"),
    ({"prior_var": float("inf")}, "prior_var"),
    ({"iters": -1}, "iters"),
    ({"seed": -3}, "seed"),
    ({"init_means": torch.zeros(3)}, "init_means"),
])
def test_bad_inputs(kwargs, match):
    args = {"x": torch.arange(10.0), "num_components": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        cavi_gmm(**args)
