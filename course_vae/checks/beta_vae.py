"""Checkers of chapter 5's exercise: the beta-weighted VAE loss and the MIG metric."""

from __future__ import annotations

import numbers

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import mutual_info_score

from ..metrics import mig_report
from ..vae import VAEOutput
from .core import (
    F32,
    F64,
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
from .vae import LARGE_LOGITS, VAE_HINTS, _case


def beta_vae_loss(fn) -> None:
    """Check ``fn(x, out, beta)``: ``{"loss": mean(recon + beta * kl), "recon": mean recon, "kl": mean kl}``.

    Probes, as for chapter 4's ``vae_loss``: float64 batches with beta = 4, 0.5 and 1 (a
    batch of one among them), and float32 batches with binary-like pixels and with logits
    up to +-30 and extreme log-variances. Values of the three entries (``kl`` without
    beta), the dtype of the loss, and its gradients.
    """
    __tracebackhide__ = True
    name = "beta_vae_loss"
    g = torch.Generator().manual_seed(5)
    cases = [  # (probe, batch, d, dtype, logit scale, binary pixels, extreme values, beta)
        ("float64, 6 images, d = 3, beta = 4", 6, 3, F64, 2.0, False, False, 4.0),
        ("float64, 4 images, d = 10, beta = 0.5", 4, 10, F64, 2.0, False, False, 0.5),
        ("float64, a batch of one image, beta = 1", 1, 5, F64, 2.0, False, False, 1.0),
        ("float32, 8 images with mostly black and white pixels, d = 10, beta = 8", 8, 10, F32, 4.0, True, False, 8.0),
        ("float32 logits from -30 to -15 and 15 to 30 and logvar from -12 to 8, beta = 16", 6, 8, F32, 1.0, True, True, 16.0),
    ]
    for probe, batch, d, dtype, scale, binary, extreme, beta in cases:
        x, logits, mu, logvar, z = _case(batch, d, dtype, g, logit_scale=scale, binary=binary, extreme=extreme)
        for t in (logits, mu, logvar):
            t.requires_grad_()
        out = VAEOutput(logits=logits, mu=mu, logvar=logvar, z=z)
        args = (x.clone(), out, beta)
        copies = snapshot(args[0], logits, mu, logvar, z)
        terms = call(fn, name, *args, hints=VAE_HINTS)
        expect_unchanged([args[0], logits, mu, logvar, z], copies, ["x", "out.logits", "out.mu", "out.logvar", "out.z"], name)
        if not isinstance(terms, dict) or not {"loss", "recon", "kl"} <= set(terms):
            got = sorted(terms) if isinstance(terms, dict) else type(terms).__name__
            raise CheckFailed(f"{name} should return a dict with the keys 'loss', 'recon' and 'kl', got {got}")
        loss = expect_tensor(terms["loss"], f"{name}()['loss']")
        expect_shape(loss, (), f"{name}()['loss']", "one number for the batch (fit minimizes it)")

        x64, l64, m64, lv64 = x.to(F64), logits.to(F64), mu.to(F64), logvar.to(F64)
        bce = F.binary_cross_entropy_with_logits(l64, x64, reduction="none").flatten(1)  # (B, pixels)
        recon = bce.sum(1)  # (B,) -log p(x|z)
        kl_terms = 0.5 * (lv64.exp() + m64.pow(2) - 1 - lv64)  # (B, d)
        kl = kl_terms.sum(1)
        expected = (recon + beta * kl).mean()
        known = [
            ((beta * recon + kl).mean(), "beta multiplies the reconstruction term; it weighs the KL. (Weighting the "
             "reconstruction by beta has the same minimizer as weighting the KL by 1/beta: the opposite effect.)"),
            ((recon + kl).mean(), "beta is ignored: the loss is the plain negative ELBO."),
            ((beta * (recon + kl)).mean(), "beta multiplies both terms, which only rescales the loss; it weighs the KL alone."),
            ((recon + kl / beta).mean(), "The KL is divided by beta; multiply it."),
            ((bce.mean(1) + beta * kl).mean(), "The reconstruction is averaged over pixels while the KL is summed: that "
             "hides an extra factor, the number of pixels, in the KL's weight, so the beta you pass is not the beta you get."),
            ((recon + beta * kl_terms.mean(1)).mean(), "The KL is averaged over latent dimensions; sum it."),
            ((recon - beta * kl).mean(), "The KL enters with the wrong sign: the loss is reconstruction + beta * KL."),
            ((recon + beta * kl).sum(), "The loss is summed over the batch; average it instead."),
            (-expected, "That is the beta-ELBO itself; fit minimizes the loss, so return its negative."),
        ]
        expect_dtype(loss, dtype, f"{name}()['loss']")
        hint_probe = f"{probe}. {LARGE_LOGITS}" if extreme else probe
        expect_close(loss, expected, f"{name}()['loss']", what="loss", known_mistakes=known, dtype=dtype, probe=hint_probe)
        for key, want, mistakes in (
            ("recon", recon.mean(), [(bce.mean(), "'recon' is averaged over the pixels; sum over the pixels of each "
                                      "image, then average over the batch.")]),
            ("kl", kl.mean(), [(beta * kl.mean(), "the 'kl' entry is the plain batch-average KL, without beta (the "
                                "curves compare rates across betas)")] if beta != 1.0 else []),
        ):
            got = expect_tensor(terms[key], f"{name}()['{key}']")
            expect_shape(got, (), f"{name}()['{key}']", "the batch average, for the training curves")
            expect_close(got, want, f"{name}()['{key}']", known_mistakes=mistakes, dtype=dtype, probe=probe)
        weights = torch.ones((), dtype=F64)
        inputs = [logits, mu, logvar]
        got = student_gradient(loss, inputs, weights, name)
        expect_gradients(got, gradient(expected, inputs, weights), ["the logits", "mu", "logvar"], name, dtype=dtype,
                         probe=hint_probe, axes=[("example", "channel", "row", "column"), ("example", "coordinate"),
                                                 ("example", "coordinate")])
    passed(name, f"loss, recon and kl match recon + beta * KL and its terms on {len(cases)} probes (beta from 0.5 "
                 "to 16, a batch of one, float32, logits up to +-30), with gradients")


def _mig_cases() -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Codes and factors on which every slip of the catalogue gives its own value."""
    rng = np.random.default_rng(7)
    cases = []
    for n, counts, num_bins in ((600, (4, 5, 3), 20), (400, (6, 2, 3, 4), 7)):
        factors = np.stack([rng.integers(0, c, size=n) for c in counts], axis=1)
        noise = rng.normal(size=(n, 6))
        codes = np.stack([
            factors[:, 0] + 0.3 * noise[:, 0],                          # the best dimension for factor 0
            2.0 * factors[:, 1] + 0.5 * factors[:, 0] + noise[:, 1],     # mostly factor 1, a little of 0
            10.0 * noise[:, 2],                                          # noise on a wide range
            factors[:, 2] + 0.5 * noise[:, 3],                           # factor 2
            factors[:, 0] + 0.8 * noise[:, 4],                           # a runner-up for factor 0
            np.exp(noise[:, 5]) + 0.2 * factors[:, 1],                   # skewed, with an outlying maximum
        ], axis=1)
        cases.append((codes, factors, num_bins))
    return cases


def _wrong_migs(codes: np.ndarray, factors: np.ndarray, num_bins: int) -> list[tuple[float, str]]:
    """The values that the catalogue's slips give on one case, with their hints."""
    report = mig_report(codes, factors, num_bins)
    mi, h = report.mutual_information, report.entropies  # (d, K), (K,)
    down = np.sort(mi, axis=0)[::-1]

    def mi_with(binned: np.ndarray) -> np.ndarray:
        return np.array([[mutual_info_score(factors[:, k], binned[:, j]) for k in range(factors.shape[1])]
                         for j in range(binned.shape[1])])

    def score(m: np.ndarray) -> float:
        s = np.sort(m, axis=0)[::-1]
        return float(np.mean((s[0] - s[1]) / h))

    per_dimension = np.sort(mi, axis=1)[:, ::-1]
    by_code = np.mean((per_dimension[:, 0] - per_dimension[:, 1]) / h[mi.argmax(axis=1)])
    last_edge = np.stack([np.digitize(c, np.histogram(c, num_bins)[1]) for c in codes.T], axis=1)
    lo, hi = codes.min(), codes.max()
    shared = np.stack([np.digitize(c, np.histogram(c, num_bins, range=(lo, hi))[1][:-1]) for c in codes.T], axis=1)
    quantile = np.stack([np.digitize(c, np.quantile(c, np.linspace(0, 1, num_bins + 1))[1:-1]) for c in codes.T], axis=1)
    twenty = np.stack([np.digitize(c, np.histogram(c, 20)[1][:-1]) for c in codes.T], axis=1)
    code_entropy = np.array([mutual_info_score(b, b) for b in _binned(codes, num_bins).T])
    top = mi.argmax(axis=0)
    return [
        (float(np.mean(down[0] - down[1])), "Each factor's gap must be divided by that factor's entropy H(v_k), "
         "so that factors with many values and factors with few count alike."),
        (float(np.mean((down[0] - down[-1]) / h)), "The gap is between the largest and the SECOND largest mutual "
         "information of each factor, not the largest and the smallest."),
        (float(np.mean((down[-1] - down[-2]) / h)), "np.sort sorts in increasing order: take the last two rows (or "
         "reverse the sort) so that the gap is largest minus second largest."),
        (0.0, "Mutual information on the raw continuous codes: every distinct float is its own value, so each code "
         "dimension seems to carry all of every factor and all gaps vanish. Discretize each code dimension into "
         "num_bins equal-width bins first."),
        (float(by_code), "The gaps are taken per code dimension and averaged over dimensions; MIG takes, for each "
         "factor, the gap between the two code dimensions that know most about it, and averages over the factors."),
        (score(mi_with(last_edge)), "np.digitize against all num_bins + 1 edges puts each dimension's maximum in a "
         "bin of its own; digitize against the edges without the last one (edges[:-1])."),
        (score(mi_with(shared)), "Every code dimension needs its own bin edges, from its own minimum to its own "
         "maximum (np.histogram of that column), not edges shared by all dimensions."),
        (score(mi_with(quantile)), "The bins must have equal widths (the edges of np.histogram), not equal counts."),
        (score(mi_with(twenty)), "Use the num_bins argument for the number of bins instead of a fixed number."),
        (float(np.mean((down[0] - down[1]) / code_entropy[top])), "Divide by the entropy of the factor H(v_k), not "
         "by the entropy of the code dimension."),
    ]


def _binned(codes: np.ndarray, num_bins: int) -> np.ndarray:
    """disentanglement_lib's discretization of every code dimension: ``(N, d)`` bin numbers."""
    return np.stack([np.digitize(c, np.histogram(c, num_bins)[1][:-1]) for c in codes.T], axis=1)


def mig(fn) -> None:
    """Check ``fn(codes, factors, num_bins)`` against disentanglement_lib's MIG, on two cases."""
    name = "mig"
    cases = _mig_cases()
    for codes, factors, num_bins in cases:
        got = call(fn, name, codes.copy(), factors.copy(), num_bins)
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, np.ndarray) and got.size == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, numbers.Real):
            raise CheckFailed(f"{name} should return one number (the MIG, averaged over factors), got "
                              f"{type(got).__name__}{' of shape ' + str(got.shape) if hasattr(got, 'shape') else ''}")
        expected = mig_report(codes, factors, num_bins).score
        where = f"{name}(codes of shape {codes.shape}, factors of shape {factors.shape}, num_bins={num_bins})"
        expect_close(
            torch.tensor(float(got), dtype=F64),
            torch.tensor(expected, dtype=F64),
            where,
            what="MIG",
            known_mistakes=[(torch.tensor(v, dtype=F64), hint) for v, hint in _wrong_migs(codes, factors, num_bins)],
        )
    passed(name, f"matches disentanglement_lib's MIG on {len(cases)} sets of codes, with 20 and 7 bins")


EXERCISES = {"beta_vae_loss": beta_vae_loss, "mig": mig}
