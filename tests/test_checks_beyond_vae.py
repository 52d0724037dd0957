"""Chapter 10's checkers: the Renyi bound and one CAVI update, against a catalogue of slips."""

from __future__ import annotations

import math

import numpy as np
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


# ---- the Renyi bound: more wrong answers (a second catalogue, written as students do) ------------------


def _global_max_shift(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    t = 1 - alpha
    s = t * log_w
    top = s.max()
    return (top + torch.log(torch.exp(s - top).mean(0))) / t

def _alpha_one_returns_iwae(log_w, alpha):
    if alpha == 1:
        return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])
    return course_vae.renyi_bound(log_w, alpha)

def _alpha_one_returns_zero(log_w, alpha):
    if alpha == 1:
        return torch.zeros_like(log_w[0])
    return course_vae.renyi_bound(log_w, alpha)

def _alpha_one_sums(log_w, alpha):
    if alpha == 1:
        return log_w.sum(0)
    return course_vae.renyi_bound(log_w, alpha)

def _alpha_one_mean_over_dim1(log_w, alpha):
    if alpha == 1:
        return log_w.mean(1)
    return course_vae.renyi_bound(log_w, alpha)

def _alpha_one_mean_of_everything(log_w, alpha):
    if alpha == 1:
        return log_w.mean()
    return course_vae.renyi_bound(log_w, alpha)

def _alpha_zero_as_mean(log_w, alpha):  # the two ends swapped in a special case
    if alpha == 0:
        return log_w.mean(0)
    return course_vae.renyi_bound(log_w, alpha)

def _alpha_zero_without_log_k(log_w, alpha):
    if alpha == 0:
        return torch.logsumexp(log_w, 0)
    return course_vae.renyi_bound(log_w, alpha)

def _t_is_alpha_minus_one(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    t = alpha - 1
    return (torch.logsumexp(t * log_w, 0) - math.log(log_w.shape[0])) / t

def _factor_outside_logsumexp(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    t = 1 - alpha
    return (t * torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])) / t

