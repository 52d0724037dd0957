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
         "That is the mean of log_w, the value at alpha = 1, for every alpha: the other values weigh the samples by "
         "exp((1 - alpha) log w_k)."),
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
    return cases


def renyi_bound(fn) -> None:
    """Check ``fn(log_w, alpha)``: the Renyi bound of each example from ``(K, B)`` log-weights, ``(B,)``.

    Several alphas (0, 1 as float and int, negative, above 1, near 1), a square ``(K, B)``,
    ``K = 1`` and ``B = 1``, realistic log-weights in float32 and very large ones in
    float64; values against :func:`course_vae.renyi_bound` and gradients with respect to
    ``log_w``.
    """
    __tracebackhide__ = True
    name = "renyi_bound"
    g = torch.Generator().manual_seed(20)
    cases = _renyi_cases(g)
    for probe, dtype, values, alpha in cases:
        log_w = values.to(dtype).requires_grad_()
        K, B = log_w.shape
        copies = snapshot(log_w)
        out = expect_tensor(call(fn, name, log_w, alpha, hints=RENYI_HINTS), name)
        expect_unchanged([log_w], copies, ["log_w"], name)
        expect_shape(out, (B,), name, f"one value per example: log_w is (K = {K} samples, B = {B} examples), so "
                                      "average over the samples, dim 0")
        expect_deterministic(fn, name, (log_w, alpha), out, "the bound is a deterministic function of the weights")
        if float(alpha) == 1.0:
            mistakes, hint = [], ALPHA_ONE_HINT
        else:
            mistakes = _renyi_mistakes(log_w.detach().to(F64), float(alpha))
            hint = OVERFLOW_HINT if values.abs().max() > 50 else MODERATE_HINT
        reference = _renyi_reference(log_w.to(F64), alpha)
        if not torch.isfinite(out.detach()).all():  # before the gradient: a constant inf has none, NaN is the news
            expect_close(out, reference, name, dtype=dtype, probe=probe, axes=("example",), nonfinite_hint=hint)
        expect_values_and_gradients(out, reference, [log_w], ["log_w"], name, g, known_mistakes=mistakes, dtype=dtype,
                                    probe=probe, axes=("example",), input_axes=[("sample", "example")],
                                    nonfinite_hint=hint)
    passed(name, f"values and gradients match the reference on {len(cases)} probes (alpha from -1 to 2, alpha = 0 "
                 "and 1 exactly, K = 1, B = 1, log-weights of -110 in float32 and of -1000 and +800)")


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
    far-apart points (the unnormalized exponentials overflow), float32; gradients with
    respect to ``m`` and ``s2``.
    """
    __tracebackhide__ = True
    name = "cavi_phi_update"
    g = torch.Generator().manual_seed(21)
    cases = _phi_cases(g)
    for probe, dtype, x_values, m_values, s2_values in cases:
        x = x_values.to(dtype)
        m, s2 = m_values.to(dtype).requires_grad_(), s2_values.to(dtype).requires_grad_()
        n, k = x.shape[0], m.shape[0]
        copies = snapshot(x, m, s2)
        out = expect_tensor(call(fn, name, x, m, s2), name)
        expect_unchanged([x, m, s2], copies, ["x", "m", "s2"], name)
        expect_shape(out, (n, k), name, f"one responsibility per data point and component, (N = {n}, K = {k})")
        expect_values_and_gradients(
            out, _phi_reference(x, m, s2), [m, s2], ["m", "s2"], name, g,
            known_mistakes=_phi_mistakes(x.to(F64), m.detach().to(F64), s2.detach().to(F64)), dtype=dtype, probe=probe,
            axes=("data point", "component"), input_axes=[("component", "coordinate"), ("component",)],
            nonfinite_hint="exp of the unnormalized log-responsibilities overflows here: normalize with torch.softmax "
                           "(or subtract each row's maximum before exp).")
    passed(name, f"values and gradients (m, s2) match the update on {len(cases)} probes (D = 1 to 3, K = 1, N = 1, "
                 "far-apart points, float32)")


EXERCISES = {"renyi_bound": renyi_bound, "cavi_phi_update": cavi_phi_update}

__all__ = ["CheckFailed", "EXERCISES", "cavi_phi_update", "renyi_bound"]
