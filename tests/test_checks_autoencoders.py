"""Chapter 1's checkers reject the known mistakes (SYLLABUS item 4 among them)."""

from __future__ import annotations

import pytest
import torch

import course_vae
from course_vae.checks import autoencoders

from .checker_harness import assert_rejects


def _rho_hat(a):
    return a.mean(0)


def _kl(p, q):
    return p * torch.log(p / q) + (1 - p) * torch.log((1 - p) / (1 - q))


def _jacobian_rows(encoder, x, create_graph=True):
    x = x.detach().requires_grad_()
    z = encoder(x)
    # retain_graph=True alone is what a student adds when the second row fails without it
    return x, [
        torch.autograd.grad(z[:, k].sum(), x, create_graph=create_graph, retain_graph=True)[0].flatten(1)
        for k in range(z.shape[1])
    ]


def _unsquared(encoder, x):  # SYLLABUS item 4: a plain sum of partial derivatives
    _, rows = _jacobian_rows(encoder, x)
    return sum(row.sum(1) for row in rows)


def _norm_not_squared(encoder, x):
    _, rows = _jacobian_rows(encoder, x)
    return sum(row.pow(2).sum(1) for row in rows).sqrt()


def _summed_code(encoder, x):
    x = x.detach().requires_grad_()
    (g,) = torch.autograd.grad(encoder(x).sum(), x, create_graph=True)
    return g.pow(2).flatten(1).sum(1)


def _no_graph(encoder, x):
    _, rows = _jacobian_rows(encoder, x, create_graph=False)
    return sum(row.pow(2).sum(1) for row in rows)


def _batch_total(encoder, x):
    return course_vae.contractive_penalty(encoder, x).sum()


MISTAKES = {
    "sparsity_kl": [
        (lambda a, rho: _kl(_rho_hat(a), torch.tensor(rho, dtype=a.dtype)).sum(), ["wrong order"]),  # arguments swapped
        (lambda a, rho: _kl(torch.tensor(rho, dtype=a.dtype), a).sum(), ["mean activation of unit j over the batch"]),  # per example
        (lambda a, rho: _kl(torch.tensor(rho, dtype=a.dtype), a).mean(0).sum(), ["average the activations before the KL"]),
        (lambda a, rho: a.abs().sum(), ["L1 activity penalty"]),  # L1 passed off as the KL
        (lambda a, rho: a.abs().sum(1).mean(), ["L1 activity penalty"]),
        (lambda a, rho: _kl(torch.tensor(rho, dtype=a.dtype), _rho_hat(a)).mean(), ["Sum the KL over hidden units"]),
        (lambda a, rho: (rho * torch.log(rho / _rho_hat(a))).sum(), ["two terms"]),
        (lambda a, rho: _kl(torch.tensor(0.05, dtype=a.dtype), _rho_hat(a)).sum(), ["wrong values"]),  # ignores rho
        (lambda a, rho: _kl(torch.tensor(rho, dtype=a.dtype), _rho_hat(a)), ["returned shape"]),  # no sum over units
        (lambda a, rho: _kl(torch.tensor(rho, dtype=a.dtype), _rho_hat(a).detach()).sum(), ["no gradient"]),
    ],
    "contractive_penalty": [
        (_unsquared, ["summed the partial derivatives themselves"]),
        (_norm_not_squared, ["is its square"]),
        (_summed_code, ["sum of the code units"]),
        (_no_graph, ["does not depend on the encoder's parameters"]),
        (_batch_total, ["returned shape ()"]),
        (lambda encoder, x: _unsquared(encoder, x).abs(), ["wrong values"]),
    ],
}


@pytest.mark.parametrize("wrong, words", MISTAKES["sparsity_kl"])
def test_sparsity_kl_checker_rejects(wrong, words):
    assert_rejects(autoencoders.sparsity_kl, wrong, words)


@pytest.mark.parametrize("wrong, words", MISTAKES["contractive_penalty"])
def test_contractive_penalty_checker_rejects(wrong, words):
    assert_rejects(autoencoders.contractive_penalty, wrong, words)


def test_checkers_accept_the_package_implementations(capsys):
    autoencoders.sparsity_kl(course_vae.sparsity_kl)
    autoencoders.contractive_penalty(course_vae.contractive_penalty)
    assert capsys.readouterr().out.count("✓") == 2


def test_contractive_checker_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    autoencoders.contractive_penalty(course_vae.contractive_penalty)
    assert torch.equal(state, torch.random.get_rng_state())
