"""Checkers of chapter 5's exercise: the beta-weighted VAE loss and the MIG metric."""

from __future__ import annotations

import math
import numbers

import numpy as np
import scipy.stats
import torch
import torch.nn.functional as F

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
from .elbo import kl_variants
from .vae import LARGE_LOGITS, VAE_HINTS, _case, _same


def beta_vae_loss(fn) -> None:
    """Check ``fn(x, out, beta)``: ``{"loss": mean(recon + beta * kl), "recon": mean recon, "kl": mean kl}``.

    Probes, as for chapter 4's ``vae_loss``: float64 batches with beta = 4, 0.5 and 1 (a
    batch of one among them), and float32 batches with binary-like pixels and with logits
    up to +-30 and extreme log-variances. Values of the three entries (``kl`` without
    beta), the dtype of the loss, its gradients, inputs left unchanged, and the same loss
    from a second call (it draws nothing). The hints cover beta on the wrong term, the
    batch and pixel reductions, the reconstruction's form and the KL's slips.
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
        again = call(fn, name, x.clone(), out, beta, seed=1, hints=VAE_HINTS)
        if isinstance(again, dict) and isinstance(again.get("loss"), torch.Tensor) and not _same(again["loss"], loss):
            raise CheckFailed(f"{name} gives different values for the same inputs: the loss uses the closed-form KL "
                              "and the logits it is given; it draws nothing")

        x64, l64, m64, lv64 = x.to(F64), logits.to(F64), mu.to(F64), logvar.to(F64)
        bce = F.binary_cross_entropy_with_logits(l64, x64, reduction="none").flatten(1)  # (B, pixels)
        recon = bce.sum(1)  # (B,) -log p(x|z)
        kl_terms = 0.5 * (lv64.exp() + m64.pow(2) - 1 - lv64)  # (B, d)
        kl = kl_terms.sum(1)
        expected = (recon + beta * kl).mean()
        z64 = z.to(F64)
        sampled_kl = (0.5 * (z64.pow(2) - (z64 - m64).pow(2) / lv64.exp() - lv64)).sum(1)  # log q(z) - log p(z)
        with torch.no_grad():  # the student's unstable formula, in the probe's dtype
            probabilities = torch.sigmoid(logits)
            clipped = F.binary_cross_entropy(probabilities, x, reduction="none").flatten(1).sum(1).to(F64)
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
            (recon.mean() + beta * kl.sum(), "The KL is summed over the batch while the reconstruction is averaged: "
             "that multiplies beta by the batch size. Average both over the batch."),
            (recon.sum() + beta * kl.mean(), "The reconstruction is summed over the batch while the KL is averaged: "
             "that divides beta by the batch size. Average both over the batch."),
            ((recon + (beta - 1) * kl).mean(), "The KL's weight is beta, not beta - 1 (beta = 1 is the plain VAE)."),
            ((clipped + beta * kl).mean(), "F.binary_cross_entropy(torch.sigmoid(logits), x) loses the large logits: "
             "in float32 sigmoid(l) rounds to exactly 1 for l > 17, and the log of 1 - 1 is clipped at -100. Compute "
             "the reconstruction from the logits with F.binary_cross_entropy_with_logits."),
            ((F.binary_cross_entropy_with_logits(torch.sigmoid(l64), x64, reduction="none").flatten(1).sum(1)
              + beta * kl).mean(), "The logits went through a sigmoid before a loss that applies its own: pass the "
             "logits directly."),
            ((bce.reshape(x.shape).sum(-1).flatten(1).mean(1) + beta * kl).mean(), "The reconstruction is summed "
             "over the last axis (the columns) only and averaged over the rest: sum over all the pixels of each image "
             "(every axis but the batch, e.g. .flatten(1).sum(1))."),
            (((torch.sigmoid(l64) - x64).pow(2).flatten(1).sum(1) + beta * kl).mean(), "The reconstruction term is "
             "the Bernoulli negative log-likelihood (binary cross-entropy from the logits), not a squared error."),
            ((recon + beta * sampled_kl).mean(), "The KL is estimated from the sample z; use the closed form from mu "
             "and logvar."),
            *[((recon + beta * wrong).mean(), f"In the KL term: {hint[0].lower()}{hint[1:]}")
              for wrong, hint in kl_variants(m64, lv64)],
        ]
        expect_dtype(loss, dtype, f"{name}()['loss']")
        hint_probe = f"{probe}. {LARGE_LOGITS}" if extreme else probe
        expect_close(loss, expected, f"{name}()['loss']", what="loss", known_mistakes=known, dtype=dtype, probe=hint_probe)
        for key, want, mistakes in (
            ("recon", recon.mean(), [(bce.mean(), "'recon' is averaged over the pixels; sum over the pixels of each "
                                      "image, then average over the batch."),
                                     (-recon.mean(), "'recon' is the reconstruction loss -log p(x|z), a positive "
                                      "number; yours has the opposite sign."),
                                     (recon.sum(), "'recon' is summed over the batch; average it.")]),
            ("kl", kl.mean(), [*([(beta * kl.mean(), "the 'kl' entry is the plain batch-average KL, without beta "
                                  "(the curves compare rates across betas)")] if beta != 1.0 else []),
                               (kl.sum(), "'kl' is summed over the batch; average it.")]),
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


def _mig_cases() -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    """Probes ``(description, codes, factors, num_bins)`` on which every slip of the catalogue
    gives its own value, and a known answer."""
    rng = np.random.default_rng(7)
    cases = []
    for n, counts, num_bins, dtype, label in (
        (600, (4, 5, 3), 20, np.float64, "float64 codes"),
        (400, (6, 2, 9, 4), 7, np.float32, "float32 codes, as model(x).mu.numpy() gives; a factor with more values "
         "than bins"),
    ):
        factors = np.stack([rng.integers(0, c, size=n) for c in counts], axis=1)
        noise = rng.normal(size=(n, 6))
        codes = np.stack([
            factors[:, 0] + 0.3 * noise[:, 0],                          # the best dimension for factor 0
            2.0 * factors[:, 1] + 0.5 * factors[:, 0] + noise[:, 1],     # mostly factor 1, a little of 0
            10.0 * noise[:, 2],                                          # noise on a wide range
            factors[:, 2] + 0.5 * noise[:, 3],                           # factor 2
            factors[:, 0] + 0.8 * noise[:, 4],                           # a runner-up for factor 0
            np.exp(noise[:, 5]) + 0.2 * factors[:, 1],                   # skewed, with an outlying maximum
        ], axis=1).astype(dtype)
        cases.append((label, codes, factors, num_bins))
    grid = np.stack(np.meshgrid(np.arange(3), np.arange(4), np.arange(6), indexing="ij"), axis=-1).reshape(-1, 3)
    grid = grid[rng.permutation(len(grid))]  # every combination once: the factors are independent
    codes = np.stack([0.5 * grid[:, 0] - 1.0, 3.0 - 2.0 * grid[:, 1], 3.0 * grid[:, 2], 0.5 * grid[:, 0] - 1.0], axis=1)
    cases.append(("a known answer: the 3 factors of a full 3 x 4 x 6 grid as codes, rescaled and one flipped, with "
                  "factor 0 copied into a fourth dimension; factor 0's two dimensions tie (gap 0), the others have "
                  "one each (gap 1), so MIG = 2/3", codes, grid, 20))
    return cases


def _labels_mi(a: np.ndarray, b: np.ndarray) -> float:
    """Mutual information in nats of two label arrays (what mutual_info_score computes, faster)."""
    a, b = np.unique(a, return_inverse=True)[1].ravel(), np.unique(b, return_inverse=True)[1].ravel()
    joint = np.bincount(a * (b.max() + 1) + b, minlength=(a.max() + 1) * (b.max() + 1)).reshape(a.max() + 1, -1)
    p = joint / len(a)
    outer = p.sum(1, keepdims=True) * p.sum(0, keepdims=True)
    nonzero = p > 0
    return float((p[nonzero] * np.log(p[nonzero] / outer[nonzero])).sum())


def _mi_table(labels: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``(d, K)`` mutual informations of label columns with factor columns."""
    return np.array([[_labels_mi(c, v) for v in factors.T] for c in labels.T])


