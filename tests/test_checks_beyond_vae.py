"""Chapter 10's checkers: the Renyi bound and one CAVI update, against a catalogue of slips."""

from __future__ import annotations

import math

import pytest
import torch

import course_vae
from course_vae.checks import beyond_vae as checks
from course_vae.checks import definitions

from .checker_harness import assert_accepts, assert_rejects
from .conftest import ROOT

# ---- the Renyi bound: wrong answers ----------------------------------------------------------------


def _stub(log_w, alpha):
    raise NotImplementedError("Exercise: ...")


def _no_one_minus_alpha(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    return (torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])) / (1 - alpha)


def _exponent_alpha(log_w, alpha):  # alpha where 1 - alpha belongs
    if alpha == 1:
        return log_w.mean(0)
    return (torch.logsumexp(alpha * log_w, 0) - math.log(log_w.shape[0])) / (1 - alpha)


def _mean_of_exponentials(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    return torch.log(torch.exp((1 - alpha) * log_w).mean(0)) / (1 - alpha)


def _mean_of_exponentials_in_float64(log_w, alpha):  # float64 does not save it from -1000
    if alpha == 1:
        return log_w.mean(0)
    w = log_w.double()
    return (torch.log(torch.exp((1 - alpha) * w).mean(0)) / (1 - alpha)).to(log_w.dtype)


def _no_alpha_one_case(log_w, alpha):
    return (torch.logsumexp((1 - alpha) * log_w, 0) - math.log(log_w.shape[0])) / (1 - alpha)


def _alpha_one_returns_inf(log_w, alpha):
    t = 1 - alpha
    if t == 0:
        return torch.full_like(log_w[0], float("inf"))
    return (torch.logsumexp(t * log_w, 0) - math.log(log_w.shape[0])) / t


def _alpha_one_with_python_division(log_w, alpha):
    return (torch.logsumexp((1 - alpha) * log_w, 0) - math.log(log_w.shape[0])) * (1 / (1 - alpha))


def _over_the_batch(log_w, alpha):
    if alpha == 1:
        return log_w.mean(1)
    return (torch.logsumexp((1 - alpha) * log_w, 1) - math.log(log_w.shape[1])) / (1 - alpha)


def _over_the_batch_with_dim_minus_one(log_w, alpha):
    if alpha == 1:
        return log_w.mean(-1)
    return (torch.logsumexp((1 - alpha) * log_w, dim=-1) - math.log(log_w.shape[-1])) / (1 - alpha)


def _sign_of_prefactor(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    return (torch.logsumexp((1 - alpha) * log_w, 0) - math.log(log_w.shape[0])) / (alpha - 1)


def _sign_of_exponent(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    return (torch.logsumexp((alpha - 1) * log_w, 0) - math.log(log_w.shape[0])) / (1 - alpha)


def _sum_not_mean(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    return torch.logsumexp((1 - alpha) * log_w, 0) / (1 - alpha)


def _log_k_outside(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    return torch.logsumexp((1 - alpha) * log_w, 0) / (1 - alpha) - math.log(log_w.shape[0])


def _multiplied(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    return (torch.logsumexp((1 - alpha) * log_w, 0) - math.log(log_w.shape[0])) * (1 - alpha)


def _one_over_alpha(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    return (torch.logsumexp((1 - alpha) * log_w, 0) - math.log(log_w.shape[0])) / alpha


def _one_over_alpha_from_zero(log_w, alpha):  # right away from 0, 1/alpha at alpha = 0 only (a slip in a branch)
    if alpha == 0:
        return (torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])) / alpha
    return course_vae.renyi_bound(log_w, alpha)


def _always_the_mean(log_w, alpha):
    return log_w.mean(0)


def _in_float32(log_w, alpha):
    w = log_w.float()
    if alpha == 1:
        return w.mean(0)
    return (torch.logsumexp((1 - alpha) * w, 0) - math.log(w.shape[0])) / (1 - alpha)


def _returns_float64(log_w, alpha):
    return course_vae.renyi_bound(log_w.double(), alpha)


def _detached(log_w, alpha):
    return course_vae.renyi_bound(log_w.detach(), alpha)


def _alpha_one_as_max(log_w, alpha):  # the alpha -> -infinity end at alpha = 1
    if alpha == 1:
        return log_w.max(0).values
    return course_vae.renyi_bound(log_w, alpha)


def _alpha_one_off_by_isclose(log_w, alpha):  # a tolerance so wide it swallows alpha = 0.9
    if math.isclose(alpha, 1, abs_tol=0.2):
        return log_w.mean(0)
    return course_vae.renyi_bound(log_w, alpha)


def _in_place(log_w, alpha):
    log_w.mul_(1.0)
    return course_vae.renyi_bound(log_w.detach().clone().requires_grad_(False), alpha) + 0 * log_w.sum()


def _k_from_the_batch(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    return (torch.logsumexp((1 - alpha) * log_w, 0) - math.log(log_w.shape[1])) / (1 - alpha)


RENYI_WRONG = [
    (_stub, ["not implemented yet"]),
    (_no_one_minus_alpha, ["lacks its factor"]),
    (_exponent_alpha, ["not alpha log w_k"]),
    (_mean_of_exponentials, ["NaN or infinite", "logsumexp"]),
    (_mean_of_exponentials_in_float64, ["NaN or infinite", "logsumexp"]),
    (_no_alpha_one_case, ["NaN or infinite", "alpha = 1", "mean of log_w"]),
    (_alpha_one_returns_inf, ["NaN or infinite", "alpha = 1"]),
    (_alpha_one_with_python_division, ["ZeroDivisionError", "alpha = 1 is the limit"]),
    (_over_the_batch, ["one value per example", "dim 0"]),
    (_over_the_batch_with_dim_minus_one, ["one value per example", "dim 0"]),
    (_sign_of_prefactor, ["prefactor has the wrong sign"]),
    (_sign_of_exponent, ["exponent has the wrong sign"]),
    (_sum_not_mean, ["subtract log K"]),
    (_log_k_outside, ["inside the bracket"]),
    (_multiplied, ["DIVIDED"]),
    (_one_over_alpha, ["not 1 / alpha"]),
    (_one_over_alpha_from_zero, ["division by zero", "1 / (1 - alpha)"]),
    (_always_the_mean, ["the value at alpha = 1"]),
    (_in_float32, ["compute in the input's dtype"]),
    (_returns_float64, ["compute in the input's dtype"]),
    (_detached, ["no gradient"]),
    (_alpha_one_as_max, ["wrong values", "alpha = 1.0"]),
    (_alpha_one_off_by_isclose, ["the value at alpha = 1"]),
    (_in_place, ["in-place operation"]),
    (_k_from_the_batch, ["log K counts the samples"]),
]


@pytest.mark.parametrize("wrong, words", RENYI_WRONG, ids=[w.__name__ for w, _ in RENYI_WRONG])
def test_renyi_checker_rejects(wrong, words):
    assert_rejects(checks.renyi_bound, wrong, words)


def test_square_probe_names_the_axis():
    def over_batch_square_safe(log_w, alpha):  # reduces over dim 1 but returns B values when K == B only
        if log_w.shape[0] != log_w.shape[1]:
            return course_vae.renyi_bound(log_w, alpha)
        return (torch.logsumexp((1 - alpha) * log_w, 1) - math.log(log_w.shape[0])) / (1 - alpha)

    assert_rejects(checks.renyi_bound, over_batch_square_safe, ["dim 0", "not over the examples"])


# ---- the Renyi bound: right answers, written differently ----------------------------------------------


def _solution_like(log_w, alpha):
    if alpha == 1:
        return log_w.mean(dim=0)
    return (torch.logsumexp((1 - alpha) * log_w, dim=0) - math.log(log_w.shape[0])) / (1 - alpha)


def _manual_max_shift(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    s = (1 - alpha) * log_w
    top = s.max(dim=0, keepdim=True).values
    return (top.squeeze(0) + torch.log(torch.exp(s - top).mean(0))) / (1 - alpha)


def _isclose_special_case(log_w, alpha):
    if math.isclose(alpha, 1.0):
        return log_w.mean(0)
    K = log_w.shape[0]
    return 1.0 / (1.0 - alpha) * (torch.logsumexp((1.0 - alpha) * log_w, 0) - math.log(K))


def _float64_inside(log_w, alpha):
    w = log_w.to(torch.float64)
    if alpha == 1:
        out = w.mean(0)
    else:
        out = (torch.logsumexp((1 - alpha) * w, 0) - math.log(w.shape[0])) / (1 - alpha)
    return out.to(log_w.dtype)


def _log_mean_exp_via_log_of_k_tensor(log_w, alpha):
    K = torch.tensor(float(log_w.shape[0]), dtype=log_w.dtype)
    if abs(1 - alpha) < 1e-12:
        return log_w.sum(0) / K
    return (torch.logsumexp((1 - alpha) * log_w, 0) - torch.log(K)) / (1 - alpha)


def _transpose_then_last_axis(log_w, alpha):
    w = log_w.T  # (B, K)
    if alpha == 1:
        return w.mean(-1)
    return (torch.logsumexp((1 - alpha) * w, -1) - math.log(w.shape[-1])) / (1 - alpha)


def _package(log_w, alpha):
    return course_vae.renyi_bound(log_w, alpha)


def _special_cases_zero_too(log_w, alpha):
    K = log_w.shape[0]
    if alpha == 0:
        return torch.logsumexp(log_w, 0) - math.log(K)
    if alpha == 1:
        return log_w.mean(0)
    return (torch.logsumexp((1 - alpha) * log_w, 0) - math.log(K)) / (1 - alpha)


def _logsumexp_with_log_weights_of_1_over_k(log_w, alpha):
    K = log_w.shape[0]
    if alpha == 1:
        return log_w.mean(0)
    t = 1 - alpha
    return torch.logsumexp(t * log_w - math.log(K), dim=0) / t


@pytest.mark.parametrize("right", [_solution_like, _manual_max_shift, _isclose_special_case, _float64_inside,
                                   _log_mean_exp_via_log_of_k_tensor, _transpose_then_last_axis, _package,
                                   _special_cases_zero_too, _logsumexp_with_log_weights_of_1_over_k])
def test_renyi_checker_accepts_right_answers(right):
    assert_accepts(checks.renyi_bound, right)


# ---- the CAVI update of the responsibilities -------------------------------------------------------------


def _phi_right(x, m, s2):
    return torch.softmax(x @ m.T - 0.5 * ((m * m).sum(1) + x.shape[1] * s2), dim=1)


def _phi_log_space(x, m, s2):
    logits = x @ m.T - 0.5 * (m.pow(2).sum(-1) + m.shape[1] * s2)
    return (logits - torch.logsumexp(logits, dim=1, keepdim=True)).exp()


def _phi_expanded_square(x, m, s2):  # -|x - m|^2 / 2 differs from the update by a term of x alone
    d = x.shape[1]
    score = -0.5 * (x.unsqueeze(1) - m).pow(2).sum(-1) - 0.5 * d * s2
    return torch.softmax(score, dim=-1)


def _phi_loop(x, m, s2):
    rows = []
    for xi in x:
        score = torch.stack([xi @ m[k] - 0.5 * (m[k] @ m[k] + len(xi) * s2[k]) for k in range(len(m))])
        rows.append(torch.softmax(score, 0))
    return torch.stack(rows)


def _phi_stub(x, m, s2):
    raise NotImplementedError("Exercise: ...")


def _phi_no_variance(x, m, s2):
    return torch.softmax(x @ m.T - 0.5 * (m * m).sum(1), dim=1)


def _phi_variance_once(x, m, s2):
    return torch.softmax(x @ m.T - 0.5 * ((m * m).sum(1) + s2), dim=1)


def _phi_columns(x, m, s2):
    return torch.softmax(x @ m.T - 0.5 * ((m * m).sum(1) + x.shape[1] * s2), dim=0)


def _phi_unnormalized(x, m, s2):
    return torch.exp(x @ m.T - 0.5 * ((m * m).sum(1) + x.shape[1] * s2))


def _phi_naive_normalization(x, m, s2):
    e = torch.exp(x @ m.T - 0.5 * ((m * m).sum(1) + x.shape[1] * s2))
    return e / e.sum(1, keepdim=True)


def _phi_no_half(x, m, s2):
    return torch.softmax(x @ m.T - ((m * m).sum(1) + x.shape[1] * s2), dim=1)


def _phi_point_estimate(x, m, s2):
    return torch.softmax(-0.5 * (x.unsqueeze(1) - m).pow(2).sum(-1), dim=1)


PHI_WRONG = [
    (_phi_stub, ["not implemented yet"]),
    (_phi_no_variance, ["variance of q(mu_k)"]),
    (_phi_variance_once, ["each of the D coordinates"]),
    (_phi_columns, ["normalize each row"]),
    (_phi_unnormalized, ["PROPORTIONAL"]),
    (_phi_naive_normalization, ["NaN or infinite", "softmax"]),
    (_phi_no_half, ["factor 1/2"]),
    (_phi_point_estimate, ["variance of q(mu_k)", "exactly m_k"]),
]


@pytest.mark.parametrize("wrong, words", PHI_WRONG, ids=[w.__name__ for w, _ in PHI_WRONG])
def test_phi_checker_rejects(wrong, words):
    assert_rejects(checks.cavi_phi_update, wrong, words)


@pytest.mark.parametrize("right", [_phi_right, _phi_log_space, _phi_expanded_square, _phi_loop])
def test_phi_checker_accepts_right_answers(right):
    assert_accepts(checks.cavi_phi_update, right)


def test_phi_reference_is_the_package_update():
    x = torch.randn(30, 2, dtype=torch.float64)
    res = course_vae.cavi_gmm(x, 3, iters=1, seed=0)
    init = x[torch.randperm(30, generator=torch.Generator().manual_seed(0))[:3]]
    torch.testing.assert_close(_phi_right(x, init, torch.ones(3, dtype=torch.float64)), res.phi)


# ---- the notebooks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(checks.EXERCISES))
def test_checkers_accept_the_solution_and_reject_the_exercise_stub(name):
    checker = checks.EXERCISES[name]
    assert_accepts(checker, definitions(ROOT / "solutions" / "10_beyond_vae.ipynb")[name])
    assert_rejects(checker, definitions(ROOT / "exercises" / "10_beyond_vae.ipynb")[name], ["not implemented yet"])
