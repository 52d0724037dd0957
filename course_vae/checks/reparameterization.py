"""Checkers of chapter 3's exercises: the reparameterization trick and the score-function estimator."""

from __future__ import annotations

import math

import torch
from scipy import stats

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
    passed,
    snapshot,
    student_gradient,
)

# Thresholds of the statistical tests. The checker seeds the global RNG for every call, so
# a given implementation always gets the same verdict; the thresholds sit 6 or more
# standard errors away from what independent N(0, 1) noise gives, so that correct
# implementations that draw their noise differently (randn_like, float32 noise, normal_,
# rsample) all pass. tests/test_checks_reparameterization.py measures the margins.
MOMENT_SIGMAS = 6.0  # mean and spread: within 6 standard errors
MAX_CORRELATION = 0.02  # |correlation| of noise across coordinates, examples and calls (s.e. 0.0016 to 0.0032)
MAX_KS = 0.006  # Kolmogorov-Smirnov distance of the pooled noise from N(0, 1) (null: about 0.0014 +- 0.0004)
TAILS = ((2.0, 0.05), (3.0, 0.2))  # P(|eps| > t) within this relative error of the Gaussian's (>= 6.5 s.e.)


def ks_distance(eps: torch.Tensor) -> float:
    """Kolmogorov-Smirnov distance between the empirical CDF of ``eps`` and N(0, 1)."""
    return float(stats.kstest(eps.detach().flatten().to(F64).numpy(), "norm").statistic)


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of two tensors' entries (1 if one of them is constant)."""
    value = float(torch.corrcoef(torch.stack([a.flatten().to(F64), b.flatten().to(F64)]))[0, 1])
    return value if math.isfinite(value) else 1.0


def _coordinate(j: int, mu: torch.Tensor, logvar: torch.Tensor) -> str:
    return f"coordinate {j} (mu = {float(mu[j]):.3g}, logvar = {float(logvar[j]):.3g})"


def _expect_moments(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, name: str, probe: str) -> None:
    """Per-coordinate mean and spread of ``z (n, d)`` drawn with parameters ``mu, logvar (d,)``."""
    __tracebackhide__ = True
    z = z.detach().to(F64)
    n = len(z)
    std = (0.5 * logvar).exp()
    bad = ~torch.isfinite(z).all(0)
    if bad.any():
        j = int(bad.nonzero()[0])
        raise CheckFailed(
            f"{name} returned NaN or infinite samples for {_coordinate(j, mu, logvar)}: a log-variance may be "
            f"negative or large; the variance exp(logvar) is always positive and finite [probe: {probe}]"
        )
    z_mean, z_std = z.mean(0), z.std(0)
    if n > 1 and bool((z_std == 0).all()):
        raise CheckFailed(f"{name}: every example got the same sample (no spread across the batch): draw "
                          f"independent noise for every entry, shaped like mu [probe: {probe}]")
    mean_ok = (z_mean - mu).abs() <= MOMENT_SIGMAS * std / math.sqrt(n)
    std_ok = (z_std / std - 1).abs() <= MOMENT_SIGMAS / math.sqrt(2 * n)
    if bool(mean_ok.all()) and bool(std_ok.all()):
        return
    close = lambda a, b: bool(((a / b - 1).abs() <= MOMENT_SIGMAS / math.sqrt(2 * n) + 1e-12).all())  # noqa: E731
    if bool(mean_ok.all()):
        if close(z_std, logvar.exp()):
            diagnosis = "the spread equals exp(logvar): that is the variance sigma^2, the standard deviation is its square root"
        elif close(z_std, logvar.abs().clamp_min(1e-12)):
            diagnosis = "the spread equals |logvar|: logvar is the log of the variance, not a standard deviation"
        else:
            j = int((~std_ok).nonzero()[0])
            diagnosis = (f"the samples have the wrong spread: for {_coordinate(j, mu, logvar)} their standard "
                         f"deviation is {float(z_std[j]):.4g}, but sigma = exp(logvar / 2) = {float(std[j]):.4g}")
    elif bool((((z_mean - mu) / std - 0.5).abs() < 0.02).all()):
        diagnosis = ("the noise has mean 0.5 instead of 0: torch.rand draws uniformly from [0, 1); the standard "
                     "normal is torch.randn")
    elif bool(((z_std - mu.abs()).abs() < 0.05 * mu.abs().clamp_min(1)).all()):
        diagnosis = "the samples' mean looks like sigma and their spread like |mu|: are mu and sigma swapped around eps?"
    else:
        j = int((~mean_ok).nonzero()[0])
        diagnosis = (f"the samples have the wrong mean: for {_coordinate(j, mu, logvar)} it is "
                     f"{float(z_mean[j]):.4g} over {n} draws")
    raise CheckFailed(f"{name}: {diagnosis} [probe: {probe}]")