def _bins(codes: np.ndarray, edges_of, right: bool = False) -> np.ndarray:
    """Each column digitized against ``edges_of(column)``."""
    return np.stack([np.digitize(c, edges_of(c), right=right) for c in codes.T], axis=1)


def _wrong_migs(codes: np.ndarray, factors: np.ndarray, num_bins: int) -> list[tuple[float, str]]:
    """The values that the catalogue's slips give on one case, with their hints."""
    report = mig_report(codes, factors, num_bins)
    mi, h = report.mutual_information, report.entropies  # (d, K), (K,)
    down = np.sort(mi, axis=0)[::-1]  # each factor's column, largest first
    binned = _binned(codes, num_bins)
    code_entropy = np.array([_labels_mi(b, b) for b in binned.T])  # (d,)
    top = mi.argmax(axis=0)

    def score(m: np.ndarray) -> float:
        s = np.sort(m, axis=0)[::-1]
        return float(np.mean((s[0] - s[1]) / h))

    def binned_score(edges_of, right: bool = False) -> float:
        return score(_mi_table(_bins(codes, edges_of, right), factors))

    per_dimension = np.sort(mi, axis=1)[:, ::-1]
    by_code = np.mean((per_dimension[:, 0] - per_dimension[:, 1]) / h[mi.argmax(axis=1)])
    order = np.argsort(mi, axis=0)
    flat_runner_up = [np.delete(mi, top[k]).max() for k in range(mi.shape[1])]  # np.delete without axis flattens
    distinct = [np.unique(mi[:, k])[::-1] for k in range(mi.shape[1])]
    lo, hi = codes.min(), codes.max()
    first = codes[:, 0]
    rows = np.stack([np.digitize(r, np.histogram(r, num_bins)[1][:-1]) for r in codes], axis=0)
    sample_entropy = np.array([scipy.stats.entropy(v) for v in factors.T])  # the samples taken as probabilities
    same_bins = "Cut each code dimension into exactly num_bins equal-width bins: np.histogram(column, num_bins) " \
                "gives num_bins + 1 edges, and np.digitize(column, edges[:-1]) numbers the bins 1 to num_bins."
    return [  # first the slip that only the known answer's tie shows, which other slips can match there
        (float(np.mean([(u[0] - (u[1] if len(u) > 1 else u[0])) / hk for u, hk in zip(distinct, h)])),
         "Two code dimensions with the same mutual information (here factor 0 sits in two identical dimensions) "
         "give a gap of 0: take the second largest ENTRY, not the second largest distinct value (np.unique and "
         "set() drop ties)."),
        (float(np.mean(down[0] - down[1])), "Each factor's gap must be divided by that factor's entropy H(v_k), "
         "so that factors with many values and factors with few count alike."),
        (float(np.mean((down[0] - down[-1]) / h)), "The gap is between the largest and the SECOND largest mutual "
         "information of each factor, not the largest and the smallest."),
        (float(np.mean((down[-1] - down[-2]) / h)), "np.sort sorts in increasing order: take the last two rows (or "
         "reverse the sort) so that the gap is largest minus second largest."),
        (float(np.mean((down[-2] - down[-1]) / h)), "np.sort sorts in increasing order, so rows 0 and 1 are the two "
         "SMALLEST mutual informations (an abs() does not fix that): take the last two rows, or reverse the sort."),
        (score(_mi_table(codes, factors)), "Mutual information on the raw continuous codes: every distinct float is "
         "its own value, so each code dimension seems to carry all of every factor and all gaps vanish. Discretize "
         "each code dimension into num_bins equal-width bins first."),
        (float(by_code), "The gaps are taken per code dimension and averaged over dimensions; MIG takes, for each "
         "factor, the gap between the two code dimensions that know most about it, and averages over the factors."),
        (float(np.mean((order[-1] - order[-2]) / h)), "np.argsort returns the POSITIONS of the code dimensions, not "
         "their mutual informations: subtract the sorted values (np.sort), or index mi with the positions."),
        (float(np.mean((down[0] - np.array(flat_runner_up)) / h)), "np.delete without axis= flattens the whole "
         "matrix, so the runner-up came from any factor: look for it in the same factor's column, mi[:, k]."),
        (binned_score(lambda c: np.histogram(c, num_bins)[1]), "np.digitize against all num_bins + 1 edges puts "
         "each dimension's maximum in a bin of its own; digitize against the edges without the last one "
         "(edges[:-1])."),
        (binned_score(lambda c: np.histogram(c, num_bins)[1][:-1], right=True), "np.digitize(..., right=True) "
         "puts each dimension's minimum in a bin of its own; use the default right=False, as disentanglement_lib "
         "does."),
        (binned_score(lambda c: np.histogram(c, num_bins - 1)[1][:-1]), f"{same_bins} (Yours has num_bins - 1 "
         "bins: np.linspace(min, max, num_bins) gives num_bins edges, one bin fewer.)"),
        (binned_score(lambda c: np.histogram(c, num_bins + 1)[1][:-1]), f"{same_bins} (Yours has num_bins + 1.)"),
        (binned_score(lambda c: np.histogram(c, num_bins, range=(lo, hi))[1][:-1]), "Every code dimension needs its "
         "own bin edges, from its own minimum to its own maximum (np.histogram of that column), not edges shared "
         "by all dimensions."),
        (binned_score(lambda c: np.histogram(first, num_bins)[1][:-1]), "Every code dimension needs its own bin "
         "edges, from its own minimum to its own maximum (np.histogram of that column), not the edges of another "
         "column."),
        (score(_mi_table(rows, factors)), "The bins were computed for each ROW of codes (one example's d numbers); "
         "bin each column, one code dimension over all examples: iterate over codes.T, or index codes[:, j]."),
        (binned_score(lambda c: np.quantile(c, np.linspace(0, 1, num_bins + 1))[1:-1]), "The bins must have equal "
         "widths (the edges of np.histogram), not equal counts."),
        (binned_score(lambda c: np.histogram(c, 20)[1][:-1]), "Use the num_bins argument for the number of bins "
         "instead of a fixed number."),
        (score(_mi_table(binned, _bins(factors, lambda v: np.histogram(v, num_bins)[1][:-1]))), "The factors were "
         "binned too (np.histogram2d bins both axes): a factor with more values than num_bins gets values merged. "
         "Bin the codes only; the factors are discrete already."),
        (score(_mi_table(np.round(codes), factors)), "Rounding the codes to integers is not the discretization: "
         "cut each dimension into num_bins equal-width bins from its minimum to its maximum."),
        (float(np.mean((down[0] - down[1]) / code_entropy[top])), "Divide by the entropy of the factor H(v_k), not "
         "by the entropy of the code dimension."),
        (score(mi / code_entropy[:, None] * h), "Each mutual information was divided by its code dimension's entropy "
         "H(z_j); MIG divides each factor's gap by the factor's entropy H(v_k)."),
        (score((mi / (0.5 * (code_entropy[:, None] + h))) * h), "normalized_mutual_info_score divides by an average "
         "of the two entropies; MIG takes the plain mutual informations (mutual_info_score) and divides each "
         "factor's gap by the factor's entropy H(v_k) alone."),
        (float(np.mean((down[0] - down[1]) / down[0])), "Divide each gap by the factor's entropy H(v_k), not by its "
         "largest mutual information."),
        (float(np.mean(down[0] / h)), "MIG is the GAP between the largest and the second largest mutual information, "
         "divided by H(v_k); the largest alone measures how well a factor is captured, not by how few dimensions."),
        (float(np.mean((down[0] - down[1:].mean(axis=0)) / h)), "The gap is to the second largest mutual "
         "information, not to the mean of all the others."),
        (float(np.mean((down[0] - down[1]) / h)) * np.log(2), "The mutual information and the entropy are in "
         "different log bases (yours is ln 2 = 0.693 times the MIG): MIG is a ratio, so nats or bits both work, "
         "but the same for both (mutual_info_score gives nats; scipy.stats.entropy(counts, base=2) gives bits)."),
        (float(np.mean((down[0] - down[1]) / h)) / np.log(2), "The mutual information and the entropy are in "
         "different log bases (yours is 1/ln 2 = 1.44 times the MIG): MIG is a ratio, so nats or bits both work, "
         "but the same for both (mutual_info_score gives nats)."),
        (float(np.mean((down[0] - down[1]) / sample_entropy)), "scipy.stats.entropy takes probabilities or counts "
         "(np.bincount(v) or np.unique(v, return_counts=True)[1]), not the samples themselves; or use "
         "mutual_info_score(v, v)."),
        (float(np.mean(down[0] - down[1]) / np.mean(h)), "Average the per-factor ratios gap_k / H(v_k); dividing "
         "the average gap by the average entropy weighs the factors differently."),
        (float(np.sum((down[0] - down[1]) / h)), "MIG averages the normalized gaps over the factors; yours sums "
         "them."),
    ]


