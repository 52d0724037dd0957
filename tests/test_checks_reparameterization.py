"""Chapter 3's checkers reject the known mistakes (SYLLABUS items 1 and 8, and the issue's list)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

import course_vae
from course_vae.checks import reparameterization as checks

from .checker_harness import assert_rejects


def _std(logvar):
    return torch.exp(0.5 * logvar)


MISTAKES = {
    "reparameterize": [
        (lambda mu, lv: mu * torch.randn_like(mu) + _std(lv), ["swapped"]),  # SYLLABUS item 1
        (lambda mu, lv: mu + torch.exp(lv) * torch.randn_like(mu), ["that is the variance"]),  # missing the half
        (lambda mu, lv: mu + lv * torch.randn_like(mu), ["logvar is the log of the variance"]),  # sigma = logvar
        (lambda mu, lv: Normal(mu, _std(lv)).sample(), ["does not depend differentiably"]),  # .sample()
        (lambda mu, lv: (mu + _std(lv) * torch.randn_like(mu)).detach(), ["does not depend differentiably"]),
        (lambda mu, lv: torch.normal(mu, _std(lv)), ["dz/dmu should be 1"]),  # silent zero gradients
        (lambda mu, lv: mu + _std(lv).detach() * torch.randn_like(mu), ["no gradient flows back to logvar"]),
        (lambda mu, lv: mu + _std(lv) * torch.rand_like(mu), ["wrong"]),  # uniform noise
        (lambda mu, lv: mu + _std(lv), ["wrong mean"]),  # no noise at all
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


MISTAKES["score_function_gradient"] = [
    (lambda f, m, s, z: _reference(f, m, s, z, times_f=False), ["multiplied by f(z)"]),  # missing the f(z) factor
    (lambda f, m, s, z: _reference(f, m, s, z, wrt_sigma=True), ["with respect to sigma"]),
    (lambda f, m, s, z: _reference(f, m, s, z, sign=-1.0), ["sign is flipped"]),
    (lambda f, m, s, z: _reference(f, m, s, z, reduce="sum"), ["don't sum"]),
    (lambda f, m, s, z: _reference(f, m, s, z)[0], ["returned shape"]),
    (lambda f, m, s, z: torch.stack([(f(z) * (z - m)).mean(), (f(z) * (z - m).pow(2)).mean()]), ["wrong values"]),
]


@pytest.mark.parametrize("wrong, words", MISTAKES["reparameterize"])
def test_reparameterize_checker_rejects(wrong, words):
    assert_rejects(checks.reparameterize, wrong, words)


@pytest.mark.parametrize("wrong, words", MISTAKES["score_function_gradient"])
def test_score_function_checker_rejects(wrong, words):
    assert_rejects(checks.score_function_gradient, wrong, words)


def test_checkers_accept_correct_implementations(capsys):
    checks.reparameterize(course_vae.reparameterize)
    checks.reparameterize(lambda mu, lv: mu + torch.sqrt(lv.exp()) * torch.randn_like(mu))
    checks.reparameterize(lambda mu, lv: Normal(mu, _std(lv)).rsample())
    checks.score_function_gradient(_reference)
    checks.score_function_gradient(_autograd_version)
    assert capsys.readouterr().out.count("✓") == 5


def test_reparameterize_checker_restores_the_global_rng():
    state = torch.random.get_rng_state()
    checks.reparameterize(course_vae.reparameterize)
    assert torch.equal(state, torch.random.get_rng_state())
    assert math.isfinite(float(torch.rand(())))