def _expect_independent_gaussian_noise(eps: torch.Tensor, name: str, probe: str) -> None:
    """``eps (n, d)`` = (z - mu) / sigma must look like independent N(0, 1) draws."""
    __tracebackhide__ = True
    n, d = eps.shape
    if bool(((eps.mean(0)).abs() < 1e-9).all()) and bool(((eps.std(0) - 1).abs() < 1e-9).all()):
        raise CheckFailed(f"{name}: the noise has mean exactly 0 and spread exactly 1 over the batch, so it was "
                          "standardized (or paired) across the examples; each example needs its own independent draw "
                          f"[probe: {probe}]")
    for j in range(d):
        for k in range(j + 1, d):
            c = _correlation(eps[:, j], eps[:, k])
            if abs(c) > MAX_CORRELATION:
                shared = " (one draw shared by the coordinates of an example?)" if c > 0.9 else ""
                raise CheckFailed(
                    f"{name}: the noise of coordinates {j} and {k} is correlated (correlation {c:.3f} over {n} "
                    f"examples){shared}; every coordinate needs its own independent draw, shaped like mu [probe: {probe}]"
                )
    for label, a, b in (("neighbouring examples", eps[:-1], eps[1:]),
                        ("examples i and i + n/2", eps[: n // 2], eps[n // 2 : 2 * (n // 2)])):
        c = _correlation(a, b)
        if abs(c) > MAX_CORRELATION:
            raise CheckFailed(f"{name}: the noise of {label} is correlated (correlation {c:.3f}); every example needs "
                              f"its own independent draw [probe: {probe}]")
    ks = ks_distance(eps)
    for t, allowed in TAILS:
        expected = float(torch.erfc(torch.tensor(t / math.sqrt(2), dtype=F64)))
        observed = float((eps.abs() > t).to(F64).mean())
        if abs(observed / expected - 1) > allowed:
            raise CheckFailed(
                f"{name}: the noise is not Gaussian: {observed:.3%} of the standardized samples (z - mu) / sigma lie "
                f"beyond +-{t:g}, where N(0, 1) has {expected:.3%} (clipped or rescaled noise gets the mean and spread "
                f"right but not the tails); draw eps from the standard normal [probe: {probe}]"
            )
    if ks > MAX_KS:
        raise CheckFailed(
            f"{name}: the noise is not Gaussian: the distribution of the standardized samples (z - mu) / sigma is "
            f"{ks:.3f} away from N(0, 1) (Kolmogorov-Smirnov distance; independent normal draws give about "
            f"0.001 here); draw eps from the standard normal (torch.randn_like) [probe: {probe}]"
        )


def _expect_reparameterized_gradients(fn_out, mu_leaf, logvar_leaf, mu, logvar, name: str, dtype, probe: str) -> None:
    """``d sum(w z) / d mu = w`` and ``d sum(w z) / d logvar = w (z - mu) / 2`` for random weights ``w``."""
    __tracebackhide__ = True
    z = fn_out
    w = (torch.rand(z.shape, generator=torch.Generator().manual_seed(5), dtype=F64) + 0.5).to(z.dtype)
    grads = student_gradient(z, [mu_leaf, logvar_leaf], w, name)
    missing = [n for n, gr in zip(("mu", "logvar"), grads) if gr is None]
    if missing:
        raise CheckFailed(f"{name}: no gradient flows back to {missing[0]}; build z from mu and logvar with "
                          f"differentiable operations [probe: {probe}]")
    # The expected gradients, reduced to the leaves' shapes (they may have been expanded).
    expect_mu = torch.autograd.grad(mu, mu_leaf, w.to(mu.dtype), retain_graph=True)[0]
    half_noise = (z.detach().to(F64) - mu.detach().to(F64)) / 2
    expect_logvar = torch.autograd.grad(logvar, logvar_leaf, (w.to(F64) * half_noise).to(logvar.dtype), retain_graph=True)[0]
    grad_mu, grad_logvar = grads
    if not torch.allclose(grad_mu.to(F64), expect_mu.to(F64), rtol=1e-5, atol=1e-6 * float(expect_mu.abs().max())):
        raise CheckFailed(f"{name}: dz/dmu should be 1 for every sample: z must move one-for-one with mu "
                          f"[probe: {probe}]")
    axes = ("example", "coordinate") if mu_leaf.dim() == 2 else ("example",)
    expect_close(grad_logvar, expect_logvar, name, what="gradient with respect to logvar (it should be "
                 "sigma * eps / 2 = (z - mu) / 2 for each sample: check how sigma is computed from logvar)",
                 dtype=dtype, probe=probe, axes=axes)


def reparameterize(fn) -> None:
    """Check ``fn(mu, logvar)``: a differentiable draw from ``N(mu, diag(exp(logvar)))``.

    The noise is the student's own, so the checker tests what holds for every correct
    draw: per-coordinate mean and spread; that the standardized noise
    ``(z - mu) / sigma`` is independent across coordinates, examples and calls, and
    Gaussian in shape (tails and Kolmogorov-Smirnov distance); and the gradients
    ``dz/dmu = 1`` and ``dz/dlogvar = (z - mu) / 2``. Probes: ``(n, 4)`` float64, 1-D
    float32 and expanded 1-D inputs as in the exercise notebook, and extreme
    log-variances in float32.
    """
    __tracebackhide__ = True
    name = "reparameterize"
    n = 100_000
    mu_values = torch.tensor([1.5, -2.0, 0.3, 0.0], dtype=F64)
    logvar_values = torch.tensor([0.4, 1.2, -2.5, 2.0], dtype=F64)
    probe = f"{n} examples of 4 coordinates with mu = {mu_values.tolist()}, logvar = {logvar_values.tolist()}"
    mu = mu_values.expand(n, 4).clone().requires_grad_()
    logvar = logvar_values.expand(n, 4).clone().requires_grad_()
    copies = snapshot(mu, logvar)
    z = expect_tensor(call(fn, name, mu, logvar, seed=0), name)
    expect_unchanged([mu, logvar], copies, ["mu", "logvar"], name)
    expect_shape(z, (n, 4), name, "z has the shape of mu")
    expect_dtype(z, F64, name)
    if not z.requires_grad:
        raise CheckFailed(
            f"{name}: z does not depend differentiably on mu and logvar, so no gradient can reach the encoder; "
            "draw standard normal noise first and build z from it with differentiable operations"
        )
    _expect_moments(z, mu_values, logvar_values, name, probe)
    eps = (z.detach() - mu_values) / (0.5 * logvar_values).exp()
    _expect_independent_gaussian_noise(eps, name, probe)
    _expect_reparameterized_gradients(z, mu, logvar, mu, logvar, name, F64, probe)

    z2 = expect_tensor(call(fn, name, mu, logvar, seed=1), name)
    if z2.shape == z.shape:
        if torch.equal(z2.detach(), z.detach()):
            raise CheckFailed(
                f"{name} returned the same draw on two calls: it resets the random generator (a torch.manual_seed(...) "
                "or a torch.Generator seeded inside the function), so a VAE would see the same noise at every step. "
                "Draw fresh noise on each call from torch's global generator (torch.randn_like)."
            )
        c = _correlation(eps, (z2.detach() - mu_values) / (0.5 * logvar_values).exp())
        if abs(c) > MAX_CORRELATION:
            raise CheckFailed(f"{name}: the draws of two calls are correlated (correlation {c:.3f}); each call must "
                              "draw fresh, independent noise")

    # 1-D inputs, as in the exercise notebook: a float32 leaf, and a float64 scalar expanded to K draws.
    m = 4_000
    one_d = [
        ("float32 1-D mu and logvar of 4000 entries (as in the exercise notebook)", F32,
         torch.full((m,), 1.5, dtype=F32, requires_grad=True), torch.full((m,), math.log(0.25), dtype=F32, requires_grad=True)),
        ("a float64 scalar mu and logvar expanded to 4000 draws, mu.expand(K) (as in the exercise notebook)", F64,
         torch.tensor(-0.5, dtype=F64, requires_grad=True), torch.tensor(0.3, dtype=F64, requires_grad=True)),
    ]
    for probe, dtype, mu_leaf, logvar_leaf in one_d:
        mu1, logvar1 = mu_leaf.expand(m), logvar_leaf.expand(m)
        z1 = expect_tensor(call(fn, name, mu1, logvar1, seed=2), name)
        expect_shape(z1, (m,), name, f"z has the shape of mu, here 1-D: {probe}")
        expect_dtype(z1, dtype, name)
        _expect_moments(z1[:, None], mu1[:1].detach().to(F64), logvar1[:1].detach().to(F64), name, probe)
        _expect_reparameterized_gradients(z1, mu_leaf, logvar_leaf, mu1, logvar1, name, dtype, probe)

    # Extreme log-variances in float32: a clamp of logvar, or a form that overflows, shows here.
    k = 20_000
    mu_x = torch.tensor([0.0, 2.0, -1.0, 50.0], dtype=F64)
    logvar_x = torch.tensor([-12.0, -5.0, 3.0, 9.0], dtype=F64)
    probe = (f"float32, {k} examples with logvar = {logvar_x.tolist()} (tiny and huge variances) and mu = "
             f"{mu_x.tolist()}; a clamp of logvar shows here")
    mu = mu_x.to(F32).expand(k, 4).clone().requires_grad_()
    logvar = logvar_x.to(F32).expand(k, 4).clone().requires_grad_()
    z3 = expect_tensor(call(fn, name, mu, logvar, seed=3), name)
    expect_shape(z3, (k, 4), name, "z has the shape of mu")
    expect_dtype(z3, F32, name)
    _expect_moments(z3, mu_x, logvar_x, name, probe)
    _expect_reparameterized_gradients(z3, mu, logvar, mu, logvar, name, F32, probe)
    passed(name, f"{n} draws have the right mean and spread, independent Gaussian noise (across coordinates, "
                 "examples and calls), exact dz/dmu and dz/dlogvar; 1-D, float32 and extreme log-variances too")


def _score_reference(f, mu: torch.Tensor, log_sigma: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    sigma = log_sigma.exp()
    values = f(z)
    score_mu = (z - mu) / sigma**2
    score_log_sigma = (z - mu).pow(2) / sigma**2 - 1
    return torch.stack([(values * score_mu).mean(), (values * score_log_sigma).mean()])


def score_function_gradient(fn) -> None:
    """Check ``fn(f, mu, log_sigma, z)``: the REINFORCE estimate of the gradient of
    ``E_{N(mu, sigma^2)}[f(z)]`` with respect to ``(mu, log_sigma)``, from the samples ``z``, shape ``(2,)``.

    Three functions and sample sets (one with a single sample), in float64 and float32.
    """
    __tracebackhide__ = True
    name = "score_function_gradient"
    g = torch.Generator().manual_seed(12)
    cases = [
        ("f(z) = (z - 2)^2, 7 samples", lambda z: (z - 2.0) ** 2, 0.5, math.log(0.8), 7, F64),
        ("f(z) = sigmoid(3 z), 20 samples", lambda z: torch.sigmoid(3 * z), -1.0, math.log(1.5), 20, F64),
        ("f(z) = z^3 - z, 3 samples", lambda z: z.pow(3) - z, 0.3, math.log(0.4), 3, F64),
        ("f(z) = exp(z / 2), a single sample", lambda z: torch.exp(z / 2), 0.2, math.log(2.0), 1, F64),
        ("f(z) = sigmoid(3 z), 50 float32 samples", lambda z: torch.sigmoid(3 * z), -0.5, 0.0, 50, F32),
    ]
    for probe, f, mu_value, log_sigma_value, k, dtype in cases:
        mu = torch.tensor(mu_value, dtype=dtype)
        log_sigma = torch.tensor(log_sigma_value, dtype=dtype)
        z = (mu.to(F64) + log_sigma.to(F64).exp() * torch.randn(k, generator=g, dtype=F64)).to(dtype)
        args = (f, mu.clone(), log_sigma.clone(), z.clone())
        out = expect_tensor(call(fn, name, *args), name)
        expect_unchanged(args[1:], [mu, log_sigma, z], ["mu", "log_sigma", "z"], name)
        expect_shape(out, (2,), name, "two numbers: the estimated derivatives with respect to mu and to log_sigma")
        expect_deterministic(fn, name, (f, mu.clone(), log_sigma.clone(), z.clone()), out,
                             "the estimate uses the samples z it is given, and draws none of its own")
        expect_dtype(out, dtype, name)
        mu64, ls64, z64 = mu.to(F64), log_sigma.to(F64), z.to(F64)
        expected = _score_reference(f, mu64, ls64, z64)
        sigma = ls64.exp()
        values = f(z64)
        s_mu, s_ls = (z64 - mu64) / sigma**2, (z64 - mu64).pow(2) / sigma**2 - 1
        baseline = values - values.mean()
        expect_close(
            out,
            expected,
            name,
            known_mistakes=[
                (torch.stack([s_mu.mean(), s_ls.mean()]), "The estimate is the average score alone: each score must be multiplied by f(z)."),
                (torch.stack([(values * (z64 - mu64) / sigma).mean(), (values * ((z64 - mu64).pow(2) / sigma**3 - 1 / sigma)).mean()]), "Those look like derivatives with respect to sigma, or with a sigma missing: differentiate log q with respect to mu and to log_sigma."),
                (torch.stack([(values * s_mu).mean(), (values * ((z64 - mu64).pow(2) / sigma**3 - 1 / sigma)).mean()]), "The second entry is the derivative with respect to sigma; the exercise asks for log_sigma (multiply by sigma)."),
                (torch.stack([(values * s_mu).mean(), (values * (z64 - mu64).pow(2) / sigma**2).mean()]), "The score with respect to log_sigma lacks its constant term (a score averages to 0 under q)."),
                (torch.stack([(values * (z64 - mu64) / sigma).mean(), (values * ((z64 - mu64).pow(2) / sigma - 1)).mean()]), "exp(log_sigma) is the standard deviation s; the variance in the score is its square."),
                (torch.stack([(values * (z64 - mu64) / ls64**2).mean(), (values * ((z64 - mu64).pow(2) / ls64**2 - 1)).mean()]), "log_sigma is the log of the standard deviation: s = exp(log_sigma)."),
                (torch.stack([(baseline * s_mu).mean(), (baseline * s_ls).mean()]), "A baseline was subtracted from f(z); the exercise asks for the plain estimator (chapter 3's baseline is a separate improvement)."),
                (-expected, "The sign is flipped."),
                (torch.stack([(values * s_mu).sum(), (values * s_ls).sum()]), "Average over the samples; don't sum."),
                (expected.flip(0), "The two entries are in the wrong order: first the derivative with respect to mu, then log_sigma."),
            ],
            dtype=dtype,
            probe=probe,
            axes=lambda i: ("the derivative with respect to mu", "the derivative with respect to log_sigma")[i[0]],
        )
    passed(name, f"matches the score-function estimate on {len(cases)} functions and sample sets (one sample, float32)")


EXERCISES = {"reparameterize": reparameterize, "score_function_gradient": score_function_gradient}