def _k_is_numel(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    t = 1 - alpha
    return (torch.logsumexp(t * log_w, 0) - math.log(log_w.numel())) / t

def _pow_of_exp(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    t = 1 - alpha
    return log_w.exp().pow(t).mean(0).log() / t

def _keepdim(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0, keepdim=True)
    t = 1 - alpha
    return (torch.logsumexp(t * log_w, 0, keepdim=True) - math.log(log_w.shape[0])) / t

def _shift_not_squeezed(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    t = 1 - alpha
    s = t * log_w
    top = s.max(0, keepdim=True).values
    return (top + torch.log(torch.exp(s - top).mean(0))) / t

def _python_float(log_w, alpha):
    return course_vae.renyi_bound(log_w, alpha).mean().item()

def _summed_over_batch(log_w, alpha):
    return course_vae.renyi_bound(log_w, alpha).sum()

def _numpy_round_trip(log_w, alpha):
    from scipy.special import logsumexp
    w = log_w.detach().numpy()
    if alpha == 1:
        out = w.mean(0)
    else:
        t = 1 - alpha
        out = (logsumexp(t * w, axis=0) - np.log(w.shape[0])) / t
    return torch.from_numpy(out)

def _loop_rebuilt_with_tensor(log_w, alpha):
    vals = [course_vae.renyi_bound(log_w[:, b:b + 1], alpha).item() for b in range(log_w.shape[1])]
    return torch.tensor(vals, dtype=log_w.dtype)

def _log_k_as_float32_tensor(log_w, alpha):
    K = log_w.shape[0]
    if alpha == 1:
        return log_w.mean(0)
    t = 1 - alpha
    return (torch.logsumexp(t * log_w, 0) - torch.log(torch.tensor(K))) / t

def _in_place_scaling(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    t = 1 - alpha
    log_w *= t
    return (torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])) / t

def _in_place_through_data(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    t = 1 - alpha
    log_w.data.mul_(t)
    return (torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])) / t

def _in_place_on_the_logsumexp(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    t = 1 - alpha
    out = torch.logsumexp(t * log_w, 0)
    out.sub_(math.log(log_w.shape[0]))
    return out / t

def _where_both_branches(log_w, alpha):
    t = 1 - alpha
    general = (torch.logsumexp(t * log_w, 0) - math.log(log_w.shape[0])) / t
    return torch.where(torch.tensor(alpha == 1), log_w.mean(0), general)

def _alpha_one_only_if_int(log_w, alpha):
    if isinstance(alpha, int) and alpha == 1:
        return log_w.mean(0)
    t = 1 - alpha
    return (torch.logsumexp(t * log_w, 0) - math.log(log_w.shape[0])) / t

def _near_one_by_isclose_001(log_w, alpha):
    if abs(alpha - 1) < 1e-2:
        return log_w.mean(0)
    return course_vae.renyi_bound(log_w, alpha)

def _precedence(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    return 1 / 1 - alpha * (torch.logsumexp((1 - alpha) * log_w, 0) - math.log(log_w.shape[0]))


RENYI_WRONG_MORE = [
    (_global_max_shift, ["NaN or infinite", "its own largest term", "-60 to -380"]),
    (_alpha_one_returns_iwae, ["importance-weighted bound", "alpha = 1.0"]),
    (_alpha_one_returns_zero, ["not 0", "mean of log_w"]),
    (_alpha_one_sums, ["MEAN of log_w", "not their sum"]),
    (_alpha_one_mean_over_dim1, ["one value per example", "dim 0"]),
    (_alpha_one_mean_of_everything, ["returned shape ()", "one value per example"]),
    (_alpha_zero_as_mean, ["the value at alpha = 1 only", "alpha = 0.0"]),
    (_alpha_zero_without_log_k, ["subtract log K", "alpha = 0.0"]),
    (_t_is_alpha_minus_one, ["bound at 2 - alpha"]),
    (_factor_outside_logsumexp, ["INSIDE the logsumexp"]),
    (_k_is_numel, ["log K counts the samples", "not all the entries"]),
    (_pow_of_exp, ["NaN or infinite", "logsumexp"]),
    (_keepdim, ["returned shape (1, 5)", "expected (5,)"]),
    (_shift_not_squeezed, ["returned shape (1, 5)", "expected (5,)"]),
    (_python_float, ["returned a Python number", "no .item()"]),
    (_summed_over_batch, ["returned shape ()", "one value per example"]),
    (_numpy_round_trip, ["no gradient flows back to log_w", "numpy"]),
    (_loop_rebuilt_with_tensor, ["no gradient flows back to log_w", "torch.tensor(...) rebuilding"]),
    (_log_k_as_float32_tensor, ["compute in the input's dtype", "torch.tensor(...)", "alpha = 0.999"]),
    (_in_place_scaling, ["in-place operation", "out of place"]),
    (_in_place_through_data, ["changed its input log_w in place"]),
    (_in_place_on_the_logsumexp, ["gradient of your result cannot be computed", "out-of-place"]),
    (_where_both_branches, ["NaN or infinite gradient", "torch.where", "Python if"]),
    (_alpha_one_only_if_int, ["NaN or infinite", "alpha = 1.0, the limit", "mean of log_w"]),
    (_near_one_by_isclose_001, ["the value at alpha = 1 only", "alpha = 0.999"]),
    (_precedence, ["wrong values at example", "alpha = 0.3"]),
]


@pytest.mark.parametrize("wrong, words", RENYI_WRONG_MORE, ids=[w.__name__ for w, _ in RENYI_WRONG_MORE])
def test_renyi_checker_rejects_more_slips(wrong, words):
    assert_rejects(checks.renyi_bound, wrong, words)


# ---- the Renyi bound: more right answers ----------------------------------------------------------------


def _special_logsumexp(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    t = 1 - alpha
    return (torch.special.logsumexp(t * log_w, dim=0) - math.log(log_w.size(0))) / t

def log_mean_exp(v, dim):
    top = v.max(dim, keepdim=True).values.detach()
    return (top + (v - top).exp().mean(dim, keepdim=True).log()).squeeze(dim)

def _log_mean_exp_helper(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    t = 1 - alpha
    return log_mean_exp(t * log_w, 0) / t

def _loop_over_batch(log_w, alpha):
    out = []
    for b in range(log_w.shape[1]):
        col = log_w[:, b]
        if alpha == 1:
            out.append(col.mean())
        else:
            t = 1 - alpha
            out.append((torch.logsumexp(t * col, 0) - math.log(len(col))) / t)
    return torch.stack(out)

def _where_with_safe_t(log_w, alpha):
    one = alpha == 1
    t = 1.0 if one else 1 - alpha
    general = (torch.logsumexp(t * log_w, 0) - math.log(log_w.shape[0])) / t
    return torch.where(torch.tensor(one), log_w.mean(0), general)

def _double_and_type_as(log_w, alpha):
    w = log_w.double()
    out = w.mean(0) if alpha == 1 else (w.mul(1 - alpha).logsumexp(0) - np.log(w.shape[0])) / (1 - alpha)
    return out.type_as(log_w)

def _alpha_as_tensor(log_w, alpha):
    a = log_w.new_tensor(alpha)
    K = log_w.new_tensor(log_w.shape[0])
    if a == 1:
        return log_w.mean(0)
    t = 1 - a
    return (torch.logsumexp(t * log_w, 0) - torch.log(K)) / t

def _running_logaddexp(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    t = 1 - alpha
    acc = t * log_w[0]
    for k in range(1, log_w.shape[0]):
        acc = torch.logaddexp(acc, t * log_w[k])
    return (acc - math.log(log_w.shape[0])) / t

def _logcumsumexp_last(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    t = 1 - alpha
    return (torch.logcumsumexp(t * log_w, 0)[-1] - math.log(log_w.shape[0])) / t

def _centred_expm1(log_w, alpha):  # the package's way, in plain torch
    if alpha == 1:
        return log_w.mean(0)
    t = 1 - alpha
    c = log_w.mean(0)
    s = t * (log_w - c)
    return c + (torch.logsumexp(s, 0) - math.log(log_w.shape[0])) / t

def _numpy_log_k_and_method(log_w, alpha):
    if abs(alpha - 1) < 1e-12:
        return torch.mean(log_w, dim=0)
    t = 1.0 - float(alpha)
    return (log_w.mul(t).logsumexp(dim=0) - np.log(log_w.shape[0])) * (1.0 / t)

def _uniform_log_weights(log_w, alpha):
    if alpha == 1:
        return log_w.mean(0)
    t = 1 - alpha
    log_u = torch.full_like(log_w, -math.log(log_w.shape[0]))
    return torch.logsumexp(t * log_w + log_u, 0) / t

def _branch_with_isclose_tight(log_w, alpha):
    if math.isclose(alpha, 1.0, abs_tol=1e-9):
        return log_w.mean(0)
    return torch.div(torch.logsumexp((1 - alpha) * log_w, 0) - math.log(log_w.shape[0]), 1 - alpha)


RENYI_RIGHT_MORE = [
    _special_logsumexp, _log_mean_exp_helper, _loop_over_batch, _where_with_safe_t, _double_and_type_as,
    _alpha_as_tensor, _running_logaddexp, _logcumsumexp_last, _centred_expm1, _numpy_log_k_and_method,
    _uniform_log_weights, _branch_with_isclose_tight,
]


@pytest.mark.parametrize("right", RENYI_RIGHT_MORE, ids=[r.__name__ for r in RENYI_RIGHT_MORE])
def test_renyi_checker_accepts_more_right_answers(right):
    assert_accepts(checks.renyi_bound, right)


def test_renyi_checker_does_not_demand_accuracy_closer_to_one_than_0_999():
    """A plain `alpha == 1` branch (the solution's) loses digits at alpha = 1 - 1e-12 by cancellation
    inherent to the formula the text gives; the checker's nearest probe to 1 is 0.999, where it is exact."""
    log_w = 4.0 * torch.randn(12, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    plain = _solution_like(log_w, 1 - 1e-12)
    assert (plain - course_vae.renyi_bound(log_w, 1 - 1e-12)).abs().max() > 1e-7  # the formula's own error
    torch.testing.assert_close(_solution_like(log_w, 0.999), course_vae.renyi_bound(log_w, 0.999), rtol=1e-10,
                               atol=1e-12)
    assert_accepts(checks.renyi_bound, _solution_like)


# ---- the CAVI update: more wrong and right answers ----------------------------------------------------


def _phi_half_missing_on_variance(x, m, s2):
    return torch.softmax(x @ m.T - 0.5 * (m * m).sum(1) - x.shape[1] * s2, dim=1)

def _phi_half_missing_on_norm(x, m, s2):
    return torch.softmax(x @ m.T - (m * m).sum(1) - 0.5 * x.shape[1] * s2, dim=1)

def _phi_cross_term_only(x, m, s2):
    return torch.softmax(x @ m.T, dim=1)

def _phi_variance_without_norm(x, m, s2):
    return torch.softmax(x @ m.T - 0.5 * x.shape[1] * s2, dim=1)

def _phi_standard_deviation(x, m, s2):
    return torch.softmax(x @ m.T - 0.5 * ((m * m).sum(1) + x.shape[1] * s2.sqrt()), dim=1)

def _phi_n_for_d(x, m, s2):
    return torch.softmax(x @ m.T - 0.5 * ((m * m).sum(1) + x.shape[0] * s2), dim=1)

def _phi_k_for_d(x, m, s2):
    return torch.softmax(x @ m.T - 0.5 * ((m * m).sum(1) + m.shape[0] * s2), dim=1)

def _phi_log_softmax(x, m, s2):
    return torch.log_softmax(x @ m.T - 0.5 * ((m * m).sum(1) + x.shape[1] * s2), dim=1)

def _phi_global_normalization(x, m, s2):
    e = torch.exp(x @ m.T - 0.5 * ((m * m).sum(1) + x.shape[1] * s2))
    return e / e.sum()

def _phi_softmax_in_float64(x, m, s2):
    return torch.softmax(x @ m.T - 0.5 * ((m * m).sum(1) + x.shape[1] * s2), dim=1, dtype=torch.float64)

def _phi_variance_plus(x, m, s2):
    return torch.softmax(x @ m.T - 0.5 * (m * m).sum(1) + 0.5 * x.shape[1] * s2, dim=1)

def _phi_transposed(x, m, s2):
    return torch.softmax(m @ x.T - 0.5 * ((m * m).sum(1) + x.shape[1] * s2).unsqueeze(1), dim=1)

def _phi_norm_over_components(x, m, s2):  # |m|^2 summed down the components instead of over coordinates
    return torch.softmax(x @ m.T - 0.5 * ((m * m).sum(0) + x.shape[1] * s2), dim=1)

def _phi_variance_summed(x, m, s2):
    return torch.softmax(x @ m.T - 0.5 * ((m * m).sum(1) + s2.sum()), dim=1)

def _phi_squared_distance_no_half(x, m, s2):
    return torch.softmax(-(x.unsqueeze(1) - m).pow(2).sum(-1) - 0.5 * x.shape[1] * s2, dim=1)

def _phi_in_place_on_s2(x, m, s2):
    s2 *= x.shape[1]  # D s2_k, in place
    return torch.softmax(x @ m.T - 0.5 * ((m * m).sum(1) + s2), dim=1)


PHI_WRONG_MORE = [
    (_phi_half_missing_on_variance, ["factor 1/2", "the variance term included"]),
    (_phi_half_missing_on_norm, ["factor 1/2", "|m_k|^2 included"]),
    (_phi_cross_term_only, ["quadratic term", "is missing"]),
    (_phi_variance_without_norm, ["|m_k|^2 is missing"]),
    (_phi_standard_deviation, ["not its square root"]),
    (_phi_n_for_d, ["x.shape[1]", "not the number of data points"]),
    (_phi_k_for_d, ["x.shape[1]", "not the number of components"]),
    (_phi_log_softmax, ["log_softmax", "return the probabilities"]),
    (_phi_global_normalization, ["normalize each row", "not the whole matrix"]),
    (_phi_softmax_in_float64, ["returned float64 for float32 inputs"]),
    (_phi_variance_plus, ["variance enters with a minus sign"]),
    (_phi_transposed, ["returned shape (3, 7)", "expected (7, 3)"]),
    (_phi_norm_over_components, ["|m_k|^2 is missing", "dim=1"]),
    (_phi_variance_summed, ["variance of q(mu_k)"]),
    (_phi_squared_distance_no_half, ["carries the factor 1/2"]),
    (_phi_in_place_on_s2, ["changed its input s2 in place"]),
]


@pytest.mark.parametrize("wrong, words", PHI_WRONG_MORE, ids=[w.__name__ for w, _ in PHI_WRONG_MORE])
def test_phi_checker_rejects_more_slips(wrong, words):
    assert_rejects(checks.cavi_phi_update, wrong, words)


def _phi_einsum(x, m, s2):
    logits = torch.einsum("nd,kd->nk", x, m) - 0.5 * (torch.einsum("kd,kd->k", m, m) + m.shape[1] * s2)
    return logits.softmax(-1)

def _phi_cdist(x, m, s2):
    return torch.softmax(-0.5 * torch.cdist(x, m).pow(2) - 0.5 * x.shape[1] * s2, dim=1)

def _phi_max_shift(x, m, s2):
    logits = x @ m.T - 0.5 * ((m * m).sum(1) + x.shape[1] * s2)
    e = torch.exp(logits - logits.max(1, keepdim=True).values)
    return e / e.sum(1, keepdim=True)

def _phi_no_grad(x, m, s2):
    with torch.no_grad():
        return torch.softmax(x @ m.T - 0.5 * ((m * m).sum(1) + x.shape[1] * s2), dim=1)

def _phi_normal_log_prob(x, m, s2):
    log_lik = torch.distributions.Normal(m, 1.0).log_prob(x.unsqueeze(1)).sum(-1)  # (N, K)
    return torch.softmax(log_lik - 0.5 * x.shape[1] * s2, dim=1)

def _phi_scipy(x, m, s2):
    from scipy.special import softmax
    logits = (x @ m.T - 0.5 * ((m * m).sum(1) + x.shape[1] * s2)).detach().numpy()
    return torch.from_numpy(softmax(logits, axis=1))

def _phi_full_expectation(x, m, s2):  # keeps the |x_i|^2 term and the constant
    d = x.shape[1]
    sq = (x * x).sum(1, keepdim=True) - 2 * x @ m.T + (m * m).sum(1) + d * s2
    return torch.softmax(-0.5 * d * math.log(2 * math.pi) - 0.5 * sq, dim=1)

def _phi_loop_over_components(x, m, s2):
    cols = [x @ m[k] - 0.5 * (m[k].dot(m[k]) + x.shape[1] * s2[k]) for k in range(m.shape[0])]
    return torch.softmax(torch.stack(cols, dim=1), dim=1)


PHI_RIGHT_MORE = [
    _phi_einsum, _phi_cdist, _phi_max_shift, _phi_no_grad, _phi_normal_log_prob, _phi_scipy, _phi_full_expectation,
    _phi_loop_over_components,
]


@pytest.mark.parametrize("right", PHI_RIGHT_MORE, ids=[r.__name__ for r in PHI_RIGHT_MORE])
def test_phi_checker_accepts_more_right_answers(right):
    """Values and dtype only: CAVI takes no gradients, so no_grad and NumPy answers are right too."""
    assert_accepts(checks.cavi_phi_update, right)


# ---- the notebooks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(checks.EXERCISES))
def test_checkers_accept_the_solution_and_reject_the_exercise_stub(name):
    checker = checks.EXERCISES[name]
    assert_accepts(checker, definitions(ROOT / "solutions" / "10_beyond_vae.ipynb")[name])
    assert_rejects(checker, definitions(ROOT / "exercises" / "10_beyond_vae.ipynb")[name], ["not implemented yet"])


# The catalogue tests/test_checks.py reads: every exercise has at least three known mistakes.
MISTAKES = {"renyi_bound": RENYI_WRONG + RENYI_WRONG_MORE, "cavi_phi_update": PHI_WRONG + PHI_WRONG_MORE}
