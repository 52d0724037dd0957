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


def _centred_on_global_mean(mu, logvar, threshold=0.01):
    activity = (mu - mu.mean()).pow(2).mean(0)  # mean() without dim: one number for the whole tensor
    return activity, _count(activity, threshold)


def _centred_on_row_means(mu, logvar, threshold=0.01):
    activity = (mu - mu.mean(1, keepdim=True)).pow(2).mean(0)
    return activity, _count(activity, threshold)


def _divided_by_d(mu, logvar, threshold=0.01):
    activity = (mu - mu.mean(0)).pow(2).sum(0) / mu.shape[1]
    return activity, _count(activity, threshold)


def _seeded_z_samples(mu, logvar, threshold=0.01):
    g = torch.Generator().manual_seed(0)  # same noise on every call: the activity looks deterministic
    z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=g, dtype=mu.dtype)
    activity = z.var(0)
    return activity, _count(activity, threshold)


def _std_threshold(mu, logvar, threshold=0.01):
    activity = mu.var(0)
    return activity, _count(activity, math.sqrt(threshold))


def _counts_every_unit(mu, logvar, threshold=0.01):
    activity = mu.var(0)
    return activity, len(activity)


def _mean_of_variances_scalar(mu, logvar, threshold=0.01):
    activity = mu.var(0).mean()
    return activity, _count(activity, threshold)


def _keepdim(mu, logvar, threshold=0.01):
    activity = mu.var(0, keepdim=True)
    return activity, _count(activity, threshold)


def _numpy_activity(mu, logvar, threshold=0.01):
    activity = mu.detach().numpy().var(0)
    return activity, int((activity > threshold).sum())


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


def _clamp_batch_sum_then_divide(mu, logvar, lam):
    return _kl(mu, logvar).sum(0).clamp(min=lam).sum() / len(mu)  # clamps at lam / B


def _lambda_bits_to_nats(mu, logvar, lam):
    return _kl(mu, logvar).mean(0).clamp(min=lam * math.log(2)).sum()


def _lambda_nats_to_bits(mu, logvar, lam):
    return _kl(mu, logvar).mean(0).clamp(min=lam / math.log(2)).sum()


def _kl_in_bits(mu, logvar, lam):
    return (_kl(mu, logvar).mean(0) / math.log(2)).clamp(min=lam).sum()


def _batch_sum_over_d(mu, logvar, lam):
    return (_kl(mu, logvar).sum(0) / mu.shape[1]).clamp(min=lam).sum()


def _lambda_over_d(mu, logvar, lam):
    return _kl(mu, logvar).mean(0).clamp(min=lam / mu.shape[1]).sum()


def _builtin_max(mu, logvar, lam):
    return sum(max(lam, kl_j) for kl_j in _kl(mu, logvar).mean(0))  # the float lam where every KL_j < lam


def _through_item_float(mu, logvar, lam):
    return _kl(mu, logvar).mean(0).clamp(min=lam).sum().item()


def _detached_clamp(mu, logvar, lam):
    return _kl(mu, logvar).mean(0).clamp(min=lam).detach().sum()


def _no_half(mu, logvar, lam):
    return (logvar.exp() + mu.pow(2) - 1 - logvar).mean(0).clamp(min=lam).sum()


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


