"""Chapter 3's checkers reject the known mistakes (SYLLABUS items 1 and 8, and issue 9's
list of dependent, clipped and non-Gaussian noise) and accept correct draws and estimators
however they are written."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Laplace, Normal

import course_vae
from course_vae.checks import CheckFailed
from course_vae.checks import reparameterization as checks

from .checker_harness import assert_accepts, assert_rejects


def _std(logvar):
    return torch.exp(0.5 * logvar)


def _generator_inside(mu, lv):  # the same draw on every call
    g = torch.Generator().manual_seed(0)
    return mu + _std(lv) * torch.randn(mu.shape, generator=g, dtype=mu.dtype)


def _seed_inside(mu, lv):  # "for reproducibility"
    torch.manual_seed(0)
    return mu + _std(lv) * torch.randn_like(mu)


def _in_place_on_sigma(mu, lv):
    sigma = torch.exp(0.5 * lv)  # exp saves its result for the backward pass
    return sigma.mul_(torch.randn_like(mu)).add_(mu)


def _standardized_noise(mu, lv):
    eps = torch.randn_like(mu)
    return mu + _std(lv) * (eps - eps.mean(0)) / eps.std(0)


def _antithetic(mu, lv):
    half = torch.randn(mu.shape[0] // 2, *mu.shape[1:], dtype=mu.dtype)
    return mu + _std(lv) * torch.cat([half, -half])


MISTAKES = {
    "reparameterize": [
        (lambda mu, lv: mu * torch.randn_like(mu) + _std(lv), ["swapped"]),  # SYLLABUS item 1
        (lambda mu, lv: mu + torch.exp(lv) * torch.randn_like(mu), ["that is the variance"]),  # missing the half
        (lambda mu, lv: mu + lv * torch.randn_like(mu), ["logvar is the log of the variance"]),  # sigma = logvar
        (lambda mu, lv: mu + torch.exp(lv) / 2 * torch.randn_like(mu), ["wrong spread", "coordinate 0"]),
        (lambda mu, lv: Normal(mu, _std(lv)).sample(), ["does not depend differentiably"]),  # .sample()
        (lambda mu, lv: (mu + _std(lv) * torch.randn_like(mu)).detach(), ["does not depend differentiably"]),
        (lambda mu, lv: torch.normal(mu, _std(lv)), ["dz/dmu should be 1"]),  # silent zero gradients
        (lambda mu, lv: mu + _std(lv).detach() * torch.randn_like(mu), ["no gradient flows back to logvar"]),
        (lambda mu, lv: mu + _std(lv) * torch.rand_like(mu), ["torch.rand", "torch.randn"]),  # uniform noise
        (lambda mu, lv: mu + _std(lv), ["same sample"]),  # no noise at all
        (lambda mu, lv: mu + torch.sqrt(lv) * torch.randn_like(mu), ["NaN", "coordinate 2"]),
        # new: noise that is not independent
        (lambda mu, lv: mu + _std(lv) * torch.randn(mu.shape[0], 1, dtype=mu.dtype), ["coordinates 0 and 1", "correlated"]),
        (lambda mu, lv: mu + _std(lv) * torch.randn(mu.shape[-1], dtype=mu.dtype), ["same sample"]),  # shared by examples
        (_generator_inside, ["same draw on two calls"]),
        (_seed_inside, ["same draw on two calls", "manual_seed"]),
        (_standardized_noise, ["standardized"]),
        (_antithetic, ["examples i and i + n/2"]),
        # new: noise with the right mean and spread but the wrong shape
        (lambda mu, lv: mu + _std(lv) * torch.randn_like(mu).clamp(-3, 3), ["not Gaussian", "beyond +-3"]),
        (lambda mu, lv: mu + _std(lv) * (torch.rand_like(mu) - 0.5) * math.sqrt(12), ["not Gaussian"]),
        (lambda mu, lv: mu + _std(lv) * Laplace(0.0, 1 / math.sqrt(2)).sample(mu.shape).to(mu.dtype), ["not Gaussian"]),
        (lambda mu, lv: mu + _std(lv) * (torch.randint(0, 2, mu.shape) * 2 - 1).to(mu.dtype), ["not Gaussian"]),
        # new: ranks, edges, dtypes, in-place operations
        (lambda mu, lv: mu + _std(lv) * torch.randn(mu.shape[0], mu.shape[1], dtype=mu.dtype), ["1-D", "x.shape[1]"]),
        (lambda mu, lv: mu + _std(lv.clamp(-10, 10)) * torch.randn_like(mu), ["logvar = -12", "clamp of logvar"]),
        (lambda mu, lv: (mu + _std(lv) * torch.randn_like(mu)).double(), ["float64 for float32 inputs"]),
        (_in_place_on_sigma, ["in-place"]),
    ],
    "score_function_gradient": [],
}


def _reference(f, mu, log_sigma, z, *, times_f=True, wrt_sigma=False, reduce="mean", sign=1.0):
    sigma = log_sigma.exp()
    factor = f(z) if times_f else torch.ones_like(z)
    d_mu = (z - mu) / sigma**2
    d_second = (z - mu).pow(2) / sigma**3 - 1 / sigma if wrt_sigma else (z - mu).pow(2) / sigma**2 - 1
    stacked = torch.stack([factor * d_mu, factor * d_second])
    return sign * (stacked.mean(1) if reduce == "mean" else stacked.sum(1))


def _autograd_version(f, mu, log_sigma, z):
    mu, log_sigma = mu.clone().requires_grad_(), log_sigma.clone().requires_grad_()
    log_q = Normal(mu, log_sigma.exp()).log_prob(z)
    return torch.stack(torch.autograd.grad((f(z).detach() * log_q).mean(), [mu, log_sigma]))


def _loop_version(f, mu, log_sigma, z):
    s = log_sigma.exp()
    d_mu = d_log_sigma = 0
    for zk in z:
        d_mu = d_mu + f(zk) * (zk - mu) / s**2
        d_log_sigma = d_log_sigma + f(zk) * ((zk - mu) ** 2 / s**2 - 1)
    return torch.stack([d_mu, d_log_sigma]) / len(z)


def _scores(f, m, s, z, variance):
    return torch.stack([(f(z) * (z - m) / variance).mean(), (f(z) * ((z - m) ** 2 / variance - 1)).mean()])


MISTAKES["score_function_gradient"] = [
    (lambda f, m, s, z: _reference(f, m, s, z, times_f=False), ["multiplied by f(z)"]),  # missing the f(z) factor
    (lambda f, m, s, z: _reference(f, m, s, z, wrt_sigma=True), ["with respect to sigma"]),
    (lambda f, m, s, z: _reference(f, m, s, z, sign=-1.0), ["sign is flipped"]),
    (lambda f, m, s, z: _reference(f, m, s, z, reduce="sum"), ["don't sum"]),
    (lambda f, m, s, z: _reference(f, m, s, z)[0], ["returned shape"]),
    (lambda f, m, s, z: torch.stack([(f(z) * (z - m)).mean(), (f(z) * (z - m).pow(2)).mean()]), ["wrong values"]),
    # new: the common slips in the score, baselines, order, types and dtypes, sampling, in-place changes
    (lambda f, m, s, z: torch.stack([(f(z) * (z - m) / s.exp() ** 2).mean(), (f(z) * (z - m) ** 2 / s.exp() ** 2).mean()]),
     ["constant term"]),
    (lambda f, m, s, z: _scores(f, m, s, z, s.exp()), ["exp(log_sigma) is the standard deviation"]),
    (lambda f, m, s, z: _scores(f, m, s, z, s**2), ["s = exp(log_sigma)"]),
    (lambda f, m, s, z: _reference(lambda t: f(t) - f(z).mean(), m, s, z), ["baseline"]),
    (lambda f, m, s, z: _reference(f, m, s, z).flip(0), ["wrong order"]),
    (lambda f, m, s, z: list(_reference(f, m, s, z)), ["torch.stack"]),
    (lambda f, m, s, z: torch.tensor([v.item() for v in _reference(f, m, s, z)]), ["float32 for float64 inputs"]),
    (lambda f, m, s, z: _reference(f, m, s, m + s.exp() * torch.randn_like(z)), ["draws none of its own"]),
    (lambda f, m, s, z: (lambda v: (z.sub_(m), v)[1])(_reference(f, m, s, z)), ["changed its input z in place"]),
]

CORRECT = {
    "reparameterize": [
        course_vae.reparameterize,
        lambda mu, lv: mu + torch.exp(0.5 * lv) * torch.randn_like(mu),
        lambda mu, lv: mu + torch.sqrt(lv.exp()) * torch.randn_like(mu),
        lambda mu, lv: Normal(mu, _std(lv)).rsample(),  # torch.distributions
        lambda mu, lv: mu + _std(lv) * torch.randn(mu.shape),  # float32 noise, whatever mu's dtype
        lambda mu, lv: mu + _std(lv) * torch.empty_like(mu).normal_(),
        lambda mu, lv: torch.randn_like(mu).mul_(_std(lv)).add_(mu),  # in place on the fresh noise
        lambda mu, lv: mu + _std(lv) * Normal(0.0, 1.0).sample(mu.shape).to(mu.dtype),
        lambda mu, lv: (mu.double() + _std(lv.double()) * torch.randn(mu.shape, dtype=torch.float64)).to(mu.dtype),
    ],
    "score_function_gradient": [
        _reference,
        _autograd_version,  # autograd through log q
        _loop_version,
        lambda f, m, s, z: _reference(f, m.double(), s.double(), z.double()).to(z.dtype),  # float64 inside
    ],
}


@pytest.mark.parametrize("wrong, words", MISTAKES["reparameterize"])
def test_reparameterize_checker_rejects(wrong, words):
    assert_rejects(checks.reparameterize, wrong, words)


@pytest.mark.parametrize("wrong, words", MISTAKES["score_function_gradient"])
def test_score_function_checker_rejects(wrong, words):
    assert_rejects(checks.score_function_gradient, wrong, words)


@pytest.mark.parametrize("right", CORRECT["reparameterize"])
def test_reparameterize_checker_accepts(right):
    assert_accepts(checks.reparameterize, right)


@pytest.mark.parametrize("right", CORRECT["score_function_gradient"])
def test_score_function_checker_accepts(right):
    assert_accepts(checks.score_function_gradient, right)


def test_reparameterize_checker_restores_the_global_rng():
    state = torch.random.get_rng_state()
    checks.reparameterize(course_vae.reparameterize)
    assert torch.equal(state, torch.random.get_rng_state())
    with pytest.raises(CheckFailed):
        checks.reparameterize(_seed_inside)  # a student's manual_seed does not leak out either
    assert torch.equal(state, torch.random.get_rng_state())


def test_statistical_thresholds_leave_margin_for_independent_normal_noise():
    """Over fresh seeds, independent N(0, 1) noise of the main probe's size stays well inside
    every threshold (the checker's own seeds are fixed, so verdicts are deterministic)."""
    n, d = 100_000, 4
    worst = {"ks": 0.0, "correlation": 0.0, "tails": 0.0, "moments": 0.0}
    generator = torch.Generator().manual_seed(2024)
    for _ in range(8):
        eps = torch.randn(n, d, generator=generator, dtype=torch.float64)
        worst["ks"] = max(worst["ks"], checks.ks_distance(eps) / checks.MAX_KS)
        corr = torch.corrcoef(eps.T) - torch.eye(d, dtype=torch.float64)
        lag = checks._correlation(eps[:-1], eps[1:])
        worst["correlation"] = max(worst["correlation"], float(corr.abs().max()) / checks.MAX_CORRELATION,
                                   abs(lag) / checks.MAX_CORRELATION)
        for t, allowed in checks.TAILS:
            expected = math.erfc(t / math.sqrt(2))
            observed = float((eps.abs() > t).double().mean())
            worst["tails"] = max(worst["tails"], abs(observed / expected - 1) / allowed)
        sigmas = max(float(eps.mean(0).abs().max()) * math.sqrt(n), float((eps.std(0) - 1).abs().max()) * math.sqrt(2 * n))
        worst["moments"] = max(worst["moments"], sigmas / checks.MOMENT_SIGMAS)
    assert all(value < 0.8 for value in worst.values()), worst