def _binned(codes: np.ndarray, num_bins: int) -> np.ndarray:
    """disentanglement_lib's discretization of every code dimension: ``(N, d)`` bin numbers."""
    return np.stack([np.digitize(c, np.histogram(c, num_bins)[1][:-1]) for c in codes.T], axis=1)


MIG_TOLERANCE = 1e-9  # MIG lies in [0, 1]; nats, bits and other right orders of summation agree to ~1e-15


def _as_float(got: object, name: str) -> float:
    """The student's MIG as a float, or a failure saying what came back instead."""
    __tracebackhide__ = True
    if isinstance(got, (torch.Tensor, np.ndarray)):
        kind = f"a {type(got).__module__.split('.')[0]} {type(got).__name__} of shape {tuple(got.shape)}"
        if got.size == 1 if isinstance(got, np.ndarray) else got.numel() == 1:
            raise CheckFailed(f"{name} should return a Python float, got {kind}: convert the result with "
                              "float(...) (a float prints in tables and compares with course_vae.mig as it is)")
        raise CheckFailed(f"{name} should return one number, the normalized gaps averaged over the factors, got "
                          f"{kind}")
    if isinstance(got, (bool, np.bool_)) or not isinstance(got, (float, np.floating)):
        kind = "an integer: the gaps are fractions of the entropies" if isinstance(got, numbers.Integral) else \
            type(got).__name__
        raise CheckFailed(f"{name} should return one float (the MIG, averaged over the factors), got {kind}")
    if not math.isfinite(got):
        raise CheckFailed(f"{name} returned {got}: with no factor constant, every entropy H(v_k) is positive and "
                          "every mutual information is finite; look for a log(0) or a division by zero")
    return float(got)