def _square_wave(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps / cycles
    return 0.0 if step % period < ratio * period else 1.0


def _square_wave_on(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps / cycles
    return 1.0 if step % period < ratio * period else 0.0


def _int_result(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps / cycles
    return int(min(1.0, (step % period) / (ratio * period)))


def _cycles_from_one(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps / cycles
    cycle = step // period + 1
    return min(1.0, (step - cycle * period) / (ratio * period))


def _rounded_period(step, total_steps, cycles=4, ratio=0.5):
    period = round(total_steps / cycles)
    return min(1.0, (step % period) / (ratio * period))


def _ceil_period(step, total_steps, cycles=4, ratio=0.5):
    period = math.ceil(total_steps / cycles)  # the cycles drift: the last one is cut short
    return min(1.0, (step % period) / (ratio * period))


def _one_minus_ratio(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps / cycles
    return min(1.0, (step % period) / ((1 - ratio) * period))


def _linspace_ramp(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps // cycles
    n = int(period * ratio)
    position = step % period
    return float(np.linspace(0.0, 1.0, n)[position]) if position < n else 1.0


def _one_step_early(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps // cycles
    return min(1.0, (step % period) / (period * ratio - 1))


def _step_mod_cycles(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps / cycles
    return min(1.0, (step % cycles) / (ratio * period))


def _times_ratio(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps / cycles
    return min(1.0, (step % period) / period * ratio)


def _divided_by_ratio_only(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps / cycles
    return min(1.0, (step % period) / ratio)


def _percent(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps / cycles
    return 100 * min(1.0, (step % period) / (ratio * period))


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
        (_centred_on_global_mean, ["mean of ALL its entries", "mu.mean(dim=0)"]),
        (_centred_on_row_means, ["each EXAMPLE's mean over the units"]),
        (_divided_by_d, ["divided by d, the number of units"]),
        (_seeded_z_samples, ["changes when only logvar changes", "depends on mu alone"]),
        (_std_threshold, ["not a square or square root"]),
        (_counts_every_unit, ["number of all units"]),
        (_mean_of_variances_scalar, ["returned shape ()", "one number per latent unit"]),
        (_keepdim, ["returned shape (1, 5)"]),
        (_numpy_activity, ["should return a torch.Tensor, got ndarray"]),
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
        (_clamp_batch_sum_then_divide, ["clamps at lambda / B", "Average over the batch first"]),
        (_lambda_bits_to_nats, ["from bits to nats", "already in nats"]),
        (_lambda_nats_to_bits, ["from nats to bits"]),
        (_kl_in_bits, ["KL is converted to bits"]),
        (_batch_sum_over_d, ["summed over the batch and divided by d"]),
        (_lambda_over_d, ["lambda is divided by d", "EACH dimension"]),
        (_builtin_max, ["returned a Python float", "builtin max", "below lambda"]),
        (_through_item_float, ["returned a Python float", ".item()"]),
        (_detached_clamp, ["no gradient flows back"]),
        (_no_half, ["In the KL of each dimension", "twice the reference"]),
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
        (_square_wave, ["jumps from 0 to 1 instead of rising linearly", "comparison"]),
        (_square_wave_on, ["1 during the ramp and 0 after it", "square wave"]),
        (_int_result, ["jumps from 0 to 1", "int(...)"]),
        (_cycles_from_one, ["below 0", "counted from 0"]),
        (_rounded_period, ["short extra cycle", "restarts 3 times"]),
        (_ceil_period, ["restarts at steps [3, 6, 9]", "near steps 2.5, 5, 7.5"]),
        (_one_minus_ratio, ["`1 - ratio` of the cycle", "ratio = 0.3"]),
        (_linspace_ramp, ["one step early"]),
        (_one_step_early, ["one step early"]),
        (_step_mod_cycles, ["not step % cycles"]),
        (_times_ratio, ["Ratio multiplies the position"]),
        (_divided_by_ratio_only, ["divided by ratio alone"]),
        (_percent, ["above 1 (up to 100)", "weight in [0, 1]"]),
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


def _count_nonzero(mu, logvar, threshold=0.01):
    activity = torch.var(mu, dim=0, unbiased=False)
    return activity, torch.count_nonzero(activity > threshold)


def _numpy_int_count(mu, logvar, threshold=0.01):
    activity = mu.var(0)
    return activity, np.int64((activity.numpy() > threshold).sum())


def _moments(mu, logvar, threshold=0.01):
    activity = mu.pow(2).mean(0) - mu.mean(0).pow(2)  # E[mu^2] - E[mu]^2
    return activity, sum(1 for value in activity.tolist() if value > threshold)


def _transposed_rows(mu, logvar, threshold=0.01):
    activity = mu.T.var(dim=1, correction=0)
    return activity, (activity > threshold).sum().item()


def _covariance_diagonal(mu, logvar, threshold=0.01):
    activity = torch.cov(mu.T, correction=0).diagonal().clone()
    return activity, float((activity > threshold).sum())


def _einsum(mu, logvar, threshold=0.01):
    centred = mu - mu.mean(0, keepdim=True)
    activity = torch.einsum("nd,nd->d", centred, centred) / len(mu)
    return activity, int(np.count_nonzero(activity.numpy() > threshold))


@pytest.mark.parametrize("right", [_package_active_units, _unbiased_with_numpy_style_loop, _tensor_count_as_list,
                                   _numpy_float_count, _count_nonzero, _numpy_int_count, _moments, _transposed_rows,
                                   _covariance_diagonal, _einsum])
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


def _hinge_plus_constant(mu, logvar, lam):
    per_dim = _kl(mu, logvar).mean(0)
    return (per_dim - lam).clamp(min=0).sum() + lam * per_dim.numel()


def _functional_threshold(mu, logvar, lam):
    return torch.nn.functional.threshold(_kl(mu, logvar).mean(0), lam, lam).sum()


def _where_with_scalar(mu, logvar, lam):
    per_dim = -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp(), dim=0)
    return torch.where(per_dim > lam, per_dim, lam).sum()


def _maximum_float32_lambda(mu, logvar, lam):
    per_dim = _kl(mu, logvar).mean(0)  # a 0-d float32 lambda does not change the dtype
    return torch.maximum(per_dim, torch.tensor(lam)).sum()


def _builtin_max_of_tensors(mu, logvar, lam):
    per_dim = _kl(mu, logvar).mean(0)
    lam_t = per_dim.new_tensor(lam)  # no graph where every dimension is below lambda: a constant, right
    return torch.stack([max(lam_t, kl_j) for kl_j in per_dim]).sum()


def _branch_per_dimension(mu, logvar, lam):
    per_dim = _kl(mu, logvar).mean(0)
    return torch.stack([kl_j if kl_j.item() > lam else 0 * kl_j + lam for kl_j in per_dim]).sum()


@pytest.mark.parametrize("right", [_package_free_bits, _distributions_and_where, _maximum_with_loop, _relu_form,
                                   _hinge_plus_constant, _functional_threshold, _where_with_scalar,
                                   _maximum_float32_lambda, _builtin_max_of_tensors, _branch_per_dimension])
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


def _cycle_index(step, total_steps, cycles=4, ratio=0.5):
    cycle = step * cycles // total_steps
    length = total_steps / cycles
    return min(1.0, (step - cycle * length) / (ratio * length))


def _fmod(step, total_steps, cycles=4, ratio=0.5):
    tau = math.fmod(step * cycles / total_steps, 1.0)
    return min(tau / ratio, 1.0)


def _numpy_float64(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps / cycles
    return np.minimum(1.0, np.float64(step % period) / (ratio * period))


def _validating(step, total_steps, cycles=4, ratio=0.5):
    if not 0 <= step < total_steps:
        raise ValueError(f"step must be in [0, {total_steps}), got {step}")
    period = total_steps / cycles
    position = step % period
    return 1.0 if position >= ratio * period else position / (ratio * period)


def _float32_tensor(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps / cycles
    return torch.clamp(torch.tensor(step % period) / (ratio * period), max=1.0)  # float32: close enough


def _numpy_float32(step, total_steps, cycles=4, ratio=0.5):
    period = total_steps / cycles
    return np.float32(min(1.0, (step % period) / (ratio * period)))


@pytest.mark.parametrize("right", [_package_schedule, _fu_float_period, _fu_loop, _tensor_weight, _cycle_index, _fmod,
                                   _numpy_float64, _validating, _float32_tensor, _numpy_float32])
def test_cyclical_kl_weight_checker_accepts_right_answers(right):
    assert_accepts(checks.cyclical_kl_weight, right)
