"""Checkers of chapter 10's exercises: the Renyi bound and one CAVI update."""

from __future__ import annotations

import math

import torch

from ..renyi import renyi_bound as _renyi_reference
from .core import (
    F32,
    F64,
    CheckFailed,
    call,
    expect_close,
    expect_deterministic,
    expect_dtype,
    expect_shape,
    expect_tensor,
    expect_unchanged,
    expect_values_and_gradients,
    passed,
    snapshot,
)

RENYI_HINTS = [
    ("division by zero",
     "At alpha = 1 the factor 1 / (1 - alpha) divides by zero: alpha = 1 is the limit, the mean of log_w over the "
     "samples; return that case separately."),
    ("must be Tensor, not",
     "torch.logsumexp and torch.exp need a tensor; (1 - alpha) is a Python number, so multiply the tensor log_w by "
     "it, and use math.log for log K."),
]

OVERFLOW_HINT = (
    "exp of log-weights of this size underflows to 0 (or overflows to inf) before the average is taken: take the "
    "log of the mean of exponentials with torch.logsumexp(..., dim=0) - log K, which subtracts the largest term "
    "first."
)
MODERATE_HINT = (
    "These log-weights are moderate, so nothing overflows: look for a division by zero (the prefactor is "
    "1 / (1 - alpha), finite at every alpha but 1) or the log of zero."
)
ALPHA_ONE_HINT = (
    "At alpha = 1 the formula is 0/0: return its limit, the mean of log_w over the samples (the ELBO estimate)."
)
SPREAD_HINT = (
    "The examples of this batch have log-weights hundreds of nats apart (as a VAE's examples do): a single shift for "
    "the whole batch, such as log_w.max(), still leaves the lower examples' exponentials underflowing to 0. Shift "
    "each example (column) by its own largest term, as torch.logsumexp(..., dim=0) does."
)
NAN_GRADIENT_HINT = (
    " The values are right but the gradient is not finite. torch.where (or a mask) evaluates both branches, and "
    "a NaN or inf in the branch not taken still reaches the gradient (0 * NaN = NaN): choose the branch with a "
    "Python if, or make the branch not taken finite."
)


