"""Checkers of chapter 6's exercise: active units, the free-bits KL and the cyclical KL schedule."""

from __future__ import annotations

import math
import numbers

import torch

from .core import (
    ATOL,
    F32,
    F64,
    RTOL,
    CheckFailed,
    call,
    expect_close,
    expect_dtype,
    expect_gradients,
    expect_shape,
    expect_tensor,
    expect_unchanged,
    gradient,
    passed,
    snapshot,
    student_gradient,
)
from .elbo import kl_variants

# ---- active units ------------------------------------------------------------------------


def _activity_case(n: int, scales: list[float], post_vars: list[float], dtype: torch.dtype, g: torch.Generator):
    """Posterior means ``(n, d)`` whose columns vary over the examples by ``scales`` (around
    offsets, so that a missing centring shows) and log-variances around ``log(post_vars)``."""
    d = len(scales)
    offsets = torch.linspace(-1.5, 2.0, d, dtype=F64)
    mu = offsets + torch.randn(n, d, generator=g, dtype=F64) * torch.tensor(scales, dtype=F64)
    logvar = torch.tensor(post_vars, dtype=F64).log() + 0.2 * torch.randn(n, d, generator=g, dtype=F64)
    return mu.to(dtype), logvar.to(dtype)


def _split(result: object, name: str, d: int, n: int) -> tuple[torch.Tensor, object]:
    """The (activity, count) pair the student returns, with messages for other shapes."""
    __tracebackhide__ = True
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        got = type(result).__name__ + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "")
        raise CheckFailed(f"{name} should return a pair (activity, count): the activity of every unit, a tensor "
                          f"(d,), and the number of active units; got {got}")
    activity, count = result
    activity = expect_tensor(activity, f"{name}(...)[0] (the activity)")
    if tuple(activity.shape) == (n,) and n != d:
        raise CheckFailed(f"{name}: the activity has shape ({n},), one number per EXAMPLE: that is a variance over "
                          f"the latent dimensions of each row. The activity of unit u is the variance over the "
                          f"examples of column u of mu: reduce over dim 0, to shape ({d},).")
    if tuple(activity.shape) == (d, d):
        raise CheckFailed(f"{name}: the activity has shape ({d}, {d}), a covariance matrix between units; the "
                          f"activity of unit u is its variance alone (the diagonal), shape ({d},).")
    expect_shape(activity, (d,), f"{name}(...)[0] (the activity)", "one number per latent unit, the variance over the "
                 "examples of that column of mu")
    return activity, count


def _as_count(count: object, name: str) -> int:
    """The student's count as an int; a fraction or a tensor of flags fails with a hint."""
    __tracebackhide__ = True
    if isinstance(count, torch.Tensor):
        if count.numel() != 1:
            raise CheckFailed(f"{name}: the count should be one number, got a tensor of shape {tuple(count.shape)} "
                              "(flags per unit? count them with .sum())")
        count = count.item()
    if isinstance(count, bool) or not isinstance(count, numbers.Real):
        raise CheckFailed(f"{name}: the count should be a number (an int), got {type(count).__name__}")
    if not float(count).is_integer():
        raise CheckFailed(f"{name}: the count {count:.4g} is not a whole number: count the units (a sum of flags), "
                          "do not average the flags (that is a fraction of the units)")
    return int(count)


