"""Chapter 6's checkers: active units, the free-bits KL and the cyclical schedule, against a
catalogue of slips; right answers written differently must pass."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import course_vae
from course_vae.checks import posterior_collapse as checks

from .checker_harness import assert_accepts, assert_rejects

# ---- active units ---------------------------------------------------------------------------


def _count(activity, threshold):
    return int((activity > threshold).sum())


def _mean_of_variances(mu, logvar, threshold=0.01):
    activity = logvar.exp().mean(0)
    return activity, _count(activity, threshold)


def _variance_of_z(mu, logvar, threshold=0.01):
    activity = mu.var(0) + logvar.exp().mean(0)
    return activity, _count(activity, threshold)


def _sampled_z(mu, logvar, threshold=0.01):
    z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
    activity = z.var(0)
    return activity, _count(activity, threshold)


def _over_latent_dimensions(mu, logvar, threshold=0.01):
    activity = mu.var(1)
    return activity, _count(activity, threshold)


def _covariance_matrix(mu, logvar, threshold=0.01):
    activity = torch.cov(mu.T)
    return activity, _count(torch.diagonal(activity), threshold)


def _at_or_above(mu, logvar, threshold=0.01):
    activity = mu.var(0, correction=0)
    return activity, int((activity >= threshold).sum())


def _unbiased_at_or_above(mu, logvar, threshold=0.01):
    activity = mu.var(0)
    return activity, int((activity >= threshold).sum())


def _inactive_count(mu, logvar, threshold=0.01):
    activity = mu.var(0)
    return activity, int((activity <= threshold).sum())


def _fixed_threshold(mu, logvar, threshold=0.01):
    activity = mu.var(0)
    return activity, _count(activity, 0.01)


def _std(mu, logvar, threshold=0.01):
    activity = mu.std(0)
    return activity, _count(activity, threshold)


def _not_centred(mu, logvar, threshold=0.01):
    activity = mu.pow(2).mean(0)
    return activity, _count(activity, threshold)


def _variance_of_logvar(mu, logvar, threshold=0.01):
    activity = logvar.var(0)
    return activity, _count(activity, threshold)


def _fraction(mu, logvar, threshold=0.01):
    activity = mu.var(0)
    return activity, (activity > threshold).float().mean()


def _flags(mu, logvar, threshold=0.01):
    activity = mu.var(0)
    return activity, activity > threshold


def _count_only(mu, logvar, threshold=0.01):
    return _count(mu.var(0), threshold)


def _float32_inside(mu, logvar, threshold=0.01):
    activity = mu.float().var(0)
    return activity, _count(activity, threshold)


def _centres_in_place(mu, logvar, threshold=0.01):
    mu -= mu.mean(0)
    activity = mu.pow(2).mean(0)
    return activity, _count(activity, threshold)


def _squared_threshold(mu, logvar, threshold=0.01):
    activity = mu.var(0)
    return activity, _count(activity, threshold ** 2)


def _active_units_stub(mu, logvar, threshold=0.01):
    raise NotImplementedError("Exercise")


# ---- the free-bits KL -------------------------------------------------------------------------


def _kl(mu, logvar):
    return 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar)  # (B, d)


def _per_example(mu, logvar, lam):
    return _kl(mu, logvar).clamp(min=lam).sum(1).mean()


def _whole_sum(mu, logvar, lam):
    return _kl(mu, logvar).mean(0).sum().clamp(min=lam)


def _whole_sum_at_d_lambda(mu, logvar, lam):
    return _kl(mu, logvar).mean(0).sum().clamp(min=mu.shape[1] * lam)


def _each_example_total(mu, logvar, lam):
    return _kl(mu, logvar).sum(1).clamp(min=lam).mean()


def _lambda_ignored(mu, logvar, lam):
    return _kl(mu, logvar).mean(0).sum()


def _clamp_from_above(mu, logvar, lam):
    return _kl(mu, logvar).mean(0).clamp(max=lam).sum()


def _hinge(mu, logvar, lam):
    return (_kl(mu, logvar).mean(0) - lam).clamp(min=0).sum()


def _summed_over_batch(mu, logvar, lam):
    return _kl(mu, logvar).sum(0).clamp(min=lam).sum()


def _mean_over_dimensions(mu, logvar, lam):
    return _kl(mu, logvar).mean(0).clamp(min=lam).mean()


def _per_dimension_vector(mu, logvar, lam):
    return _kl(mu, logvar).mean(0).clamp(min=lam)


def _per_example_vector(mu, logvar, lam):
    return _kl(mu, logvar).clamp(min=lam).sum(1)


def _through_item(mu, logvar, lam):
    per_dim = _kl(mu, logvar).mean(0)
    return torch.tensor(sum(max(lam, v.item()) for v in per_dim), dtype=mu.dtype)


def _straight_through(mu, logvar, lam):
    per_dim = _kl(mu, logvar).mean(0)  # the clamped value, but every dimension keeps its gradient
    return (per_dim + (per_dim.clamp(min=lam) - per_dim).detach()).sum()


def _soft_max(mu, logvar, lam):
    per_dim = _kl(mu, logvar).mean(0)
    return (lam + torch.nn.functional.softplus(per_dim - lam, beta=10.0)).sum()


def _kl_wrong_half(mu, logvar, lam):
    return (2 * _kl(mu, logvar)).mean(0).clamp(min=lam).sum()


def _sigma_for_logvar(mu, logvar, lam):
    log_sigma = logvar  # read as log sigma, so the variance is exp(2 * logvar)
    return (0.5 * ((2 * log_sigma).exp() + mu.pow(2) - 1 - 2 * log_sigma)).mean(0).clamp(min=lam).sum()


def _float32_lambda_tensor(mu, logvar, lam):
    per_dim = _kl(mu, logvar).mean(0).float()
    return torch.maximum(per_dim, torch.tensor(lam)).sum()


def _clamps_in_place(mu, logvar, lam):
    logvar.clamp_(-10, 10)
    return _kl(mu, logvar).mean(0).clamp(min=lam).sum()


def _times_batch(mu, logvar, lam):
    return _kl(mu, logvar).mean(0).clamp(min=lam).sum() * len(mu)


def _free_bits_stub(mu, logvar, lam):
    raise NotImplementedError("Exercise")


# ---- the cyclical schedule -------------------------------------------------------------------


def _linear_warm_up(step, total_steps, cycles=4, ratio=0.5):
    return min(1.0, step / (ratio * total_steps))


def _ratio_of_all_steps(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps // cycles
    return min(1.0, (step % period) / (ratio * total_steps))


def _one_based(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps // cycles
    return min(1.0, ((step + 1) % period) / (period * ratio))


def _position_plus_one(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps // cycles
    return min(1.0, (step % period + 1) / (period * ratio))


def _period_too_long(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps // cycles
    return min(1.0, (step % (period + 1)) / (period * ratio))


def _drops_after_ramp(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps / cycles
    tau = (step % period) / period
    return tau / ratio if tau < ratio else 0.0


def _falls(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps / cycles
    return max(0.0, 1.0 - (step % period) / (period * ratio))


def _unclamped(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps / cycles
    return (step % period) / (period * ratio)


def _ratio_ignored(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps / cycles
    return (step % period) / period


def _one_step_late(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps // cycles
    return min(1.0, (step % period) / (period * ratio + 1))


def _integer_division(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps // cycles
    return min(1.0, (step % period) // (period * ratio))


def _fixed_ratio(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps / cycles
    return min(1.0, (step % period) / (period * 0.5))


def _fixed_cycles(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps / 4
    return min(1.0, (step % period) / (period * ratio))


def _integer_period_extra_cycle(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps // cycles  # a short fifth cycle when total_steps is not a multiple
    return min(1.0, (step % period) / (period * ratio))


def _cosine(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps / cycles
    tau = min(1.0, (step % period) / (period * ratio))
    return 0.5 - 0.5 * math.cos(math.pi * tau)


def _as_string(step, total_steps, cycles=4, ratio=0.5):
    return f"{course_vae.kl_weight(step, total_steps, 'cyclical', cycles, ratio):.3f}"


def _as_vector(step, total_steps, cycles=4, ratio=0.5):
    return torch.tensor([course_vae.kl_weight(t, total_steps, "cyclical", cycles, ratio) for t in range(total_steps)])


def _schedule_stub(step, total_steps, cycles=4, ratio=0.5):
    raise NotImplementedError("Exercise")


MISTAKES = {
    "active_units": [
        (_mean_of_variances, ["mean over the examples of the posterior variances", "variance over the examples of the posterior means"]),
        (_variance_of_z, ["variance of z itself", "law of total variance"]),
        (_sampled_z, ["different activity for the same inputs", "samples nothing"]),
        (_over_latent_dimensions, ["one number per EXAMPLE", "reduce over dim 0"]),
        (_covariance_matrix, ["covariance matrix", "diagonal"]),
        (_at_or_above, ["must be strict", "not >="]),
        (_unbiased_at_or_above, ["must be strict", "not >="]),
        (_inactive_count, ["INACTIVE"]),
        (_fixed_threshold, ["threshold argument is ignored"]),
        (_std, ["standard deviation"]),
        (_not_centred, ["mean of mu squared", "subtract each column's mean"]),
        (_variance_of_logvar, ["variance of logvar"]),
        (_fraction, ["not a whole number", "fraction"]),
        (_flags, ["one number", "shape (5,)", ".sum()"]),
        (_count_only, ["should return a pair (activity, count)"]),
        (_float32_inside, ["returned float32 for float64 inputs"]),
        (_centres_in_place, ["changed its input mu in place"]),
        (_squared_threshold, ["not a square or square root"]),
        (_active_units_stub, ["not implemented yet"]),
    ],
    "free_bits_kl": [
        (_per_example, ["each example's KL of each dimension", "BATCH-AVERAGED"]),
        (_whole_sum, ["whole KL (the sum over dimensions)", "each dimension's KL separately"]),
        (_whole_sum_at_d_lambda, ["clamped at d * lambda"]),
        (_each_example_total, ["Each example's total KL is clamped"]),
        (_lambda_ignored, ["lambda is ignored"]),
        (_clamp_from_above, ["from above"]),
        (_hinge, ["max(0, KL_j - lambda)", "minus the constant d * lambda"]),
        (_summed_over_batch, ["SUMMED over the batch"]),
        (_mean_over_dimensions, ["averaged over the dimensions; sum them"]),
        (_per_dimension_vector, ["one value per latent dimension", "sum the clamped"]),
        (_per_example_vector, ["one value per example"]),
        (_through_item, ["no gradient flows back"]),
        (_straight_through, ["below lambda, yet your result has a gradient with respect to mu"]),
        (_soft_max, ["wrong value"]),
        (_kl_wrong_half, ["In the KL of each dimension", "twice the reference"]),
        (_sigma_for_logvar, ["In the KL of each dimension", "not of the standard deviation"]),
        (_float32_lambda_tensor, ["returned float32 for float64 inputs"]),
        (_clamps_in_place, ["in-place operation", "out of place"]),
        (_times_batch, ["multiplied by the batch size"]),
        (_free_bits_stub, ["not implemented yet"]),
    ],
    "cyclical_kl_weight": [
        (_linear_warm_up, ["linear warm-up over the whole run", "never returns to 0"]),
        (_ratio_of_all_steps, ["of the WHOLE run"]),
        (_one_based, ["0-based", "shifted by one step"]),
        (_position_plus_one, ["exactly 0 at step 0"]),
        (_period_too_long, ["one step too long"]),
        (_drops_after_ramp, ["drops to 0; it stays at 1"]),
        (_falls, ["RISES from 0 to 1"]),
        (_unclamped, ["goes above 1"]),
        (_ratio_ignored, ["is ignored: beta rises over the whole cycle"]),
        (_one_step_late, ["one step late"]),
        (_integer_division, ["integer division"]),
        (_fixed_ratio, ["ratio argument is ignored"]),
        (_fixed_cycles, ["cycles argument is ignored"]),
        (_integer_period_extra_cycle, ["short extra cycle", "restarts 3 times"]),
        (_cosine, ["wrong beta at step 1"]),
        (_as_string, ["should return a number", "str"]),
        (_as_vector, ["returned a tensor of shape"]),
        (_schedule_stub, ["not implemented yet"]),
    ],
}


@pytest.mark.parametrize("wrong, words", MISTAKES["active_units"], ids=lambda v: getattr(v, "__name__", ""))
def test_active_units_checker_rejects(wrong, words):
    assert_rejects(checks.active_units, wrong, words)


@pytest.mark.parametrize("wrong, words", MISTAKES["free_bits_kl"], ids=lambda v: getattr(v, "__name__", ""))
def test_free_bits_kl_checker_rejects(wrong, words):
    assert_rejects(checks.free_bits_kl, wrong, words)


@pytest.mark.parametrize("wrong, words", MISTAKES["cyclical_kl_weight"], ids=lambda v: getattr(v, "__name__", ""))
def test_cyclical_kl_weight_checker_rejects(wrong, words):
    assert_rejects(checks.cyclical_kl_weight, wrong, words)


# ---- right answers, written differently --------------------------------------------------------

def _package_active_units(mu, logvar, threshold=0.01):
    return course_vae.unit_activity(mu), course_vae.active_units(mu, threshold)


def _unbiased_with_numpy_style_loop(mu, logvar, threshold=0.01):
    n = mu.shape[0]
    centred = mu - mu.mean(dim=0, keepdim=True)
    activity = (centred * centred).sum(dim=0) / (n - 1)
    count = 0
    for value in activity:
        if value > threshold:
            count += 1
    return activity, count


def _tensor_count_as_list(mu, logvar, threshold=0.01):
    activity = torch.mean((mu - mu.mean(0)) ** 2, dim=0)
    return [activity, (activity > threshold).sum()]


def _numpy_float_count(mu, logvar, threshold=0.01):
    activity = mu.var(0, unbiased=False)
    return activity, np.float64((activity.numpy() > threshold).sum())


@pytest.mark.parametrize("right", [_package_active_units, _unbiased_with_numpy_style_loop, _tensor_count_as_list,
                                   _numpy_float_count])
def test_active_units_checker_accepts_right_answers(right):
    assert_accepts(checks.active_units, right)


def _package_free_bits(mu, logvar, lam):
    return course_vae.kl_per_dimension(mu, logvar).clamp(min=lam).sum()


def _distributions_and_where(mu, logvar, lam):
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    per_dim = torch.distributions.kl_divergence(q, p).mean(dim=0)
    return torch.where(per_dim > lam, per_dim, torch.full_like(per_dim, lam)).sum()


def _maximum_with_loop(mu, logvar, lam):
    total = mu.new_zeros(())
    for j in range(mu.shape[1]):
        kl_j = 0.5 * torch.mean(torch.exp(logvar[:, j]) + mu[:, j] ** 2 - 1.0 - logvar[:, j])
        total = total + torch.maximum(kl_j, mu.new_tensor(lam))
    return total


def _relu_form(mu, logvar, lam):
    per_dim = course_vae.gaussian_kl(mu, logvar, reduction="none").mean(0)
    return (lam + torch.relu(per_dim - lam)).sum()


@pytest.mark.parametrize("right", [_package_free_bits, _distributions_and_where, _maximum_with_loop, _relu_form])
def test_free_bits_kl_checker_accepts_right_answers(right):
    assert_accepts(checks.free_bits_kl, right)


def _package_schedule(step, total_steps, cycles=4, ratio=0.5):
    return course_vae.kl_weight(step, total_steps, kind="cyclical", cycles=cycles, ratio=ratio)


def _fu_float_period(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps / cycles
    tau = (step % period) / period
    return min(1.0, tau / ratio)


def _fu_loop(step, total_steps, cycles=4, ratio=0.5):
    """Fu et al.'s frange_cycle_linear: the whole schedule, then one entry of it."""
    schedule = np.ones(total_steps)
    period = total_steps / cycles
    increment = 1.0 / (period * ratio)
    for c in range(cycles):
        v, i = 0.0, 0
        while v <= 1.0 and int(i + c * period) < total_steps:
            schedule[int(i + c * period)] = v
            v += increment
            i += 1
    return schedule[step]


def _tensor_weight(step, total_steps, cycles=4, ratio=0.5):
    position = torch.tensor(step % (total_steps / cycles), dtype=torch.float64)
    return torch.clamp(position / (ratio * total_steps / cycles), max=1.0)


@pytest.mark.parametrize("right", [_package_schedule, _fu_float_period, _fu_loop, _tensor_weight])
def test_cyclical_kl_weight_checker_accepts_right_answers(right):
    assert_accepts(checks.cyclical_kl_weight, right)