def mig(fn) -> None:
    """Check ``fn(codes, factors, num_bins)`` against disentanglement_lib's MIG.

    Probes: float64 codes with 20 bins, float32 codes with 7 bins and a factor with more
    values than bins, and a known answer (a perfect code with one factor copied into two
    dimensions, MIG = 2/3). The result must be a float; the inputs must stay unchanged.
    """
    __tracebackhide__ = True
    name = "mig"
    cases = _mig_cases()
    for probe, codes, factors, num_bins in cases:
        args = (codes.copy(), factors.copy())
        where = f"{name}(codes of shape {codes.shape}, factors of shape {factors.shape}, num_bins={num_bins})"
        got = call(fn, name, *args, num_bins)
        for passed_in, original, label in zip(args, (codes, factors), ("codes", "factors")):
            if passed_in.shape != original.shape or not np.array_equal(passed_in, original):
                raise CheckFailed(
                    f"{name} changed its input {label} in place (with -=, /=, {label}[...] = ... or out=): the "
                    "chapter scores the same codes again. np.asarray(x, dtype=float) returns x itself when it "
                    f"already is a float64 array; work on a copy (np.array(...)) or on new arrays ({label} - ...)")
        got = _as_float(got, where)
        expected = mig_report(codes, factors, num_bins).score
        if abs(got - expected) <= MIG_TOLERANCE:
            continue
        for wrong, hint in _wrong_migs(codes, factors, num_bins):
            if math.isfinite(wrong) and abs(got - wrong) <= 1e-7 and abs(wrong - expected) > MIG_TOLERANCE:
                raise CheckFailed(f"{where}: wrong MIG. {hint} [probe: {probe}]")
        raise CheckFailed(
            f"{where}: wrong MIG: yours {got:.6g}, the reference {expected:.6g} [probe: {probe}]. To find the step "
            "that differs, compare your intermediate arrays on codes of your own with those of "
            "course_vae.metrics.mig_report(codes, factors, num_bins): .mutual_information, the (d, K) matrix "
            "from mutual_info_score on the binned codes, and .entropies, the (K,) H(v_k), both in nats. (The "
            "mutual informations are those of the bin numbers: not a nearest-neighbour estimate such as "
            "mutual_info_classif, nor an adjusted or normalized score.)"
        )
    passed(name, f"matches disentanglement_lib's MIG on {len(cases)} probes (20 and 7 bins, float32 codes, a "
                 "known answer with tied dimensions); inputs unchanged")


EXERCISES = {"beta_vae_loss": beta_vae_loss, "mig": mig}