def _activity_mistakes(mu: torch.Tensor, logvar: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    m, lv = mu.to(F64), logvar.to(F64)
    post = lv.exp()
    mistakes = []
    for correction in (0, 1):
        var_mu = m.var(dim=0, correction=correction)
        mistakes += [
            (post.mean(0), "This is the mean over the examples of the posterior variances exp(logvar), i.e. how "
             "uncertain q(z|x) is, not how much its MEAN moves with x. The activity is the variance over the examples "
             "of the posterior means: a collapsed unit has exp(logvar) = 1 (the prior) and a constant mean."),
            (var_mu + post.mean(0), "This is the variance of z itself (variance of the means plus the mean of the "
             "posterior variances, the law of total variance); the activity counts only the first part, the variance "
             "over the examples of the posterior means mu."),
            (lv.var(dim=0, correction=correction), "This is the variance of logvar over the examples; the activity "
             "is the variance of the posterior MEANS mu."),
            (var_mu.sqrt(), "This is the standard deviation of each column of mu; the activity is its variance "
             "(the threshold 0.01 applies to the variance)."),
            (post.var(dim=0, correction=correction), "This is the variance over the examples of the posterior "
             "variances; the activity is the variance of the posterior means mu."),
        ]
    mistakes += [
        (m.pow(2).mean(0), "This is the mean of mu squared, not its variance: subtract each column's mean over the "
         "examples first (a unit whose mean sits at 0.8 for every input is inactive)."),
        (m.mean(0), "This is the mean of each column of mu; the activity is its variance over the examples."),
        (m.mean(0).pow(2), "This is the square of each column's mean; the activity is the variance over the examples "
         "of mu, the mean of the squared deviations."),
        ((m - m.mean()).pow(2).mean(0), "mu is centred on the mean of ALL its entries (mu.mean() without dim); "
         "centre each column on its own mean over the examples, mu.mean(dim=0)."),
        ((m - m.mean(1, keepdim=True)).pow(2).mean(0), "mu is centred on each EXAMPLE's mean over the units "
         "(mean over dim 1); centre each column on its mean over the examples, mu.mean(dim=0)."),
        ((m - m.mean(0)).pow(2).sum(0) / m.shape[1], "The sum of squared deviations is divided by d, the number of "
         "units; the variance over the examples divides by the number of examples N (or N - 1)."),
    ]
    if m.shape[0] == m.shape[1]:  # N == d: a variance over the units has the activity's shape
        mistakes += [(m.var(dim=1, correction=c), "This is the variance of each row (example) over the latent "
                      "units; the activity of unit u is the variance over the examples of column u: reduce over "
                      "dim 0.") for c in (0, 1)]
    return mistakes


def _check_activity(activity: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, name: str, dtype: torch.dtype,
                    probe: str, follows_logvar: bool = False) -> None:
    """``follows_logvar``: the student's activity changed when only logvar did."""
    __tracebackhide__ = True
    expect_dtype(activity, dtype, f"{name}(...)[0] (the activity)")
    m = mu.to(F64)
    population, unbiased = m.var(dim=0, correction=0), m.var(dim=0, correction=1)
    got = activity.detach().to(F64)
    if got.shape == unbiased.shape and _near(got, unbiased, dtype):
        return  # dividing by N - 1 is fine: with a data set of examples it changes nothing that matters
    mistakes = _activity_mistakes(mu, logvar)
    if follows_logvar and not any(_near(got, wrong, dtype, floor=1e-5) for wrong, _ in mistakes):
        raise CheckFailed(f"{name}: your activity changes when only logvar changes (same mu, other posterior "
                          "variances): the activity is the variance over the examples of the posterior MEANS and "
                          "depends on mu alone (sampled z, or anything with exp(logvar) in it, mixes in the "
                          f"posterior variances) [probe: {probe}]")
    expect_close(activity, population, f"{name}(...)[0] (the activity)", what="activity",
                 known_mistakes=mistakes, dtype=dtype, probe=probe, axes=("unit",))


def _count_hint(runs: list[tuple[int, torch.Tensor, float, int]]) -> str:
    """Name the slip that explains the wrong counts of every probe: ``runs`` holds
    ``(count, own activity, threshold, d)``."""
    candidates = [
        (lambda a, t, d: int((a > 0.01).sum()), "the threshold argument is ignored (0.01 is only its default)"),
        (lambda a, t, d: int((a <= t).sum()), "that is the number of INACTIVE units; count those with activity > "
         "threshold"),
        *[(rule, "compare the activity (a variance) with the threshold itself, not a square or square root of "
           "either (the threshold 0.01 is on the variance scale)") for rule in (
            lambda a, t, d: int((a.clamp(min=0).sqrt() > t).sum()),
            lambda a, t, d: int((a > math.sqrt(t)).sum()),
            lambda a, t, d: int((a.pow(2) > t).sum()))],
        (lambda a, t, d: d, "that is the number of all units; count those with activity > threshold"),
    ]
    for rule, hint in candidates:
        if all(got == rule(own, threshold, d) for got, own, threshold, d in runs):
            return hint
    return ""


def active_units(fn) -> None:
    """Check ``fn(mu, logvar, threshold=0.01) -> (activity (d,), count)``.

    The activity of unit ``u`` is the variance over the examples of ``mu[:, u]``
    (population or unbiased, both pass); the count is the number of units whose activity
    is strictly above the threshold. Probes: float64 and float32 means with offsets and
    one constant (collapsed) unit, two examples only, as many examples as units, a
    threshold other than 0.01, and thresholds equal to one unit's own activity (where
    ``>=`` and ``>`` differ). The activity must not change when only ``logvar`` does, the
    inputs must come back unchanged and nothing may be drawn at random.
    """
    __tracebackhide__ = True
    name = "active_units"
    g = torch.Generator().manual_seed(61)
    cases = [  # (probe, n, column scales, posterior variances, dtype, thresholds)
        ("float64, 2000 examples, d = 5, one unit constant over the data", 2000,
         [0.0, 0.05, 0.3, 1.0, 2.0], [1.0, 0.9, 0.3, 0.05, 0.01], F64, [0.01, 0.5]),
        ("float32, 300 examples, d = 8, as an encoder gives", 300,
         [1.5, 0.0, 0.02, 0.2, 0.7, 0.0, 1.1, 0.08], [0.02, 1.0, 0.95, 0.4, 0.1, 1.0, 0.05, 0.7], F32, [0.01, 0.1]),
        ("float64, two examples only", 2, [0.5, 2.0, 0.01], [0.5, 0.1, 1.0], F64, [0.01]),
        ("float64, as many examples as units (N = d = 6)", 6, [0.0, 0.03, 0.3, 0.8, 1.5, 3.0],
         [1.0, 0.9, 0.5, 0.2, 0.1, 0.02], F64, [0.01, 0.2]),
    ]
    counts = []  # (count, own activity, threshold, d, probe)
    for probe, n, scales, post_vars, dtype, thresholds in cases:
        mu, logvar = _activity_case(n, scales, post_vars, dtype, g)
        other_logvar = (logvar.to(F64) + torch.linspace(-1.0, 1.5, mu.shape[1], dtype=F64)
                        + 0.5 * torch.randn(mu.shape, generator=g, dtype=F64)).to(dtype)
        d = mu.shape[1]
        copies = snapshot(mu, logvar)
        for threshold in thresholds:
            result = call(fn, name, mu, logvar, threshold=threshold)
            expect_unchanged([mu, logvar], copies, ["mu", "logvar"], name)
            activity, count = _split(result, name, d, n)
            again = call(fn, name, mu, logvar, threshold=threshold, seed=1)
            if isinstance(again, (tuple, list)) and len(again) == 2 and isinstance(again[0], torch.Tensor) \
                    and not torch.equal(again[0].detach(), activity.detach()):
                raise CheckFailed(f"{name} gives a different activity for the same inputs: it must use the posterior "
                                  "means mu only; it samples nothing (a variance of sampled z mixes in the posterior "
                                  "variances)")
            moved = call(fn, name, mu, other_logvar, threshold=threshold)
            follows_logvar = (isinstance(moved, (tuple, list)) and len(moved) == 2
                              and isinstance(moved[0], torch.Tensor) and moved[0].shape == activity.shape
                              and not torch.equal(moved[0].detach(), activity.detach()))
            at = f"{probe}, threshold {threshold}"
            _check_activity(activity, mu, logvar, name, dtype, at, follows_logvar)
            counts.append((_as_count(count, name), activity.detach().to(F64), threshold, d, at,
                           mu.to(F64).var(dim=0, correction=0)))
    wrong = [run for run in counts if run[0] != int((run[1] > run[2]).sum())]
    if wrong:
        got, own, threshold, d, at, reference = wrong[0]
        expected = int((own > threshold).sum())
        hint = _count_hint([run[:4] for run in counts]) or \
            f"your activities are {', '.join(f'{v:.3g}' for v in own.tolist())}"
        raise CheckFailed(f"{name}: counted {got} active units, expected {expected} "
                          f"(activities above {threshold}): {hint} [probe: {at}; reference activities "
                          f"{', '.join(f'{v:.3g}' for v in reference.tolist())}]")
    # Thresholds equal to one unit's own activity: the unit is not active (strict inequality).
    a = torch.tensor([0.0, 0.0625, 0.125, 0.5, 1.5], dtype=F64)  # columns +-a: mean 0, variance a^2
    mu = torch.stack([a, -a]).repeat(16, 1) + torch.tensor([0.3, -0.2, 0.0, 1.0, 0.5], dtype=F64)
    logvar = torch.zeros_like(mu)
    for unit in (2, 3):
        activity, _ = _split(call(fn, name, mu, logvar, threshold=0.01), name, 5, 32)
        _check_activity(activity, mu, logvar, name, F64, "columns of two values")
        threshold = float(activity[unit])
        _, count = _split(call(fn, name, mu, logvar, threshold=threshold), name, 5, 32)
        got = _as_count(count, name)
        expected = int((activity.detach() > threshold).sum())
        if got == expected + 1:
            raise CheckFailed(f"{name}: with the threshold equal to unit {unit}'s own activity ({threshold:.6g}), "
                              f"you count {got} active units, {expected} expected: the comparison must be strict "
                              "(activity > threshold, as Burda et al. define active units), not >=")
        if got != expected:
            raise CheckFailed(f"{name}: with the threshold {threshold:.6g} (unit {unit}'s activity) you count {got} "
                              f"active units, expected {expected} [probe: columns of two values]")
    passed(name, f"activities and counts right on {len(cases) + 1} probes (float32, two examples, N = d, a "
                 "collapsed unit, "
                 "thresholds equal to an activity)")


# ---- the free-bits KL ----------------------------------------------------------------------


def _kl_terms(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``(B, d)``: the KL of each example and dimension, in float64 and connected to the inputs."""
    m, lv = mu.to(F64), logvar.to(F64)
    return 0.5 * (lv.exp() + m.pow(2) - 1 - lv)


def _free_bits_case(b: int, d: int, lam: float, dtype: torch.dtype, g: torch.Generator):
    """Means and log-variances whose dimensions sit on both sides of ``lam``: some with every
    example above, some with every example below, and some (the ones that tell the per-example
    clamp apart) with a few examples far above and the rest at the prior."""
    mu = torch.randn(b, d, generator=g, dtype=F64) * torch.linspace(0.05, 2.0, d, dtype=F64)
    logvar = 0.3 * torch.randn(b, d, generator=g, dtype=F64)
    mixed = torch.arange(d) % 3 == 0
    spikes = torch.rand(b, d, generator=g, dtype=F64) < 0.3
    mu = torch.where(mixed & spikes, 2.0 + torch.rand(b, d, generator=g, dtype=F64), torch.where(mixed, 0.02 * mu, mu))
    logvar = torch.where(mixed & ~spikes, 0.02 * logvar, logvar)
    if b > 1:  # one example sure to be a spike in every mixed dimension, one sure not to be
        mu[0, mixed], mu[1, mixed], logvar[1, mixed] = 2.5, 0.0, 0.0
    return mu.to(dtype).requires_grad_(), logvar.to(dtype).requires_grad_()


def _collapsed_case(dtype: torch.dtype):
    """A nearly collapsed code: every dimension's batch-averaged KL is below lambda = 0.5 and
    so is their sum, while one example is far from the prior in dimension 0."""
    g = torch.Generator().manual_seed(3)
    mu = 0.02 * torch.randn(20, 4, generator=g, dtype=F64)
    logvar = 0.02 * torch.randn(20, 4, generator=g, dtype=F64)
    mu[0, 0] = 2.0
    return mu.to(dtype).requires_grad_(), logvar.to(dtype).requires_grad_()


def _near(actual: torch.Tensor, reference: torch.Tensor, dtype: torch.dtype, floor: float = 0.0) -> bool:
    """``actual`` within the dtype policy's tolerance (at least ``floor``) of ``reference``."""
    actual, reference = actual.detach().to(F64), reference.detach().to(F64)
    return bool(torch.isfinite(actual).all()) and float((actual - reference).abs().max()) <= \
        ATOL[dtype] + max(RTOL[dtype], floor) * float(reference.abs().max())


def _merged(mistakes: list[tuple[torch.Tensor, str]]) -> list[tuple[torch.Tensor, str]]:
    """Known mistakes that give the same value on a probe share one message naming each."""
    groups: list[tuple[torch.Tensor, list[str]]] = []
    for value, hint in mistakes:
        for other, hints in groups:
            if torch.allclose(value.detach(), other.detach(), rtol=1e-9, atol=1e-12):
                hints.append(hint)
                break
        else:
            groups.append((value, [hint]))
    return [(value, hints[0] if len(hints) == 1 else "On this probe your value fits more than one slip: "
             + " Or: ".join(hints)) for value, hints in groups]


def _free_bits_mistakes(mu: torch.Tensor, logvar: torch.Tensor, lam: float) -> list[tuple[torch.Tensor, str]]:
    kl = _kl_terms(mu, logvar)  # (B, d)
    per_dim = kl.mean(0)  # (d,)
    d = kl.shape[1]
    return [
        (kl.clamp(min=lam).sum(1).mean(), "The clamp is applied to each example's KL of each dimension, then "
         "averaged: free bits clamp the BATCH-AVERAGED KL of each dimension, max(lambda, mean over the batch of "
         "KL_ij). (Per example, a dimension that is far from the prior for a few examples and at the prior for the "
         "rest still gets lambda for every example.)"),
        (per_dim.sum().clamp(min=lam), "The clamp is applied to the whole KL (the sum over dimensions); free bits "
         "clamp each dimension's KL separately: the sum over j of max(lambda, KL_j)."),
        (per_dim.sum().clamp(min=d * lam), "The whole KL is clamped at d * lambda; free bits clamp each dimension "
         "separately (sum over j of max(lambda, KL_j)), so an informative dimension cannot pay for a collapsed one."),
        (kl.sum(1).clamp(min=lam).mean(), "Each example's total KL is clamped; free bits clamp the batch-averaged "
         "KL of each DIMENSION: the sum over j of max(lambda, KL_j)."),
        (per_dim.sum(), "lambda is ignored: this is the plain KL. Replace each dimension's batch-averaged KL by "
         "max(lambda, KL_j)."),
        (per_dim.clamp(max=lam).sum(), "The clamp is from above (min(lambda, KL_j)); free bits clamp from below, "
         "max(lambda, KL_j): below lambda nats a dimension costs a constant."),
        ((per_dim - lam).clamp(min=0).sum(), "This is sum_j max(0, KL_j - lambda), the free-bits term minus the "
         "constant d * lambda: it trains the same, but its value is not the objective of Kingma et al.; return "
         "sum_j max(lambda, KL_j)."),
        (kl.sum(0).clamp(min=lam).sum(), "Each dimension's KL is SUMMED over the batch; average it over the batch "
         "before the clamp (lambda is in nats per example)."),
        (per_dim.clamp(min=lam).mean(), "The clamped KLs are averaged over the dimensions; sum them."),
        (kl.mean(1).clamp(min=lam).mean(), "The KL is averaged over the dimensions of each example and then "
         "clamped; clamp the batch average of each dimension, then sum over the dimensions."),
        (torch.maximum(per_dim, torch.full_like(per_dim, lam)).sum() * kl.shape[0], "The result is multiplied by "
         "the batch size: return the batch-average objective, sum_j max(lambda, KL_j)."),
        (kl.sum(0).clamp(min=lam).sum() / kl.shape[0], "Each dimension's KL is summed over the batch, clamped and "
         "only then divided by the batch size: that clamps at lambda / B. Average over the batch first, then clamp "
         "at lambda."),
        (per_dim.clamp(min=lam * math.log(2)).sum(), "lambda is converted from bits to nats (times log 2); lambda "
         "is already in nats, the unit of the KL: clamp at lambda itself (the name 'free bits' is only a name)."),
        (per_dim.clamp(min=lam / math.log(2)).sum(), "lambda is converted from nats to bits (divided by log 2); "
         "lambda and the KL are both in nats: clamp at lambda itself."),
        ((per_dim / math.log(2)).clamp(min=lam).sum(), "The KL is converted to bits (divided by log 2); lambda and "
         "the KL are both in nats: no conversion."),
        ((kl.sum(0) / d).clamp(min=lam).sum(), "Each dimension's KL is summed over the batch and divided by d, the "
         "number of dimensions; average it over the batch (divide by the batch size B)."),
        (per_dim.clamp(min=lam / d).sum(), "lambda is divided by d: lambda is the free allowance of EACH dimension, "
         "so every dimension is clamped at lambda itself."),
        *_kl_slips(mu, logvar, lam),
    ]


def _kl_slips(mu: torch.Tensor, logvar: torch.Tensor, lam: float) -> list[tuple[torch.Tensor, str]]:
    """Chapter 2's slips in the closed-form KL, made per dimension and then clamped as they should be."""
    m, lv = mu.to(F64), logvar.to(F64)
    columns = [kl_variants(m[:, j : j + 1], lv[:, j : j + 1]) for j in range(m.shape[1])]  # per dimension: (B,) each
    slips = []
    for k, (_, hint) in enumerate(columns[0]):
        if "don't average it" in hint:
            continue  # one dimension at a time: a mean over dimensions is the sum
        per_dim = torch.stack([column[k][0] for column in columns], dim=1).mean(0)  # (d,)
        slips.append((per_dim.clamp(min=lam).sum(), f"In the KL of each dimension: {hint[0].lower()}{hint[1:]}"))
    return slips


def free_bits_kl(fn) -> None:
    """Check ``fn(mu, logvar, lam)``: ``sum_j max(lam, mean_i KL_ij)``, a scalar.

    Probes: float64 batches with dimensions whose KL is above lambda for every example,
    below it for every example, and above it for a few examples only (where clamping per
    example differs); lambda = 0 (the plain KL), a lambda above every dimension's KL (all
    gradients vanish), a batch of one and float32. Values, dtype and the gradients with
    respect to mu and logvar (a dimension below lambda gets none). The result must be a
    tensor; it may lack a graph only where every dimension is below lambda (a constant).
    """
    __tracebackhide__ = True
    name = "free_bits_kl"
    g = torch.Generator().manual_seed(29)
    cases = [  # (probe, batch, d, lambda, dtype)
        ("float64, a nearly collapsed code: every dimension and the total below lambda = 0.5", 20, 4, 0.5, F64),
        ("float64, 16 examples, d = 6, lambda = 1, one dimension above lambda", 16, 6, 1.0, F64),
        ("float64, 40 examples, d = 9, lambda = 0.5", 40, 9, 0.5, F64),
        ("float64, lambda = 0 (the plain KL)", 10, 4, 0.0, F64),
        ("float64, lambda = 50, above every dimension's KL", 10, 4, 50.0, F64),
        ("float64, a batch of one example", 1, 5, 0.3, F64),
        ("float32, 64 examples, d = 12, lambda = 0.25", 64, 12, 0.25, F32),
    ]
    runs = []
    for probe, b, d, lam, dtype in cases:
        mu, logvar = _collapsed_case(dtype) if "collapsed" in probe else _free_bits_case(b, d, lam, dtype, g)
        per_dim = _kl_terms(mu, logvar).mean(0)
        if lam > 0 and (per_dim - lam).abs().min() < 1e-3:
            raise AssertionError("checker probe has a dimension at lambda")  # pragma: no cover - a probe design error
        copies = snapshot(mu, logvar)
        out = call(fn, name, mu, logvar, lam)
        expect_unchanged([mu, logvar], copies, ["mu", "logvar"], name)
        if isinstance(out, numbers.Real) and not isinstance(out, bool):
            raise CheckFailed(f"{name} returned a Python {type(out).__name__}, not a tensor: a number has no gradient "
                              "(Python's builtin max or sum over floats, .item() and float(...) give one; with "
                              "lambda above every dimension's KL, max(lam, KL_j) is the float lam everywhere). "
                              "Use torch operations, e.g. .clamp(min=lam) or torch.maximum, and return a tensor "
                              f"[probe: {probe}]")
        out = expect_tensor(out, name)
        if tuple(out.shape) == (d,):
            raise CheckFailed(f"{name} returned shape ({d},), one value per latent dimension: sum the clamped "
                              "dimensions into one number for the loss")
        if tuple(out.shape) == (b,) and b != d:
            raise CheckFailed(f"{name} returned shape ({b},), one value per example: free bits act on the "
                              "batch-averaged KL of each dimension, and the result is one number")
        expect_shape(out, (), name, "one number, the free-bits KL term of the loss")
        if not out.requires_grad and not (lam > 0 and bool((per_dim < lam).all())):  # else a constant is right
            raise CheckFailed(f"{name}: no gradient flows back to mu and logvar; keep every step a differentiable "
                              "torch operation (no .item(), float(...), numpy or torch.tensor(...) rebuilding)")
        expect_dtype(out, dtype, name)
        expected = per_dim.clamp(min=lam).sum()
        runs.append((probe, lam, dtype, mu, logvar, per_dim, out, expected, _free_bits_mistakes(mu, logvar, lam)))
    # Values: a slip is named when it explains the values of every probe, not one probe only
    # (on a single probe several slips can give the same number).
    wrong = [run for run in runs if not _near(run[6], run[7], run[2])]
    if wrong:
        probe, lam, dtype, mu, logvar, per_dim, out, expected, mistakes = wrong[0]
        for k, (_, hint) in enumerate(mistakes):
            if all(_near(run[6], run[8][k][0], run[2], floor=1e-5) for run in runs):
                raise CheckFailed(f"{name}: wrong value. {hint} [probe: {probe}]")
        expect_close(out, expected, name, what="value", known_mistakes=_merged(mistakes), dtype=dtype, probe=probe)
    for probe, lam, dtype, mu, logvar, per_dim, out, expected, _ in runs:
        weights = torch.ones((), dtype=F64)
        got = student_gradient(out, [mu, logvar], weights, name)
        want = gradient(expected, [mu, logvar], weights)
        if lam > 0:
            below = per_dim < lam
            for grad, input_name in zip(got, ("mu", "logvar")):
                if grad is not None and below.any() and grad.detach()[:, below].abs().max() > 0:
                    dims = ", ".join(str(j) for j in torch.nonzero(below).flatten().tolist())
                    raise CheckFailed(f"{name}: dimensions {dims} have a batch-averaged KL below lambda, yet your "
                                      f"result has a gradient with respect to {input_name} there; the clamp "
                                      f"max(lambda, KL_j) must cut it (a constant has no gradient) [probe: {probe}]")
        expect_gradients(got, want, ["mu", "logvar"], name, dtype=dtype, probe=probe,
                         axes=[("example", "dimension"), ("example", "dimension")])
    passed(name, f"values and gradients match sum_j max(lambda, KL_j) on {len(cases)} probes (lambda 0 to 50, "
                 "dimensions above, below and across lambda, a batch of one, float32)")


# ---- the cyclical schedule -----------------------------------------------------------------


def _reference_weight(step: int, total: int, cycles: int, ratio: float) -> float:
    period = total // cycles  # the probes with exact values have total a multiple of cycles
    return min(1.0, (step % period) / (period * ratio))


def _as_weight(value: object, name: str, step: int, total: int) -> float:
    __tracebackhide__ = True
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise CheckFailed(f"{name}({step}, {total}, ...) returned a tensor of shape {tuple(value.shape)}; "
                              "it returns one number, the weight at that step")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise CheckFailed(f"{name}({step}, {total}, ...) should return a number (a float), got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise CheckFailed(f"{name}({step}, {total}, ...) returned {value}")
    return value


def _curve(fn, name: str, total: int, cycles: int, ratio: float) -> list[float]:
    __tracebackhide__ = True
    return [_as_weight(call(fn, name, t, total, cycles=cycles, ratio=ratio), name, t, total) for t in range(total)]


TOLERANCE = 1e-6  # beta is at most 1: float32 arithmetic (a float32 tensor, np.float32) is close enough


def _schedule_slips(t: int, total: int, cycles: int, ratio: float) -> list[tuple[float, str]]:
    """Beta at step ``t`` as each known slip gives it (for totals that are multiples of ``cycles``)."""
    period = total // cycles
    tau = t % period
    ramp = period * ratio
    return [
        (min(1.0, t / (ratio * total)), "this is a linear warm-up over the whole run: beta never returns to 0. The "
         "cyclical schedule restarts from 0 at the start of each of the `cycles` cycles (use the position of the "
         "step inside its cycle, step % period)."),
        (min(1.0, tau / (ratio * total)), "each cycle's ramp lasts `ratio` of the WHOLE run; it lasts `ratio` of "
         "one cycle: beta = 1 after ratio * period steps of the cycle."),
        (min(1.0, ((t + 1) % period) / ramp), "the steps are 0-based: beta is 0 at step 0 and at the first step of "
         "each cycle (step % period == 0); yours is shifted by one step."),
        (min(1.0, (tau + 1) / ramp), "beta must be exactly 0 at step 0 and at the first step of each cycle (the "
         "position in the cycle, not the position plus one)."),
        (min(1.0, (t % (period + 1)) / ramp), "the cycles are one step too long (period + 1): with total_steps a "
         "multiple of cycles, each cycle has exactly total_steps // cycles steps."),
        (min(1.0, (t % max(period - 1, 1)) / ramp), "the cycles are one step too short (period - 1): each cycle "
         "has total_steps / cycles steps."),
        (tau / ramp if tau < ramp else 0.0, "after the ramp beta drops to 0; it stays at 1 for the rest of the "
         "cycle."),
        (max(0.0, 1.0 - tau / ramp), "beta falls from 1 to 0; it RISES from 0 to 1 over the first `ratio` of each "
         "cycle."),
        (tau / ramp, "beta goes above 1: stop the ramp at 1 (min(1, ...))."),
        (tau / period, "ratio is ignored: beta rises over the whole cycle; it reaches 1 after ratio * period "
         "steps."),
        (min(1.0, tau / (ramp - 1)) if ramp > 1 else 1.0, "beta reaches 1 one step early: the ramp lasts ratio * "
         "period steps, beta = (step % period) / (ratio * period)."),
        (min(1.0, tau / (ramp + 1)), "beta reaches 1 one step late: the ramp lasts ratio * period steps, beta = "
         "(step % period) / (ratio * period)."),
        (0.0 if tau < ramp else 1.0, "beta jumps from 0 to 1 instead of rising linearly: during the ramp it is "
         "the fraction of the ramp done, (step % period) / (ratio * period), not 0 (an integer division //, an "
         "int(...) or a comparison step % period < ratio * period gives only 0 or 1)."),
        (1.0 if tau < ramp else 0.0, "beta is 1 during the ramp and 0 after it: a square wave. It rises linearly "
         "from 0 to 1 over the first `ratio` of each cycle and then stays at 1."),
        (min(1.0, tau / (period * 0.5)), "the ratio argument is ignored (0.5 is only its default)."),
        (min(1.0, (t % (total // 4)) / ((total // 4) * ratio)), "the cycles argument is ignored (4 is only its "
         "default)."),
        (min(1.0, tau / (period * (1 - ratio))) if ratio < 1 else math.inf, "the ramp lasts `1 - ratio` of the "
         "cycle; it lasts `ratio` of it (beta = 1 after ratio * period steps)."),
        (min(1.0, tau / period * ratio), "ratio multiplies the position in the cycle; the ramp LASTS ratio * "
         "period steps: divide by it."),
        (min(1.0, tau / ratio), "the position in the cycle is divided by ratio alone; divide by the length of the "
         "ramp in steps, ratio * period."),
        (min(1.0, (t % cycles) / ramp), "the position in the cycle is step % period (period = total_steps / "
         "cycles steps), not step % cycles."),
    ]


def _schedule_hint(curves: list[tuple[int, int, float, list[float]]]) -> str:
    """Name the slip that explains every curve ``(total, cycles, ratio, betas)`` seen so far."""
    slips = [[_schedule_slips(t, total, cycles, ratio) for t in range(total)] for total, cycles, ratio, _ in curves]
    for k, (_, hint) in enumerate(slips[0][0]):
        if all(abs(got[t] - at[t][k][0]) <= TOLERANCE for (*_, got), at in zip(curves, slips)
               for t in range(len(got))):
            return hint
    first = next(k for k, (total, cycles, ratio, got) in enumerate(curves)
                 if any(abs(got[t] - _reference_weight(t, total, cycles, ratio)) > TOLERANCE for t in range(total)))
    fits = [hint for k, (_, hint) in enumerate(slips[first][0])
            if all(abs(curves[first][3][t] - slips[first][t][k][0]) <= TOLERANCE for t in range(curves[first][0]))]
    if len(fits) == 1:  # one slip explains the first wrong curve (not the others): name it, unambiguous there
        return fits[0]
    got = [beta for *_, betas in curves for beta in betas]
    if min(got) < 0:
        return (f"beta goes below 0 (down to {min(got):.4g}): the position of a step inside its cycle is in "
                "[0, period), counted from the cycle's first step (cycles are counted from 0).")
    if max(got) > 1:
        return f"beta goes above 1 (up to {max(got):.4g}): it is a weight in [0, 1]."
    return ""


def cyclical_kl_weight(fn) -> None:
    """Check ``fn(step, total_steps, cycles=4, ratio=0.5) -> float`` (Fu et al. 2019).

    The whole curve of each probe: with ``total_steps`` a multiple of ``cycles``, beta
    must be ``min(1, (step % period) / (ratio * period))`` with ``period = total_steps //
    cycles`` (to 1e-6, so float32 arithmetic passes); probes with M = 4, R = 0.5 (the
    chapter's), ratios 0.3, 1, 0.25 and 0.75, one cycle (the linear warm-up), one step per
    cycle. A wrong curve is named by the slip that explains every probe seen. With ``total_steps`` not a
    multiple of ``cycles`` the cycle boundaries may be rounded either way: the checker asks
    for beta = 0 at step 0, values in [0, 1], exactly ``cycles`` restarts near the
    boundaries ``c * total_steps / cycles``, and a restart that comes back to (near) 0.
    """
    __tracebackhide__ = True
    name = "cyclical_kl_weight"
    exact = [  # (total, cycles, ratio)
        (400, 4, 0.5), (40, 4, 0.5), (60, 5, 0.3), (12, 3, 1.0), (100, 1, 0.25), (36, 2, 0.75), (6, 6, 0.5),
    ]
    curves, wrong = [], None  # wrong: (index in curves, step, yours, expected) at the first wrong probe
    for total, cycles, ratio in exact:
        try:
            got = _curve(fn, name, total, cycles, ratio)
        except CheckFailed:
            if wrong is None:
                raise
            break  # a later probe crashes (e.g. ratio = 1): name the slip from the curves seen so far
        curves.append((total, cycles, ratio, got))
        want = [_reference_weight(t, total, cycles, ratio) for t in range(total)]
        bad = [t for t in range(total) if abs(got[t] - want[t]) > TOLERANCE]
        if bad and wrong is None:
            wrong = (len(curves) - 1, bad[0], got[bad[0]], want[bad[0]])
    if wrong is not None:
        k, t, yours, expected = wrong
        total, cycles, ratio, got = curves[k]
        probe = f"total_steps = {total}, cycles = {cycles}, ratio = {ratio}"
        hint = _schedule_hint(curves)
        if not hint:
            starts = [c * (total // cycles) for c in range(1, cycles)]
            if starts and all(got[s] > TOLERANCE for s in starts) and got[0] <= TOLERANCE:
                hint = f"beta never returns to 0 at the start of a cycle (steps {starts})"
        raise CheckFailed(f"{name}: wrong beta at step {t}: yours {yours:.6g}, expected {expected:.6g}"
                          + (f". {hint[0].upper()}{hint[1:]}" if hint else "") + f" [probe: {probe}]")
    # totals that are not multiples of cycles: any rounding of the boundaries passes
    for total, cycles, ratio in ((10, 4, 0.5), (101, 4, 0.5), (50, 3, 0.4)):
        got = _curve(fn, name, total, cycles, ratio)
        probe = f"total_steps = {total}, cycles = {cycles}, ratio = {ratio} (not a multiple)"
        if got[0] != 0.0:
            raise CheckFailed(f"{name}: beta at step 0 is {got[0]:.6g}; it starts at exactly 0 [probe: {probe}]")
        if min(got) < 0 or max(got) > 1:
            raise CheckFailed(f"{name}: beta leaves [0, 1] (from {min(got):.4g} to {max(got):.4g}) [probe: {probe}]")
        drops = [t for t in range(1, total) if got[t] < got[t - 1]]
        ideal = [c * total / cycles for c in range(1, cycles)]
        period = total / cycles
        if len(drops) != cycles - 1 or any(abs(t - s) > 1 for t, s in zip(drops, ideal)):
            extra = (" (a period of total_steps // cycles steps leaves a short extra cycle at the end when "
                     "total_steps is not a multiple of cycles; split the steps into exactly `cycles` cycles, e.g. "
                     "cycle = step * cycles // total_steps)") if len(drops) >= cycles else ""
            raise CheckFailed(f"{name}: beta restarts at steps {drops}; with {cycles} cycles of about {period:g} "
                              f"steps it restarts {cycles - 1} times, near steps "
                              f"{', '.join(f'{s:g}' for s in ideal)}{extra} [probe: {probe}]")
        if any(got[t] > 1.0 / (ratio * period) + 1e-9 for t in drops):
            raise CheckFailed(f"{name}: after a restart beta is {max(got[t] for t in drops):.4g}; each cycle starts "
                              f"(near) 0 [probe: {probe}]")
    passed(name, f"the whole curve is right on {len(exact)} probes (M = 4 and R = 0.5, one cycle, ratio 1, one step "
                 "per cycle) and 3 probes where the cycles cannot be equal")


EXERCISES = {"active_units": active_units, "free_bits_kl": free_bits_kl, "cyclical_kl_weight": cyclical_kl_weight}
