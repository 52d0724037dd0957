"""Chapter 2's checkers reject the known mistakes (SYLLABUS item 7 and issue 9's list) and
accept correct KLs and ELBOs however they are written."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

import course_vae
from course_vae.checks import elbo

from .checker_harness import assert_accepts, assert_rejects


def _kl(mu, logvar):
    return 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(-1)


def _float32_accumulator(mu, logvar):
    total = torch.zeros(mu.shape[0])
    for j in range(mu.shape[1]):
        total += 0.5 * (logvar[:, j].exp() + mu[:, j] ** 2 - 1 - logvar[:, j])
    return total


def _sampled(mu, logvar):  # a Monte Carlo estimate instead of the closed form
    q = Normal(mu, (0.5 * logvar).exp())
    z = q.rsample((1000,))
    return (q.log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1).mean(0)


def _in_place_on_a_saved_tensor(mu, logvar):
    var = logvar.exp()  # exp saves its result for the backward pass
    return 0.5 * (var.add_(mu.pow(2)).sub_(1) - logvar).sum(-1)


MISTAKES = {
    "gaussian_kl": [
        (lambda mu, lv: 0.5 * (lv.exp() + mu.pow(2) - 1 + lv).sum(-1), ["wrong sign"]),  # "+ log det"
        (lambda mu, lv: -_kl(mu, lv), ["negative of the reference"]),  # the whole KL with the sign flipped
        (lambda mu, lv: 0.5 * (lv.exp().pow(2) + mu.pow(2) - 1 - 2 * lv).sum(-1), ["not of the standard deviation"]),
        (lambda mu, lv: 0.5 * (lv.exp().pow(2) + mu.pow(2) - 1 - lv).sum(-1), ["not the standard deviation"]),
        (lambda mu, lv: 0.5 * (lv.exp() + mu.pow(2) - 1 - lv).mean(-1), ["don't average"]),
        (lambda mu, lv: (lv.exp() + mu.pow(2) - 1 - lv).sum(-1), ["twice the reference"]),  # missing 1/2
        (lambda mu, lv: 0.5 * (lv.exp() + mu.pow(2) - lv).sum(-1), ["constant term"]),
        (lambda mu, lv: 0.5 * (lv.exp() + mu - 1 - lv).sum(-1), ["squared"]),  # mu not squared
        (lambda mu, lv: 0.5 * (lv.exp() + mu.abs() - 1 - lv).sum(-1), ["wrong values at example"]),
        (lambda mu, lv: _kl(mu, lv).sum(), ["shape ()"]),
        (lambda mu, lv: 0.5 * (lv.exp() + mu.pow(2) - 1 - lv), ["returned shape"]),
        (lambda mu, lv: 0.5 * (lv.exp() + mu.pow(2) - 1 - lv).sum(0), ["returned shape"]),
        (lambda mu, lv: 0.5 * (lv.exp() + mu.pow(2) - 1 - lv.exp().log()).sum(-1).detach(), ["no gradient"]),
        (lambda mu, lv: sum(_kl(mu[:, j : j + 1], lv[:, j : j + 1]) for j in range(mu.shape[0])), ["wrong values"]),  # B for d
        # new: extreme variances, sampling, dtypes, in-place operations
        (lambda mu, lv: _kl(mu, lv.clamp(-10, 10)), ["tiny and huge variances", "clamp"]),
        (lambda mu, lv: 0.5 * (lv.exp() + mu.pow(2) - 1 - torch.log(lv.exp() + 1e-8)).sum(-1), ["epsilon"]),
        (_sampled, ["different values for the same inputs", "closed form"]),
        (_float32_accumulator, ["float32 for float64 inputs", "compute in the input's dtype"]),
        (lambda mu, lv: _kl(mu.double(), lv.double()), ["float64 for float32 inputs"]),
        (lambda mu, lv: 0.5 * (lv.exp_() + mu.pow(2) - 1 - lv).sum(-1), ["in-place"]),
        (_in_place_on_a_saved_tensor, ["in-place", "autograd had saved"]),
    ],
    "linear_gaussian_elbo": [],
}


def _elbo(x, q_mu, q_logvar, W, b, sigma, *, spread=True, kl_sign=-1, const=True, weight_power=2, var_power=1.0,
          const_dim=None, column_weights=True):
    D = x.shape[-1] if const_dim is None else const_dim(x, W)
    residual = (x - q_mu @ W.T - b).pow(2).sum(-1)
    if spread:
        columns = W.pow(2).sum(0) if column_weights else 1.0
        residual = residual + (q_logvar.exp().pow(var_power) * columns).sum(-1)
    recon = -0.5 * residual / sigma**weight_power
    if const:
        recon = recon - 0.5 * D * math.log(2 * math.pi * sigma**2)
    return recon + kl_sign * _kl(q_mu, q_logvar)


def _sampled_elbo(x, q_mu, q_logvar, W, b, sigma):
    z = q_mu + (0.5 * q_logvar).exp() * torch.randn_like(q_mu)
    return Normal(z @ W.T + b, sigma).log_prob(x).sum(-1) - _kl(q_mu, q_logvar)


MISTAKES["linear_gaussian_elbo"] = [
    (lambda *a: _elbo(*a, spread=False), ["ignores the spread of q"]),
    (lambda *a: _elbo(*a, kl_sign=+1), ["KL term has the wrong sign"]),
    (lambda *a: -_elbo(*a), ["negative ELBO"]),
    (lambda *a: _elbo(*a, const=False), ["normalizing constant"]),
    (lambda *a: _elbo(*a, weight_power=1), ["divided by sigma instead of sigma^2"]),
    (lambda *a: _elbo(*a, var_power=2), ["not its standard deviation"]),
    (lambda *a: _elbo(*a, var_power=0.5), ["not the standard deviations"]),
    (lambda *a: _elbo(*a, column_weights=False), ["column j of W"]),
    (lambda *a: _elbo(*a, const_dim=lambda x, W: W.shape[1]), ["not the d latent ones"]),
    (lambda *a: _elbo(*a, const_dim=lambda x, W: x.shape[0]), ["not the batch"]),
    (lambda *a: _elbo(*a).mean(), ["shape ()"]),
    (lambda x, q_mu, q_logvar, W, b, sigma: _elbo(x, q_mu.detach(), q_logvar, W, b, sigma), ["no gradient flows back to q_mu"]),
    # new: the KL slips inside the ELBO, gradients for the model, sampling, in-place changes, dtypes
    (lambda x, m, lv, W, b, s: _elbo(x, m, lv, W, b, s) + _kl(m, lv) - 0.5 * (lv.exp() + m.pow(2) - 1 + lv).sum(-1),
     ["In the KL term", "log-variance"]),
    (lambda x, m, lv, W, b, s: _elbo(x, m, lv, W.detach(), b, s), ["no gradient flows back to W"]),
    (_sampled_elbo, ["different values for the same inputs"]),
    (lambda x, m, lv, W, b, s: _elbo(x.sub_(b), m, lv, W, torch.zeros_like(b), s), ["changed its input x in place"]),
    (lambda x, m, lv, W, b, s: _elbo(x, m, lv, W, b, s).float(), ["float32 for float64 inputs"]),
]

CORRECT = {
    "gaussian_kl": [
        course_vae.gaussian_kl,
        _kl,
        lambda mu, lv: -0.5 * torch.sum(1 + lv - mu**2 - lv.exp(), dim=1),  # Kingma and Welling's form
        lambda mu, lv: kl_divergence(Normal(mu, torch.exp(0.5 * lv)), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1),
        lambda mu, lv: kl_divergence(MultivariateNormal(mu, torch.diag_embed(lv.exp())),
                                     MultivariateNormal(torch.zeros_like(mu), torch.diag_embed(torch.ones_like(mu)))),
        lambda mu, lv: torch.stack([0.5 * sum(lv[i, j].exp() + mu[i, j] ** 2 - 1 - lv[i, j] for j in range(mu.shape[1]))
                                    for i in range(mu.shape[0])]),  # loops
        lambda mu, lv: _kl(mu.double(), lv.double()).to(mu.dtype),  # float64 inside
        lambda mu, lv: (torch.exp(0.5 * lv) ** 2 / 2 + mu**2 / 2 - 0.5 - torch.log(torch.exp(0.5 * lv))).sum(1),  # via sigma
    ],
    "linear_gaussian_elbo": [
        lambda x, m, lv, W, b, s: course_vae.LinearGaussian(W, b, s).elbo(x, m, lv),
        _elbo,
        # through torch.distributions: log N(x; W mu + b, s^2) minus the trace term, minus the KL
        lambda x, m, lv, W, b, s: (Normal(m @ W.T + b, s).log_prob(x).sum(-1) - (lv.exp() * W.pow(2).sum(0)).sum(-1) / (2 * s**2)
                                   - kl_divergence(Normal(m, (0.5 * lv).exp()), Normal(torch.zeros_like(m), torch.ones_like(m))).sum(-1)),
        lambda x, m, lv, W, b, s: _elbo(x.double(), m.double(), lv.double(), W.double(), b.double(), s).to(x.dtype),
        # a float32 constant whose rounding cannot be seen at float64 precision
        lambda x, m, lv, W, b, s: _elbo(x, m, lv, W, b, s, const=False) - 0.5 * x.shape[-1] * torch.log(torch.tensor(2 * math.pi * s**2)),
    ],
}


def _loop_elbo(x, m, lv, W, b, s):
    values = []
    for i in range(x.shape[0]):
        r = x[i] - W @ m[i] - b
        spread = sum(lv[i, j].exp() * (W[:, j] @ W[:, j]) for j in range(W.shape[1]))
        values.append(-0.5 * x.shape[1] * math.log(2 * math.pi * s * s) - (r @ r + spread) / (2 * s * s) - _kl(m[i], lv[i]))
    return torch.stack(values)


CORRECT["linear_gaussian_elbo"].append(_loop_elbo)


@pytest.mark.parametrize("wrong, words", MISTAKES["gaussian_kl"])
def test_gaussian_kl_checker_rejects(wrong, words):
    assert_rejects(elbo.gaussian_kl, wrong, words)


@pytest.mark.parametrize("wrong, words", MISTAKES["linear_gaussian_elbo"])
def test_linear_gaussian_elbo_checker_rejects(wrong, words):
    assert_rejects(elbo.linear_gaussian_elbo, wrong, words)


@pytest.mark.parametrize("right", CORRECT["gaussian_kl"])
def test_gaussian_kl_checker_accepts(right):
    assert_accepts(elbo.gaussian_kl, right)


@pytest.mark.parametrize("right", CORRECT["linear_gaussian_elbo"])
def test_linear_gaussian_elbo_checker_accepts(right):
    assert_accepts(elbo.linear_gaussian_elbo, right)
