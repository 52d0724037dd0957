"""Chapter 1's checkers reject the known mistakes (SYLLABUS item 4 among them) and accept
correct penalties however they are written."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, kl_divergence

import course_vae
from course_vae.checks import autoencoders

from .checker_harness import assert_accepts, assert_rejects


def _rho_hat(a):
    return a.mean(0)


def _kl(p, q):
    return p * torch.log(p / q) + (1 - p) * torch.log((1 - p) / (1 - q))


def _rho(a, rho):
    return torch.tensor(rho, dtype=a.dtype)


def _jacobian_rows(encoder, x, create_graph=True):
    x = x.detach().requires_grad_()
    z = encoder(x)
    # retain_graph=True alone is what a student adds when the second row fails without it
    return x, [
        torch.autograd.grad(z[:, k].sum(), x, create_graph=create_graph, retain_graph=True)[0].flatten(1)
        for k in range(z.shape[1])
    ]


def _from_rows(encoder, x, square=lambda r: r.pow(2)):
    _, rows = _jacobian_rows(encoder, x)
    return sum(square(row).sum(1) for row in rows)


def _unsquared(encoder, x):  # SYLLABUS item 4: a plain sum of partial derivatives
    return _from_rows(encoder, x, square=lambda r: r)


def _norm_not_squared(encoder, x):
    return _from_rows(encoder, x).sqrt()


def _summed_code(encoder, x):
    x = x.detach().requires_grad_()
    (g,) = torch.autograd.grad(encoder(x).sum(), x, create_graph=True)
    return g.pow(2).flatten(1).sum(1)


def _no_graph(encoder, x):
    _, rows = _jacobian_rows(encoder, x, create_graph=False)
    return sum(row.pow(2).sum(1) for row in rows)


def _batch_total(encoder, x):
    return course_vae.contractive_penalty(encoder, x).sum()


def _frozen(encoder, x):  # "I only want derivatives with respect to x"
    for p in encoder.parameters():
        p.requires_grad_(False)
    return _from_rows(encoder, x)


def _backward_inside(encoder, x):  # reads x.grad after .backward(): leaves .grad in the encoder too
    x = x.detach().requires_grad_()
    z = encoder(x)
    penalty = 0
    for k in range(z.shape[1]):
        x.grad = None
        z[:, k].sum().backward(retain_graph=True, create_graph=True)
        penalty = penalty + x.grad.pow(2).flatten(1).sum(1)
    return penalty


def _float32_accumulator(encoder, x):
    x = x.detach().requires_grad_()
    z = encoder(x)
    penalty = torch.zeros(len(x))  # float32, and += keeps it so
    for k in range(z.shape[1]):
        (row,) = torch.autograd.grad(z[:, k].sum(), x, create_graph=True)
        penalty += row.pow(2).flatten(1).sum(1)
    return penalty


def _in_place_square(encoder, x):
    x = x.detach().requires_grad_()
    z = encoder(x)
    penalty = 0
    for k in range(z.shape[1]):
        (row,) = torch.autograd.grad(z[:, k].sum(), x, create_graph=True)
        penalty = penalty + row.mul_(row).flatten(1).sum(1)
    return penalty


def _x_not_requiring_grad(encoder, x):
    z = encoder(x)
    return sum(torch.autograd.grad(z[:, k].sum(), x, create_graph=True)[0].pow(2).flatten(1).sum(1) for k in range(z.shape[1]))


def _graph_freed(encoder, x):  # no retain_graph / create_graph
    x = x.detach().requires_grad_()
    z = encoder(x)
    return sum(torch.autograd.grad(z[:, k].sum(), x)[0].pow(2).flatten(1).sum(1) for k in range(z.shape[1]))


def _closed_form_of_one_layer(encoder, x):  # chapter 1's formula, valid for one sigmoid layer only
    h = encoder(x)
    return ((h * (1 - h)) ** 2 * encoder[0].weight.pow(2).sum(1)).sum(1)


def _converts_the_encoder(encoder, x):
    encoder.double()
    return course_vae.contractive_penalty(encoder, x.double()).to(x.dtype)


def _switches_to_eval(encoder, x):
    encoder.eval()
    return course_vae.contractive_penalty(encoder, x)


def _averaged_over_inputs(encoder, x):
    return _from_rows(encoder, x, square=lambda r: r.pow(2) / r.shape[1])


def _misses_the_last_unit(encoder, x):
    _, rows = _jacobian_rows(encoder, x)
    return sum(row.pow(2).sum(1) for row in rows[:-1]) if len(rows) > 1 else rows[0].pow(2).sum(1) * 0.5


MISTAKES = {
    "sparsity_kl": [
        (lambda a, rho: _kl(_rho_hat(a), _rho(a, rho)).sum(), ["wrong order"]),  # arguments swapped
        (lambda a, rho: -_kl(_rho(a, rho), _rho_hat(a)).sum(), ["negative of the KL"]),  # ratios upside down
        (lambda a, rho: _kl(_rho(a, rho), a).sum(), ["mean activation of unit j over the batch"]),  # per example
        (lambda a, rho: _kl(_rho(a, rho), a).mean(0).sum(), ["average the activations before the KL"]),
        (lambda a, rho: _kl(_rho(a, rho), a.mean(1)).sum(), ["(dim 0)"]),  # averaged over units
        (lambda a, rho: a.abs().sum(), ["L1 activity penalty"]),  # L1 passed off as the KL
        (lambda a, rho: a.abs().sum(1).mean(), ["L1 activity penalty"]),
        (lambda a, rho: _kl(_rho(a, rho), _rho_hat(a)).mean(), ["Sum the KL over hidden units"]),
        (lambda a, rho: (rho * torch.log(rho / _rho_hat(a))).sum(), ["two terms"]),
        (lambda a, rho: F.kl_div(_rho_hat(a).log(), torch.full_like(_rho_hat(a), rho), reduction="sum"), ["two terms"]),
        (lambda a, rho: _kl(torch.tensor(0.05, dtype=a.dtype), _rho_hat(a)).sum(), ["wrong values"]),  # ignores rho
        (lambda a, rho: _kl(_rho(a, rho), _rho_hat(a)), ["returned shape"]),  # no sum over units
        (lambda a, rho: _kl(_rho(a, rho), _rho_hat(a).detach()).sum(), ["no gradient"]),
        (lambda a, rho: _kl(_rho(a, rho), a.sum(0)).sum(), ["NaN", "lies in [0, 1]"]),  # a sum, not a mean
        (lambda a, rho: (rho * (torch.log(rho) - torch.log(_rho_hat(a)))).sum(), ["rho is a Python float"]),
        # new: inputs near the edges (dead and saturated units), dtypes, in-place operations
        (lambda a, rho: _kl(_rho(a, rho), _rho_hat(a).clamp(1e-3, 1 - 1e-3)).sum(), ["almost never active", "clamp"]),
        (lambda a, rho: _kl(_rho(a, rho), _rho_hat(a).clamp(0.01, 0.99)).sum(), ["almost never active"]),
        (lambda a, rho: _kl(_rho(a, rho), a.clamp(1e-3, 1 - 1e-3).mean(0)).sum(), ["almost never active"]),
        (lambda a, rho: _kl(_rho(a, rho), _rho_hat(a).clamp(min=1e-7, max=0.999)).sum(), ["almost always active"]),
        (lambda a, rho: (rho * torch.log(rho / (_rho_hat(a) + 1e-6)) + (1 - rho) * torch.log((1 - rho) / (1 - _rho_hat(a) + 1e-6))).sum(),
         ["epsilon"]),
        (lambda a, rho: _kl(torch.tensor(rho), _rho_hat(a)).sum(), ["compute in the input's dtype", "torch.tensor(...)"]),
        (lambda a, rho: _kl(_rho(a, rho), a.float().mean(0)).sum(), ["float32 for float64 inputs"]),
        (lambda a, rho: _kl(_rho(a, rho), a.clamp_(1e-7, 1).mean(0)).sum(), ["in-place"]),
    ],
    "contractive_penalty": [
        (_unsquared, ["summed the partial derivatives themselves"]),
        (_norm_not_squared, ["is its square"]),
        (_summed_code, ["sum of the code units"]),
        (_no_graph, ["does not depend on the encoder's parameters"]),
        (_batch_total, ["returned shape ()"]),
        (lambda encoder, x: _unsquared(encoder, x).abs(), ["wrong values"]),
        (_averaged_over_inputs, ["don't average over them"]),
        (_misses_the_last_unit, ["wrong values at example"]),
        (_x_not_requiring_grad, ["does not require grad", "requires_grad_()"]),
        (_graph_freed, ["a second time", "create_graph=True"]),
        (_closed_form_of_one_layer, ["any encoder"]),
        # new: the encoder left as found, dtypes, in-place operations
        (_frozen, ["switched off requires_grad", "'0.weight'"]),
        (_backward_inside, [".grad", "torch.autograd.grad"]),
        (_converts_the_encoder, ["changed the dtype of the encoder's parameters"]),
        (_switches_to_eval, ["eval mode"]),
        (_float32_accumulator, ["float32 for float64 inputs", "compute in the input's dtype"]),
        (_in_place_square, ["in-place", "autograd had saved"]),
    ],
}


def _per_example_jacobian(encoder, x):
    penalties = []
    for xi in x:
        jac = torch.autograd.functional.jacobian(lambda t: encoder(t.unsqueeze(0))[0], xi, create_graph=True)
        penalties.append(jac.pow(2).sum())
    return torch.stack(penalties)


def _vmap_jacrev(encoder, x):
    from torch.func import jacrev, vmap

    return vmap(jacrev(lambda t: encoder(t.unsqueeze(0))[0]))(x).pow(2).flatten(1).sum(1)


def _batched_grads(encoder, x):
    x = x.detach().requires_grad_()
    z = encoder(x)
    k = z.shape[1]
    basis = torch.eye(k, dtype=z.dtype).unsqueeze(1).expand(k, len(x), k)
    (rows,) = torch.autograd.grad(z, x, grad_outputs=basis, is_grads_batched=True, create_graph=True)
    return rows.pow(2).flatten(2).sum(2).sum(0)


def _bernoulli(a, rho):
    rho_t = torch.full_like(a[0], rho)
    return kl_divergence(Bernoulli(probs=rho_t), Bernoulli(probs=a.mean(0))).sum()


CORRECT = {
    "sparsity_kl": [
        course_vae.sparsity_kl,  # clamps rho_hat to [1e-6, 1 - 1e-6]
        lambda a, rho: _kl(rho, a.mean(0)).sum(),
        _bernoulli,  # torch.distributions
        lambda a, rho: _kl(rho, a.double().mean(0)).sum().to(a.dtype),  # float64 inside
        lambda a, rho: sum(_kl(rho, a[:, j].mean()) for j in range(a.shape[1])),  # a loop over units
        lambda a, rho: (rho * (math.log(rho) - torch.log(a.mean(0))) + (1 - rho) * (math.log(1 - rho) - torch.log1p(-a.mean(0)))).sum(),
        lambda a, rho: _kl(rho, a.mean(0).clamp(1e-7, 1 - 1e-7)).sum(),  # a guard against log(0) only
        lambda a, rho: _kl(rho, a.mean(0).clamp_(1e-7, 1 - 1e-7)).sum(),  # in place, but on a fresh tensor
    ],
    "contractive_penalty": [
        course_vae.contractive_penalty,
        _per_example_jacobian,
        _vmap_jacrev,
        _batched_grads,
        lambda encoder, x: _from_rows(encoder, x),
    ],
}


@pytest.mark.parametrize("wrong, words", MISTAKES["sparsity_kl"])
def test_sparsity_kl_checker_rejects(wrong, words):
    assert_rejects(autoencoders.sparsity_kl, wrong, words)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
@pytest.mark.parametrize("wrong, words", MISTAKES["contractive_penalty"])
def test_contractive_penalty_checker_rejects(wrong, words):
    assert_rejects(autoencoders.contractive_penalty, wrong, words)


@pytest.mark.parametrize("right", CORRECT["sparsity_kl"])
def test_sparsity_kl_checker_accepts(right):
    assert_accepts(autoencoders.sparsity_kl, right)


@pytest.mark.parametrize("right", CORRECT["contractive_penalty"])
def test_contractive_penalty_checker_accepts(right):
    assert_accepts(autoencoders.contractive_penalty, right)


def test_contractive_checker_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    autoencoders.contractive_penalty(course_vae.contractive_penalty)
    assert torch.equal(state, torch.random.get_rng_state())