def _alpha_one_mistakes(log_w: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    """Outputs ``(B,)`` of typical wrong values at ``alpha = 1``, with a hint for each."""
    K = log_w.shape[0]
    return [
        (torch.logsumexp(log_w, dim=0) - math.log(K),
         "At alpha = 1 the bound is the mean of log_w over the samples (the ELBO); logsumexp(log_w) - log K is "
         "its value at alpha = 0, the importance-weighted bound."),
        (torch.zeros_like(log_w[0]),
         "At alpha = 1 the bound is not 0: the 0/0 of the formula has a limit, the mean of log_w over the samples "
         "(the ELBO estimate)."),
        (log_w.sum(0), "At alpha = 1 the limit is the MEAN of log_w over the samples, not their sum."),
        (log_w.max(0).values,
         "The largest log-weight is the limit alpha -> -infinity; at alpha = 1 the bound is the mean of log_w over "
         "the samples."),
    ]


def _renyi_mistakes(log_w: torch.Tensor, alpha: float) -> list[tuple[torch.Tensor, str]]:
    """Outputs ``(B,)`` of typical wrong implementations at ``alpha != 1``, with a hint for each."""
    K = log_w.shape[0]
    t = 1.0 - alpha
    lse = lambda v: torch.logsumexp(v, dim=0)  # noqa: E731
    right = (lse(t * log_w) - math.log(K)) / t
    mistakes = [
        ((lse(log_w) - math.log(K)) / t,
         "The exponent lacks its factor: the weights are raised to the power (1 - alpha), exp((1 - alpha) log w_k), "
         "before they are averaged."),
        (-right,
         "The prefactor has the wrong sign: it is 1 / (1 - alpha), so that alpha -> 1 gives the ELBO and alpha = 0 "
         "the importance-weighted bound."),
        ((lse(-t * log_w) - math.log(K)) / t,
         "The exponent has the wrong sign: the weights are raised to the power (1 - alpha), not (alpha - 1)."),
        (lse(t * log_w) / t,
         "That is the log of the SUM of the weights: the bound takes their mean, so subtract log K inside the bracket."),
        (lse(t * log_w) / t - math.log(K),
         "log K belongs inside the bracket: 1 / (1 - alpha) multiplies logsumexp(...) - log K, both terms."),
        ((lse(t * log_w) - math.log(K)) * t,
         "The bracket is DIVIDED by (1 - alpha), not multiplied by it."),
        (log_w.mean(0),
         "That is the mean of log_w, the value at alpha = 1 only: at any other alpha the samples are weighed by "
         "exp((1 - alpha) log w_k)."),
        ((lse(-t * log_w) - math.log(K)) / -t,
         "Both the power and the prefactor use alpha - 1 here, which gives the bound at 2 - alpha: with "
         "t = 1 - alpha, the bound is (logsumexp(t log w) - log K) / t."),
        ((t * lse(log_w) - math.log(K)) / t,
         "(1 - alpha) multiplies each log-weight INSIDE the logsumexp (the weights are raised to that power before "
         "they are averaged), not the logsumexp."),
        ((lse(t * log_w) - math.log(log_w.numel())) / t,
         "log K counts the samples (the rows of log_w, dim 0), not all the entries of log_w."),
    ]
    mistakes.append(((lse(alpha * log_w) - math.log(K)) / t,
                     "The exponent is (1 - alpha) log w_k, not alpha log w_k."))
    if log_w.shape[1] != K:
        mistakes.append(((lse(t * log_w) - math.log(log_w.shape[1])) / t,
                         "log K counts the samples (the rows of log_w, dim 0), not the examples of the batch."))
    if alpha != 0:
        mistakes.append(((lse(t * log_w) - math.log(K)) / alpha, "The prefactor is 1 / (1 - alpha), not 1 / alpha."))
    if log_w.shape[0] == log_w.shape[1]:  # a square probe: reducing over the wrong axis keeps the shape
        mistakes.append(((torch.logsumexp(t * log_w, dim=1) - math.log(K)) / t,
                         "log_w is (K samples, B examples): average over the samples, dim 0 (down each column), not "
                         "over the examples of the batch."))
    return mistakes


def _renyi_cases(g: torch.Generator) -> list[tuple[str, torch.dtype, torch.Tensor, float]]:
    """(probe, dtype, log_w (K, B) in float64, alpha); the first probes have moderate log-weights (|log w| < 30)."""
    cases = []
    base = 4.0 * torch.randn(12, 5, generator=g, dtype=F64) - 3.0
    for alpha in (0.3, 0.0, 2.0, -1.0, 0.5, 0.9, 0.999):
        cases.append((f"K = 12 samples, B = 5 examples, alpha = {alpha}", F64, base, alpha))
    cases.append(("alpha = 1.0, the limit", F64, base, 1.0))
    cases.append(("alpha = 1 given as the integer 1", F64, base, 1))
    cases.append(("alpha = 0 given as the integer 0", F64, base, 0))
    square = 3.0 * torch.randn(6, 6, generator=g, dtype=F64)
    cases.append(("as many samples as examples (K = B = 6), alpha = 0.5", F64, square, 0.5))
    cases.append(("one sample per example (K = 1), alpha = 0.5", F64, 3.0 * torch.randn(1, 4, generator=g, dtype=F64), 0.5))
    cases.append(("a batch of one (B = 1), alpha = 0.3", F64, 3.0 * torch.randn(20, 1, generator=g, dtype=F64), 0.3))
    mnist = -110.0 + 5.0 * torch.randn(64, 8, generator=g, dtype=F64)
    for alpha in (0.0, -1.0, 0.5, 1.0):
        cases.append((f"float32 log-weights around -110, as a VAE gives on MNIST, alpha = {alpha}", F32, mnist, alpha))
    cases.append(("log-weights around -1000 (a larger image), alpha = 0", F64,
                  -1000.0 + 30.0 * torch.randn(16, 4, generator=g, dtype=F64), 0.0))
    cases.append(("log-weights around +800, alpha = -0.5", F64, 800.0 + 30.0 * torch.randn(16, 4, generator=g, dtype=F64), -0.5))
    levels = torch.tensor([-60.0, -150.0, -250.0, -380.0], dtype=F64)  # one level per example: MNIST's spread
    cases.append((SPREAD_PROBE, F32, levels + 3.0 * torch.randn(32, 4, generator=g, dtype=F64), 0.5))
    return cases


SPREAD_PROBE = "float32, examples with log-weights from -60 to -380 in one batch, alpha = 0.5"


def renyi_bound(fn) -> None:
    """Check ``fn(log_w, alpha)``: the Renyi bound of each example from ``(K, B)`` log-weights, ``(B,)``.

    Several alphas (0, 1 as float and int, negative, above 1, near 1), a square ``(K, B)``,
    ``K = 1`` and ``B = 1``, realistic log-weights in float32 (around -110, and examples
    hundreds of nats apart in one batch, which a single shift for the whole batch does not
    survive) and very large ones in float64; values against :func:`course_vae.renyi_bound`
    and gradients with respect to ``log_w`` (the exercise asks for a differentiable bound).
    "Near 1" is ``alpha = 0.999``, where the textbook formula is accurate in float64; closer
    to 1 (``1 - 1e-12``) its cancellation is inherent, so a plain ``alpha == 1`` branch is
    accepted.
    """
    __tracebackhide__ = True
    name = "renyi_bound"
    g = torch.Generator().manual_seed(20)
    cases = _renyi_cases(g)
    for probe, dtype, values, alpha in cases:
        log_w = values.to(dtype).requires_grad_()
        K, B = log_w.shape
        copies = snapshot(log_w)
        result = call(fn, name, log_w, alpha, hints=RENYI_HINTS)
        if isinstance(result, (int, float)) and not isinstance(result, bool):
            raise CheckFailed(f"{name} returned a Python number: return the (B,) tensor itself, one value per example "
                              f"(no .item() or float(...)), so that it keeps its gradient [probe: {probe}]")
        out = expect_tensor(result, name)
        expect_unchanged([log_w], copies, ["log_w"], name)
        expect_shape(out, (B,), name, f"one value per example: log_w is (K = {K} samples, B = {B} examples), so "
                                      "average over the samples, dim 0")
        expect_deterministic(fn, name, (log_w, alpha), out, "the bound is a deterministic function of the weights")
        if float(alpha) == 1.0:
            mistakes, hint = _alpha_one_mistakes(log_w.detach().to(F64)), ALPHA_ONE_HINT
        else:
            mistakes = _renyi_mistakes(log_w.detach().to(F64), float(alpha))
            hint = OVERFLOW_HINT if values.abs().max() > 50 else MODERATE_HINT
        hint = SPREAD_HINT if probe == SPREAD_PROBE else hint
        reference = _renyi_reference(log_w.to(F64), alpha)
        if not out.requires_grad or not torch.isfinite(out.detach()).all():
            # values first: a constant (e.g. zeros at alpha = 1) has no gradient, but its value is the news
            expect_close(out, reference, name, known_mistakes=mistakes, dtype=dtype, probe=probe, axes=("example",),
                         nonfinite_hint=hint)
        try:
            expect_values_and_gradients(out, reference, [log_w], ["log_w"], name, g, known_mistakes=mistakes,
                                        dtype=dtype, probe=probe, axes=("example",),
                                        input_axes=[("sample", "example")], nonfinite_hint=hint)
        except CheckFailed as failure:
            if "NaN or infinite gradient" not in str(failure):
                raise
            raise CheckFailed(f"{failure}{NAN_GRADIENT_HINT}") from None
    passed(name, f"values and gradients match the reference on {len(cases)} probes (alpha from -1 to 2, alpha = 0 "
                 "and 1 exactly, K = 1, B = 1, log-weights of -110 and examples from -60 to -380 in float32, of "
                 "-1000 and +800)")


# ---- one CAVI update ----------------------------------------------------------------------------------


def _phi_reference(x: torch.Tensor, m: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
    x, m, s2 = x.to(F64), m.to(F64), s2.to(F64)
    d = x.shape[1]
    return torch.softmax(x @ m.T - 0.5 * ((m * m).sum(1) + d * s2), dim=1)


def _phi_mistakes(x: torch.Tensor, m: torch.Tensor, s2: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    d = x.shape[1]
    score = x @ m.T - 0.5 * ((m * m).sum(1) + d * s2)
    soft = lambda v, dim=1: torch.softmax(v, dim=dim)  # noqa: E731
    return [
        (soft(x @ m.T - 0.5 * (m * m).sum(1)),
         "E_q[mu_k^T mu_k] is |m_k|^2 + D s2_k, not |m_k|^2: the variance of q(mu_k) enters the update (treating "
         "mu_k as if it were exactly m_k, the softmax of -|x_i - m_k|^2 / 2, leaves it out)."),
        (soft(x @ m.T - 0.5 * ((m * m).sum(1) + s2)),
         "E_q[mu_k^T mu_k] = |m_k|^2 + D s2_k: each of the D coordinates of mu_k contributes its variance s2_k."),
        (soft(x @ m.T - ((m * m).sum(1) + d * s2)), "The quadratic term has a factor 1/2: -(|m_k|^2 + D s2_k) / 2."),
        (soft(-x @ m.T - 0.5 * ((m * m).sum(1) + d * s2)), "The cross term x_i . m_k enters with a plus sign."),
        (soft(x @ m.T + 0.5 * ((m * m).sum(1) + d * s2)), "The quadratic term enters with a minus sign."),
        (soft(score, dim=0),
         "phi_i is a distribution over the K components of data point i: normalize each row (dim=1), not each column."),
        (score.exp(), "phi_ik is PROPORTIONAL to exp(...): normalize each row to sum to 1 (torch.softmax(..., dim=1))."),
        (torch.log_softmax(score, dim=1),
         "Those are the logs of the responsibilities (log_softmax): return the probabilities, each row summing to 1."),
        (score.exp() / score.exp().sum(),
         "phi_i is a distribution over the components of data point i: normalize each row to sum to 1, not the "
         "whole matrix."),
        (soft(x @ m.T - 0.5 * (m * m).sum(1) - d * s2),
         "The factor 1/2 multiplies the whole of E_q[mu_k^T mu_k] = |m_k|^2 + D s2_k, the variance term included."),
        (soft(x @ m.T - (m * m).sum(1) - 0.5 * d * s2),
         "The factor 1/2 multiplies the whole of E_q[mu_k^T mu_k] = |m_k|^2 + D s2_k, |m_k|^2 included."),
        (soft(-(x.unsqueeze(1) - m).pow(2).sum(-1) - 0.5 * d * s2),
         "The squared distance -|x_i - m_k|^2 carries the factor 1/2 as well: the exponent is "
         "x_i . m_k - (|m_k|^2 + D s2_k) / 2, up to terms of x_i alone."),
        (soft(x @ m.T),
         "The quadratic term -(|m_k|^2 + D s2_k) / 2 is missing: it differs from component to component, so it does "
         "not cancel in the normalization (only -|x_i|^2 / 2 does)."),
        (soft(x @ m.T - 0.5 * d * s2),
         "|m_k|^2 is missing from E_q[mu_k^T mu_k] = |m_k|^2 + D s2_k: sum m * m over the coordinates (dim=1), one "
         "value per component."),
        (soft(x @ m.T - 0.5 * (m * m).sum(1) + 0.5 * d * s2),
         "The variance enters with a minus sign, like |m_k|^2: the exponent has -(|m_k|^2 + D s2_k) / 2."),
        (soft(x @ m.T - 0.5 * ((m * m).sum(1) + d * s2.sqrt())),
         "s2 is already the variance of each coordinate of q(mu_k): E_q[mu_k^T mu_k] uses D s2_k, not its square "
         "root."),
        (soft(x @ m.T - 0.5 * ((m * m).sum(1) + x.shape[0] * s2)),
         "D is the number of coordinates of a point, x.shape[1], not the number of data points."),
        (soft(x @ m.T - 0.5 * ((m * m).sum(1) + m.shape[0] * s2)),
         "D is the number of coordinates of a point, x.shape[1], not the number of components."),
    ]


def _phi_cases(g: torch.Generator) -> list[tuple[str, torch.dtype, torch.Tensor, torch.Tensor, torch.Tensor]]:
    cases = []
    for n, k, d in [(7, 3, 1), (5, 4, 2), (6, 2, 3), (1, 3, 2), (4, 1, 2)]:
        cases.append((f"N = {n} points, K = {k} components, D = {d}", F64, 2 * torch.randn(n, d, generator=g, dtype=F64),
                      2 * torch.randn(k, d, generator=g, dtype=F64), 0.1 + torch.rand(k, generator=g, dtype=F64)))
    cases.append(("points and means far apart (x . m_k up to 2500), as in a first sweep", F64,
                  torch.tensor([[-50.0], [0.0], [48.0], [51.0]], dtype=F64), torch.tensor([[-49.0], [2.0], [50.0]], dtype=F64),
                  torch.tensor([1.0, 0.5, 2.0], dtype=F64)))
    cases.append(("float32, N = 40, K = 5, D = 2", F32, 3 * torch.randn(40, 2, generator=g, dtype=F64),
                  3 * torch.randn(5, 2, generator=g, dtype=F64), 0.05 + 0.5 * torch.rand(5, generator=g, dtype=F64)))
    return cases


def cavi_phi_update(fn) -> None:
    """Check ``fn(x, m, s2)``: the CAVI update of the responsibilities, ``(N, K)``.

    ``x (N, D)``, ``m (K, D)``, ``s2 (K,)``; ``D`` = 1, 2, 3, ``K = 1`` and ``N = 1``,
    far-apart points (the unnormalized exponentials overflow), float32. Values and dtype
    only: CAVI takes no gradients, and the exercise does not ask for a differentiable
    update, so an answer computed under ``torch.no_grad()`` or through NumPy passes.
    """
    __tracebackhide__ = True
    name = "cavi_phi_update"
    g = torch.Generator().manual_seed(21)
    cases = _phi_cases(g)
    for probe, dtype, x_values, m_values, s2_values in cases:
        x, m, s2 = x_values.to(dtype), m_values.to(dtype), s2_values.to(dtype)  # as CAVI calls it: no gradients
        n, k = x.shape[0], m.shape[0]
        copies = snapshot(x, m, s2)
        out = expect_tensor(call(fn, name, x, m, s2), name)
        expect_unchanged([x, m, s2], copies, ["x", "m", "s2"], name)
        expect_shape(out, (n, k), name, f"one responsibility per data point and component, (N = {n}, K = {k})")
        expect_dtype(out, dtype, name)
        expect_close(
            out, _phi_reference(x, m, s2), name,
            known_mistakes=_phi_mistakes(x.to(F64), m.to(F64), s2.to(F64)), dtype=dtype, probe=probe,
            axes=("data point", "component"),
            nonfinite_hint="exp of the unnormalized log-responsibilities overflows here: normalize with torch.softmax "
                           "(or subtract each row's maximum before exp).")
    passed(name, f"values match the update on {len(cases)} probes (D = 1 to 3, K = 1, N = 1, far-apart points, "
                 "float32)")


EXERCISES = {"renyi_bound": renyi_bound, "cavi_phi_update": cavi_phi_update}

__all__ = ["CheckFailed", "EXERCISES", "cavi_phi_update", "renyi_bound"]
