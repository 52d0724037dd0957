"""Chapter 2's checkers reject the known mistakes (SYLLABUS item 7 and the issue's list)."""

from __future__ import annotations

import math

import pytest

import course_vae
from course_vae.checks import elbo

from .checker_harness import assert_rejects


def _kl(mu, logvar):
    return 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(-1)


MISTAKES = {
    "gaussian_kl": [
        (lambda mu, lv: 0.5 * (lv.exp() + mu.pow(2) - 1 + lv).sum(-1), ["wrong sign"]),  # "+ log det"
        (lambda mu, lv: 0.5 * (lv.exp().pow(2) + mu.pow(2) - 1 - 2 * lv).sum(-1), ["not the standard deviation"]),
        (lambda mu, lv: 0.5 * (lv.exp() + mu.pow(2) - 1 - lv).mean(-1), ["don't average"]),
        (lambda mu, lv: (lv.exp() + mu.pow(2) - 1 - lv).sum(-1), ["twice the reference"]),  # missing 1/2
        (lambda mu, lv: 0.5 * (lv.exp() + mu.pow(2) - lv).sum(-1), ["constant term"]),
        (lambda mu, lv: 0.5 * (lv.exp() + mu.pow(2) - 1 - lv).sum(), ["shape ()"]),
        (lambda mu, lv: 0.5 * (lv.exp() + mu.pow(2) - 1 - lv), ["returned shape"]),
        (lambda mu, lv: 0.5 * (lv.exp() + mu.pow(2) - 1 - lv.exp().log()).sum(-1).detach(), ["no gradient"]),
        (lambda mu, lv: 0.5 * (lv.exp() + mu - 1 - lv).sum(-1), ["wrong values"]),  # mu not squared
    ],
    "linear_gaussian_elbo": [],
}


def _elbo(x, q_mu, q_logvar, W, b, sigma, *, spread=True, kl_sign=-1, const=True, weight_power=2, var_power=1):
    D = x.shape[-1]
    residual = (x - q_mu @ W.T - b).pow(2).sum(-1)
    if spread:
        residual = residual + (q_logvar.exp().pow(var_power) * W.pow(2).sum(0)).sum(-1)
    recon = -0.5 * residual / sigma**weight_power
    if const:
        recon = recon - 0.5 * D * math.log(2 * math.pi * sigma**2)
    return recon + kl_sign * _kl(q_mu, q_logvar)


MISTAKES["linear_gaussian_elbo"] = [
    (lambda *a: _elbo(*a, spread=False), ["ignores the spread of q"]),
    (lambda *a: _elbo(*a, kl_sign=+1), ["KL term has the wrong sign"]),
    (lambda *a: -_elbo(*a), ["negative ELBO"]),
    (lambda *a: _elbo(*a, const=False), ["normalizing constant"]),
    (lambda *a: _elbo(*a, weight_power=1), ["divided by sigma instead of sigma^2"]),
    (lambda *a: _elbo(*a, var_power=2), ["not its standard deviation"]),
    (lambda *a: _elbo(*a).mean(), ["shape ()"]),
    (lambda x, q_mu, q_logvar, W, b, sigma: _elbo(x, q_mu.detach(), q_logvar, W, b, sigma), ["no gradient flows back to q_mu"]),
]


@pytest.mark.parametrize("wrong, words", MISTAKES["gaussian_kl"])
def test_gaussian_kl_checker_rejects(wrong, words):
    assert_rejects(elbo.gaussian_kl, wrong, words)


@pytest.mark.parametrize("wrong, words", MISTAKES["linear_gaussian_elbo"])
def test_linear_gaussian_elbo_checker_rejects(wrong, words):
    assert_rejects(elbo.linear_gaussian_elbo, wrong, words)


def test_checkers_accept_the_package_implementations(capsys):
    elbo.gaussian_kl(course_vae.gaussian_kl)
    elbo.linear_gaussian_elbo(lambda x, m, lv, W, b, s: course_vae.LinearGaussian(W, b, s).elbo(x, m, lv))
    elbo.linear_gaussian_elbo(_elbo)
    assert capsys.readouterr().out.count("✓") == 3
