"""Chapter 5's checkers: the beta-weighted loss and MIG, against a catalogue of slips."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from sklearn.feature_selection import mutual_info_classif
from sklearn.metrics import adjusted_mutual_info_score, mutual_info_score, normalized_mutual_info_score
from sklearn.preprocessing import KBinsDiscretizer

import course_vae
from course_vae.checks import beta_vae as checks
from course_vae.checks import definitions
from course_vae.metrics import mig_report

from .checker_harness import assert_rejects
from .conftest import ROOT

# The raw-codes mistake hands continuous floats to mutual_info_score, which warns about them.
pytestmark = pytest.mark.filterwarnings("ignore:Clustering metrics expects discrete values:UserWarning")


# ---- the beta-weighted loss ------------------------------------------------------------

def _parts(x, out):
    bce = F.binary_cross_entropy_with_logits(out.logits, x, reduction="none").flatten(1)
    kl = 0.5 * (out.logvar.exp() + out.mu.pow(2) - 1 - out.logvar)
    return bce, kl


def _terms(recon, kl, loss):
    return {"loss": loss, "recon": recon.mean(), "kl": kl.mean()}


def _beta_on_recon(x, out, beta):
    bce, kl = _parts(x, out)
    return _terms(bce.sum(1), kl.sum(1), (beta * bce.sum(1) + kl.sum(1)).mean())


def _beta_ignored(x, out, beta):
    bce, kl = _parts(x, out)
    return _terms(bce.sum(1), kl.sum(1), (bce.sum(1) + kl.sum(1)).mean())


def _beta_on_both(x, out, beta):
    bce, kl = _parts(x, out)
    return _terms(bce.sum(1), kl.sum(1), beta * (bce.sum(1) + kl.sum(1)).mean())


def _kl_over_beta(x, out, beta):
    bce, kl = _parts(x, out)
    return _terms(bce.sum(1), kl.sum(1), (bce.sum(1) + kl.sum(1) / beta).mean())


def _pixel_averaged(x, out, beta):
    bce, kl = _parts(x, out)
    return _terms(bce.sum(1), kl.sum(1), (bce.mean(1) + beta * kl.sum(1)).mean())


def _weighted_kl_entry(x, out, beta):
    bce, kl = _parts(x, out)
    return {"loss": (bce.sum(1) + beta * kl.sum(1)).mean(), "recon": bce.sum(1).mean(), "kl": beta * kl.sum(1).mean()}


def _kl_wrong_sign(x, out, beta):
    bce, kl = _parts(x, out)
    return _terms(bce.sum(1), kl.sum(1), (bce.sum(1) - beta * kl.sum(1)).mean())


def _detached(x, out, beta):
    bce, kl = _parts(x, out)
    return _terms(bce.sum(1), kl.sum(1), (bce.sum(1) + beta * kl.sum(1)).mean().detach())


def _plus_beta_elbo(x, out, beta):
    bce, kl = _parts(x, out)
    return _terms(bce.sum(1), kl.sum(1), -(bce.sum(1) + beta * kl.sum(1)).mean())


def _unstable_logs(x, out, beta):
    p = torch.sigmoid(out.logits)
    recon = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(1)  # log(0) at large logits
    _, kl = _parts(x, out)
    return _terms(recon, kl.sum(1), (recon + beta * kl.sum(1)).mean())


def _kl_summed_over_batch(x, out, beta):
    bce, kl = _parts(x, out)
    return _terms(bce.sum(1), kl.sum(1), bce.sum(1).mean() + beta * kl.sum(1).sum())


def _recon_summed_over_batch(x, out, beta):
    bce, kl = _parts(x, out)
    return _terms(bce.sum(1), kl.sum(1), bce.sum(1).sum() + beta * kl.sum(1).mean())


def _summed_over_batch(x, out, beta):
    bce, kl = _parts(x, out)
    return _terms(bce.sum(1), kl.sum(1), (bce.sum(1) + beta * kl.sum(1)).sum())


def _bce_default_mean(x, out, beta):
    bce, kl = _parts(x, out)
    return _terms(bce.sum(1), kl.sum(1), F.binary_cross_entropy_with_logits(out.logits, x) + beta * kl.sum(1).mean())


def _beta_minus_one(x, out, beta):
    bce, kl = _parts(x, out)
    return _terms(bce.sum(1), kl.sum(1), (bce.sum(1) + (beta - 1) * kl.sum(1)).mean())


def _with_kl(kl_fn):
    def loss(x, out, beta):
        bce, _ = _parts(x, out)
        kl = kl_fn(out.mu, out.logvar)
        return _terms(bce.sum(1), kl, (bce.sum(1) + beta * kl).mean())

    return loss


_logvar_as_log_sigma = _with_kl(lambda mu, lv: 0.5 * (torch.exp(2 * lv) + mu**2 - 1 - 2 * lv).sum(1))
_kl_without_half = _with_kl(lambda mu, lv: (lv.exp() + mu**2 - 1 - lv).sum(1))
_kl_without_minus_one = _with_kl(lambda mu, lv: 0.5 * (lv.exp() + mu**2 - lv).sum(1))
_kl_with_sigma = _with_kl(lambda mu, lv: 0.5 * ((0.5 * lv).exp() + mu**2 - 1 - lv).sum(1))


def _with_recon(recon_fn):
    def loss(x, out, beta):
        _, kl = _parts(x, out)
        recon = recon_fn(out.logits, x)
        return _terms(recon, kl.sum(1), (recon + beta * kl.sum(1)).mean())

    return loss


_sigmoid_before_logit_loss = _with_recon(
    lambda l, x: F.binary_cross_entropy_with_logits(torch.sigmoid(l), x, reduction="none").flatten(1).sum(1))
_bce_of_sigmoid = _with_recon(
    lambda l, x: F.binary_cross_entropy(torch.sigmoid(l), x, reduction="none").flatten(1).sum(1))
_squared_error = _with_recon(lambda l, x: (torch.sigmoid(l) - x).pow(2).flatten(1).sum(1))
_columns_only = _with_recon(
    lambda l, x: F.binary_cross_entropy_with_logits(l, x, reduction="none").sum(-1).mean(dim=(1, 2)))


def _sampled_kl(x, out, beta):
    bce, _ = _parts(x, out)
    z, mu, lv = out.z, out.mu, out.logvar
    kl = (0.5 * (z**2 - (z - mu) ** 2 / lv.exp() - lv)).sum(1)
    return _terms(bce.sum(1), kl, (bce.sum(1) + beta * kl).mean())


def _fresh_noise_kl(x, out, beta):
    bce, _ = _parts(x, out)
    eps = torch.randn_like(out.mu)
    z = out.mu + (0.5 * out.logvar).exp() * eps
    kl = (0.5 * (z**2 - eps**2 - out.logvar)).sum(1)
    return _terms(bce.sum(1), kl, (bce.sum(1) + beta * kl).mean())


def _negative_recon_entry(x, out, beta):
    bce, kl = _parts(x, out)
    return {"loss": (bce.sum(1) + beta * kl.sum(1)).mean(), "recon": -bce.sum(1).mean(), "kl": kl.sum(1).mean()}


def _kl_entry_summed(x, out, beta):
    bce, kl = _parts(x, out)
    return {"loss": (bce.sum(1) + beta * kl.sum(1)).mean(), "recon": bce.sum(1).mean(), "kl": kl.sum()}


def _mutates_x(x, out, beta):
    x.clamp_(1e-3, 1 - 1e-3)  # "safe" targets, written into the caller's batch
    bce, kl = _parts(x, out)
    return _terms(bce.sum(1), kl.sum(1), (bce.sum(1) + beta * kl.sum(1)).mean())


def _mutates_logvar(x, out, beta):
    out.logvar.data.clamp_(-10, 10)
    bce, kl = _parts(x, out)
    return _terms(bce.sum(1), kl.sum(1), (bce.sum(1) + beta * kl.sum(1)).mean())


def _loss_as_float(x, out, beta):
    bce, kl = _parts(x, out)
    return _terms(bce.sum(1), kl.sum(1), (bce.sum(1) + beta * kl.sum(1)).mean().item())


def _entries_as_floats(x, out, beta):
    bce, kl = _parts(x, out)
    loss = (bce.sum(1) + beta * kl.sum(1)).mean()
    return {"loss": loss, "recon": bce.sum(1).mean().item(), "kl": kl.sum(1).mean().item()}


def _tuple(x, out, beta):
    bce, kl = _parts(x, out)
    return (bce.sum(1) + beta * kl.sum(1)).mean(), bce.sum(1).mean(), kl.sum(1).mean()


def _float32_loss(x, out, beta):
    bce, kl = _parts(x, out)
    return _terms(bce.sum(1), kl.sum(1), (bce.sum(1) + beta * kl.sum(1)).mean().float())


def _per_image_loss(x, out, beta):
    bce, kl = _parts(x, out)
    return _terms(bce.sum(1), kl.sum(1), bce.sum(1) + beta * kl.sum(1))


def _stub(x, out, beta):
    raise NotImplementedError("Exercise")


# ---- MIG ---------------------------------------------------------------------------------

def _binned(codes, num_bins):
    return np.stack([np.digitize(c, np.histogram(c, num_bins)[1][:-1]) for c in codes.T], axis=1)


def _mi(binned, factors):
    return np.array([[mutual_info_score(factors[:, k], binned[:, j]) for k in range(factors.shape[1])]
                     for j in range(binned.shape[1])])


def _entropy(factors):
    return np.array([mutual_info_score(f, f) for f in factors.T])


def _gap_score(mi, h):
    top = np.sort(mi, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / h))


def _no_normalization(codes, factors, num_bins=20):
    top = np.sort(_mi(_binned(codes, num_bins), factors), axis=0)[::-1]
    return float(np.mean(top[0] - top[1]))


def _largest_minus_smallest(codes, factors, num_bins=20):
    mi = _mi(_binned(codes, num_bins), factors)
    return float(np.mean((mi.max(axis=0) - mi.min(axis=0)) / _entropy(factors)))


def _ascending_sort(codes, factors, num_bins=20):
    top = np.sort(_mi(_binned(codes, num_bins), factors), axis=0)
    return float(np.mean((top[0] - top[1]) / _entropy(factors)))


def _raw_codes(codes, factors, num_bins=20):
    return _gap_score(_mi(codes, factors), _entropy(factors))


def _averaged_over_code_dimensions(codes, factors, num_bins=20):
    mi = _mi(_binned(codes, num_bins), factors)
    h = _entropy(factors)
    per_dim = np.sort(mi, axis=1)[:, ::-1]
    return float(np.mean((per_dim[:, 0] - per_dim[:, 1]) / h[mi.argmax(axis=1)]))


def _all_edges(codes, factors, num_bins=20):
    binned = np.stack([np.digitize(c, np.histogram(c, num_bins)[1]) for c in codes.T], axis=1)
    return _gap_score(_mi(binned, factors), _entropy(factors))


def _shared_edges(codes, factors, num_bins=20):
    edges = np.histogram(codes, num_bins)[1][:-1]  # one range for every dimension
    binned = np.stack([np.digitize(c, edges) for c in codes.T], axis=1)
    return _gap_score(_mi(binned, factors), _entropy(factors))


def _quantile_bins(codes, factors, num_bins=20):
    binned = np.stack([np.digitize(c, np.quantile(c, np.linspace(0, 1, num_bins + 1))[1:-1]) for c in codes.T], axis=1)
    return _gap_score(_mi(binned, factors), _entropy(factors))


def _fixed_twenty_bins(codes, factors, num_bins=20):
    return _gap_score(_mi(_binned(codes, 20), factors), _entropy(factors))


def _code_entropy(codes, factors, num_bins=20):
    binned = _binned(codes, num_bins)
    mi = _mi(binned, factors)
    top = np.sort(mi, axis=0)[::-1]
    h_code = _entropy(binned)[mi.argmax(axis=0)]
    return float(np.mean((top[0] - top[1]) / h_code))


def _per_factor_array(codes, factors, num_bins=20):
    mi = _mi(_binned(codes, num_bins), factors)
    top = np.sort(mi, axis=0)[::-1]
    return (top[0] - top[1]) / _entropy(factors)  # the gaps, not their average


def _sorted_mi(codes, factors, num_bins):
    return np.sort(_mi(_binned(codes, num_bins), factors), axis=0)[::-1]  # (d, K), largest first


def _abs_of_two_smallest(codes, factors, num_bins=20):
    top = np.sort(_mi(_binned(codes, num_bins), factors), axis=0)
    return float(np.mean(np.abs(top[0] - top[1]) / _entropy(factors)))


def _argsort_positions(codes, factors, num_bins=20):
    order = np.argsort(_mi(_binned(codes, num_bins), factors), axis=0)
    return float(np.mean((order[-1] - order[-2]) / _entropy(factors)))


def _argmax_then_flat_delete(codes, factors, num_bins=20):
    mi, h = _mi(_binned(codes, num_bins), factors), _entropy(factors)
    gaps = []
    for k in range(mi.shape[1]):
        best = mi[:, k].argmax()
        gaps.append((mi[best, k] - np.delete(mi, best).max()) / h[k])  # no axis=: the matrix is flattened
    return float(np.mean(gaps))


def _argmax_over_factors(codes, factors, num_bins=20):
    mi, h = _mi(_binned(codes, num_bins), factors), _entropy(factors)
    second = np.sort(mi, axis=1)[:, -2]
    return float(np.mean((mi.max(axis=1) - second) / h[mi.argmax(axis=1)]))


def _second_largest_distinct(codes, factors, num_bins=20):
    mi, h = _mi(_binned(codes, num_bins), factors), _entropy(factors)
    return float(np.mean([(u[-1] - u[-2]) / hk for u, hk in ((np.unique(mi[:, k]), h[k]) for k in range(mi.shape[1]))]))


def _second_largest_of_a_set(codes, factors, num_bins=20):
    mi, h = _mi(_binned(codes, num_bins), factors), _entropy(factors)
    gaps = []
    for k in range(mi.shape[1]):
        first, second = sorted(set(mi[:, k].tolist()), reverse=True)[:2]
        gaps.append((first - second) / h[k])
    return float(np.mean(gaps))


def _each_mi_over_code_entropy(codes, factors, num_bins=20):
    binned = _binned(codes, num_bins)
    top = np.sort(_mi(binned, factors) / _entropy(binned)[:, None], axis=0)[::-1]
    return float(np.mean(top[0] - top[1]))


def _normalized_mi_score(codes, factors, num_bins=20):
    binned = _binned(codes, num_bins)
    nmi = np.array([[normalized_mutual_info_score(v, b) for v in factors.T] for b in binned.T])
    top = np.sort(nmi, axis=0)[::-1]
    return float(np.mean(top[0] - top[1]))


def _adjusted_mi_score(codes, factors, num_bins=20):
    binned = _binned(codes, num_bins)
    ami = np.array([[adjusted_mutual_info_score(v, b) for v in factors.T] for b in binned.T])
    top = np.sort(ami, axis=0)[::-1]
    return float(np.mean(top[0] - top[1]))


def _nearest_neighbour_mi(codes, factors, num_bins=20):
    mi = np.stack([mutual_info_classif(np.asarray(codes, dtype=float), v, random_state=0) for v in factors.T], axis=1)
    top = np.sort(mi, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / _entropy(factors)))


def _gap_over_largest_mi(codes, factors, num_bins=20):
    top = _sorted_mi(codes, factors, num_bins)
    return float(np.mean((top[0] - top[1]) / top[0]))


def _largest_only(codes, factors, num_bins=20):
    return float(np.mean(_sorted_mi(codes, factors, num_bins)[0] / _entropy(factors)))


def _gap_to_mean_of_the_rest(codes, factors, num_bins=20):
    top = _sorted_mi(codes, factors, num_bins)
    return float(np.mean((top[0] - top[1:].mean(axis=0)) / _entropy(factors)))


def _entropy_in_bits(codes, factors, num_bins=20):
    top = _sorted_mi(codes, factors, num_bins)
    bits = np.array([scipy.stats.entropy(np.bincount(v), base=2) for v in factors.T])
    return float(np.mean((top[0] - top[1]) / bits))


def _mi_in_bits(codes, factors, num_bins=20):
    top = _sorted_mi(codes, factors, num_bins) / math.log(2)
    return float(np.mean((top[0] - top[1]) / _entropy(factors)))


def _entropy_of_the_samples(codes, factors, num_bins=20):
    top = _sorted_mi(codes, factors, num_bins)
    return float(np.mean((top[0] - top[1]) / np.array([scipy.stats.entropy(v) for v in factors.T])))


def _ratio_of_means(codes, factors, num_bins=20):
    top = _sorted_mi(codes, factors, num_bins)
    return float(np.mean(top[0] - top[1]) / np.mean(_entropy(factors)))


def _summed_over_factors(codes, factors, num_bins=20):
    top = _sorted_mi(codes, factors, num_bins)
    return float(np.sum((top[0] - top[1]) / _entropy(factors)))


def _with_bins(binning):
    def mig(codes, factors, num_bins=20):
        binned = np.stack([binning(c, num_bins) for c in np.asarray(codes, dtype=float).T], axis=1)
        return _gap_score(_mi(binned, factors), _entropy(factors))

    return mig


_one_bin_fewer = _with_bins(lambda c, n: np.digitize(c, np.linspace(c.min(), c.max(), n)[:-1]))
_one_bin_more = _with_bins(lambda c, n: np.digitize(c, np.histogram(c, n + 1)[1][:-1]))
_digitize_right = _with_bins(lambda c, n: np.digitize(c, np.histogram(c, n)[1][:-1], right=True))
_rounded_codes = _with_bins(lambda c, n: np.round(c).astype(int))


def _edges_of_the_first_column(codes, factors, num_bins=20):
    codes = np.asarray(codes, dtype=float)
    edges = np.histogram(codes[:, 0], num_bins)[1][:-1]
    return _gap_score(_mi(np.stack([np.digitize(c, edges) for c in codes.T], axis=1), factors), _entropy(factors))


def _bins_per_row(codes, factors, num_bins=20):
    binned = np.stack([np.digitize(r, np.histogram(r, num_bins)[1][:-1]) for r in np.asarray(codes, dtype=float)])
    return _gap_score(_mi(binned, factors), _entropy(factors))


def _histogram2d(codes, factors, num_bins=20):
    """MI from np.histogram2d, which bins the factor too."""
    codes = np.asarray(codes, dtype=float)
    mi = np.zeros((codes.shape[1], factors.shape[1]))
    for j in range(codes.shape[1]):
        for k in range(factors.shape[1]):
            p = np.histogram2d(codes[:, j], factors[:, k], bins=num_bins)[0] / len(codes)
            outer = p.sum(1, keepdims=True) * p.sum(0, keepdims=True)
            nonzero = p > 0
            mi[j, k] = (p[nonzero] * np.log(p[nonzero] / outer[nonzero])).sum()
    return _gap_score(mi, _entropy(factors))


def _standardizes_in_place(codes, factors, num_bins=20):
    codes -= codes.mean(axis=0)
    codes /= codes.std(axis=0)
    return course_vae.mig(codes, factors, num_bins)


def _rescales_through_asarray(codes, factors, num_bins=20):
    codes = np.asarray(codes, dtype=float)  # the caller's own array when it is float64 already
    for j in range(codes.shape[1]):
        codes[:, j] = (codes[:, j] - codes[:, j].min()) / np.ptp(codes[:, j])
    return course_vae.mig(codes, factors, num_bins)


def _as_tensor(codes, factors, num_bins=20):
    return torch.tensor(course_vae.mig(codes, factors, num_bins), dtype=torch.float64)


def _as_array_of_one(codes, factors, num_bins=20):
    return np.array([course_vae.mig(codes, factors, num_bins)])


def _as_zero_dimensional_array(codes, factors, num_bins=20):
    return np.array(course_vae.mig(codes, factors, num_bins))


def _mig_stub(codes, factors, num_bins=20):
    raise NotImplementedError("Exercise")


MISTAKES = {
    "beta_vae_loss": [
        (_beta_on_recon, ["beta multiplies the reconstruction", "1/beta"]),
        (_beta_ignored, ["beta is ignored"]),
        (_beta_on_both, ["both terms"]),
        (_kl_over_beta, ["divided by beta"]),
        (_pixel_averaged, ["averaged over pixels", "number of pixels"]),
        (_weighted_kl_entry, ["['kl']", "without beta"]),
        (_kl_wrong_sign, ["wrong sign"]),
        (_detached, ["no gradient"]),
        (_plus_beta_elbo, ["beta-ELBO itself"]),
        (_unstable_logs, ["wrong loss", "float32"]),
        (_kl_summed_over_batch, ["KL is summed over the batch", "batch size"]),
        (_recon_summed_over_batch, ["reconstruction is summed over the batch"]),
        (_summed_over_batch, ["summed over the batch; average it"]),
        (_bce_default_mean, ["averaged over pixels"]),
        (_beta_minus_one, ["not beta - 1"]),
        (_logvar_as_log_sigma, ["In the KL term", "not of the standard deviation"]),
        (_kl_without_half, ["In the KL term", "twice the reference"]),
        (_kl_without_minus_one, ["In the KL term", "constant term"]),
        (_kl_with_sigma, ["In the KL term", "square root"]),
        (_sigmoid_before_logit_loss, ["sigmoid before a loss that applies its own"]),
        (_bce_of_sigmoid, ["F.binary_cross_entropy(torch.sigmoid(logits), x)", "binary_cross_entropy_with_logits"]),
        (_squared_error, ["not a squared error"]),
        (_columns_only, ["last axis", "all the pixels"]),
        (_sampled_kl, ["estimated from the sample z"]),
        (_fresh_noise_kl, ["different values for the same inputs"]),
        (_negative_recon_entry, ["'recon'", "opposite sign"]),
        (_kl_entry_summed, ["'kl' is summed over the batch"]),
        (_mutates_x, ["changed its input x in place"]),
        (_mutates_logvar, ["changed its input out.logvar in place"]),
        (_loss_as_float, ["['loss'] should return a torch.Tensor, got float"]),
        (_entries_as_floats, ["['recon'] should return a torch.Tensor, got float"]),
        (_tuple, ["should return a dict", "tuple"]),
        (_float32_loss, ["returned float32 for float64 inputs"]),
        (_per_image_loss, ["shape (6,)", "one number for the batch"]),
        (_stub, ["not implemented yet"]),
    ],
    "mig": [
        (_no_normalization, ["divided by that factor's entropy"]),
        (_largest_minus_smallest, ["SECOND largest"]),
        (_ascending_sort, ["increasing order"]),
        (_raw_codes, ["raw continuous codes", "Discretize"]),
        (_averaged_over_code_dimensions, ["per code dimension", "averages over the factors"]),
        (_all_edges, ["edges[:-1]"]),
        (_shared_edges, ["its own bin edges"]),
        (_quantile_bins, ["equal widths"]),
        (_fixed_twenty_bins, ["num_bins argument"]),
        (_code_entropy, ["not by the entropy of the code dimension"]),
        (_per_factor_array, ["one number", "averaged over the factors", "shape (3,)"]),
        (_abs_of_two_smallest, ["two SMALLEST", "abs()"]),
        (_argsort_positions, ["POSITIONS"]),
        (_argmax_then_flat_delete, ["np.delete without axis="]),
        (_argmax_over_factors, ["per code dimension"]),
        (_second_largest_distinct, ["second largest ENTRY", "tie", "MIG = 2/3"]),
        (_second_largest_of_a_set, ["second largest ENTRY", "set()"]),
        (_each_mi_over_code_entropy, ["code dimension's entropy H(z_j)"]),
        (_normalized_mi_score, ["normalized_mutual_info_score"]),
        (_adjusted_mi_score, ["wrong MIG: yours", "mig_report", "adjusted or normalized score"]),
        (_nearest_neighbour_mi, ["wrong MIG: yours", "mig_report", "nearest-neighbour"]),
        (_gap_over_largest_mi, ["not by its largest mutual information"]),
        (_largest_only, ["GAP between the largest and the second largest"]),
        (_gap_to_mean_of_the_rest, ["not to the mean of all the others"]),
        (_entropy_in_bits, ["different log bases", "ln 2 = 0.693"]),
        (_mi_in_bits, ["different log bases", "1/ln 2"]),
        (_entropy_of_the_samples, ["scipy.stats.entropy takes probabilities or counts"]),
        (_ratio_of_means, ["per-factor ratios"]),
        (_summed_over_factors, ["yours sums them"]),
        (_one_bin_fewer, ["exactly num_bins", "num_bins - 1 bins"]),
        (_one_bin_more, ["exactly num_bins", "num_bins + 1"]),
        (_digitize_right, ["right=True", "minimum in a bin of its own"]),
        (_rounded_codes, ["Rounding the codes"]),
        (_edges_of_the_first_column, ["its own bin edges", "another column"]),
        (_bins_per_row, ["each ROW"]),
        (_histogram2d, ["factors were binned too", "num_bins=7"]),
        (_standardizes_in_place, ["changed its input codes in place"]),
        (_rescales_through_asarray, ["changed its input codes in place", "np.asarray"]),
        (_as_tensor, ["should return a Python float", "torch Tensor of shape ()", "float(...)"]),
        (_as_array_of_one, ["should return a Python float", "ndarray of shape (1,)"]),
        (_as_zero_dimensional_array, ["should return a Python float", "ndarray of shape ()"]),
        (_mig_stub, ["not implemented yet"]),
    ],
}


@pytest.mark.parametrize("wrong, words", MISTAKES["beta_vae_loss"])
def test_beta_vae_loss_checker_rejects(wrong, words):
    assert_rejects(checks.beta_vae_loss, wrong, words)


@pytest.mark.parametrize("wrong, words", MISTAKES["mig"])
def test_mig_checker_rejects(wrong, words):
    assert_rejects(checks.mig, wrong, words)


# ---- right answers, written differently ---------------------------------------------------

def _package_loss(x, out, beta):
    return course_vae.vae_loss(x, out, beta=beta)


def _loss_from_distributions(x, out, beta):
    log_p = -F.binary_cross_entropy_with_logits(out.logits, x, reduction="sum") / len(x)
    q = torch.distributions.Normal(out.mu, (0.5 * out.logvar).exp())
    prior = torch.distributions.Normal(torch.zeros_like(out.mu), torch.ones_like(out.mu))
    kl = torch.distributions.kl_divergence(q, prior).sum(dim=1).mean()
    return {"loss": -log_p + beta * kl, "recon": -log_p, "kl": kl}


def _loss_by_hand(x, out, beta):
    p = out.logits
    log_sigmoid, log_one_minus = F.logsigmoid(p), F.logsigmoid(-p)
    recon = -(x * log_sigmoid + (1 - x) * log_one_minus).sum(dim=(1, 2, 3))
    sigma2 = out.logvar.exp()
    kl = 0.5 * torch.sum(sigma2 + out.mu**2 - 1.0 - out.logvar, dim=-1)
    return {"loss": torch.mean(recon + beta * kl), "recon": recon.mean(), "kl": kl.mean(), "extra": beta}


def _loss_summed_then_divided(x, out, beta):
    batch = x.shape[0]
    recon = F.binary_cross_entropy_with_logits(out.logits, x, reduction="sum") / batch
    kl = -0.5 * torch.sum(1 + out.logvar - out.mu.pow(2) - out.logvar.exp()) / batch
    return {"loss": recon + beta * kl, "recon": recon, "kl": kl}


def _loss_in_a_loop(x, out, beta):
    recons, kls = [], []
    for i in range(x.shape[0]):
        recons.append(F.binary_cross_entropy_with_logits(out.logits[i], x[i], reduction="sum"))
        kls.append(0.5 * torch.sum(out.logvar[i].exp() + out.mu[i] ** 2 - 1 - out.logvar[i]))
    recon, kl = torch.stack(recons), torch.stack(kls)
    return {"loss": torch.mean(recon + beta * kl), "recon": recon.mean(), "kl": kl.mean()}


def _loss_with_softplus(x, out, beta):
    recon = (F.softplus(out.logits) - x * out.logits).flatten(1).sum(1)  # -log p(x|z), stable
    kl = 0.5 * (out.logvar.exp() + out.mu.square() - 1 - out.logvar).sum(-1)
    return {"loss": recon.mean() + beta * kl.mean(), "recon": recon.mean(), "kl": kl.mean()}


def _beta_as_float32_tensor(x, out, beta):
    """torch.tensor(beta) is float32, but a 0-d tensor does not change the dtype of the batch's terms and the
    probes' betas are exact in float32; harmless."""
    bce, kl = _parts(x, out)
    return _terms(bce.sum(1), kl.sum(1), (bce.sum(1) + torch.tensor(beta) * kl.sum(1)).mean())


@pytest.mark.parametrize("right", [_package_loss, _loss_from_distributions, _loss_by_hand, _loss_summed_then_divided,
                                   _loss_in_a_loop, _loss_with_softplus, _beta_as_float32_tensor])
def test_beta_vae_loss_checker_accepts_right_answers(right, capsys):
    checks.beta_vae_loss(right)
    assert capsys.readouterr().out.startswith("✓ beta_vae_loss")


def _mig_in_bits_with_loops(codes, factors, num_bins=20):
    """Contingency tables by hand, logarithms in base 2: the ratio does not care."""
    codes, factors = np.asarray(codes, dtype=float), np.asarray(factors)

    def mutual_information(a, b):
        _, a = np.unique(a, return_inverse=True)
        _, b = np.unique(b, return_inverse=True)
        joint = np.zeros((a.max() + 1, b.max() + 1))
        np.add.at(joint, (a, b), 1.0)
        joint /= joint.sum()
        outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
        nonzero = joint > 0
        return float((joint[nonzero] * np.log2(joint[nonzero] / outer[nonzero])).sum())

    gaps = []
    for k in range(factors.shape[1]):
        values = []
        for j in range(codes.shape[1]):
            edges = np.linspace(codes[:, j].min(), codes[:, j].max(), num_bins + 1)
            values.append(mutual_information(np.digitize(codes[:, j], edges[:-1]), factors[:, k]))
        first, second = sorted(values, reverse=True)[:2]
        gaps.append((first - second) / mutual_information(factors[:, k], factors[:, k]))
    return sum(gaps) / len(gaps)


def _mig_with_partition(codes, factors, num_bins=20):
    two = np.partition(_mi(_binned(np.asarray(codes, dtype=float), num_bins), factors), -2, axis=0)[-2:]  # (2, K)
    return float(np.mean((two[1] - two[0]) / _entropy(factors)))


def _mig_with_scipy_entropy_in_bits(codes, factors, num_bins=20):
    mi = _mi(_binned(np.asarray(codes, dtype=float), num_bins), factors) / math.log(2)
    entropy = np.array([scipy.stats.entropy(np.unique(v, return_counts=True)[1], base=2) for v in factors.T])
    top = np.sort(mi, axis=0)
    return float(((top[-1] - top[-2]) / entropy).mean())


def _mig_normalizing_first(codes, factors, num_bins=20):
    normalized = _mi(_binned(np.asarray(codes, dtype=float), num_bins), factors) / _entropy(factors)  # (d, K)
    top = -np.sort(-normalized, axis=0)
    return float(np.mean(top[0] - top[1]))


def _mig_with_kbins_discretizer(codes, factors, num_bins=20):
    binned = KBinsDiscretizer(n_bins=num_bins, encode="ordinal", strategy="uniform").fit_transform(
        np.asarray(codes, dtype=float)).astype(int)
    return _gap_score(_mi(binned, factors), _entropy(factors))


def _mig_with_searchsorted(codes, factors, num_bins=20):
    binned = np.stack([np.searchsorted(np.histogram_bin_edges(c, num_bins)[:-1], c, side="right")
                       for c in np.asarray(codes, dtype=float).T], axis=1)
    return _gap_score(_mi(binned, factors), _entropy(factors))


def _mig_in_torch(codes, factors, num_bins=20):
    """bucketize, bincount and topk; the float32 codes are binned in float32."""
    z, v = torch.as_tensor(codes), torch.as_tensor(factors).long()

    def mutual_information(a, b):
        a, b = torch.unique(a, return_inverse=True)[1], torch.unique(b, return_inverse=True)[1]
        rows, cols = int(a.max()) + 1, int(b.max()) + 1
        joint = torch.bincount(a * cols + b, minlength=rows * cols).reshape(rows, cols).double() / len(a)
        outer = joint.sum(1, keepdim=True) * joint.sum(0, keepdim=True)
        nonzero = joint > 0
        return (joint[nonzero] * (joint[nonzero] / outer[nonzero]).log()).sum()

    binned = []
    for column in z.T.contiguous():
        edges = torch.linspace(float(column.min()), float(column.max()), num_bins + 1, dtype=column.dtype)
        binned.append(torch.bucketize(column, edges[:-1], right=True))
    gaps = []
    for factor in v.T:
        largest, second = torch.topk(torch.stack([mutual_information(b, factor) for b in binned]), 2).values
        gaps.append((largest - second) / mutual_information(factor, factor))
    return torch.stack(gaps).mean().item()


def _mig_on_standardized_copy(codes, factors, num_bins=20):
    codes = (codes - codes.mean(axis=0)) / codes.std(axis=0)  # a new array; equal-width bins do not care
    return course_vae.mig(codes, factors, num_bins)


def _mig_with_crosstabs(codes, factors, num_bins=20):
    def mutual_information(a, b):
        p = pd.crosstab(a, b).to_numpy() / len(a)
        outer = p.sum(1, keepdims=True) * p.sum(0, keepdims=True)
        nonzero = p > 0
        return (p[nonzero] * np.log(p[nonzero] / outer[nonzero])).sum()

    gaps = []
    for v in factors.T:
        values = sorted((mutual_information(np.digitize(c, np.histogram(c, num_bins)[1][:-1]), v) for c in codes.T),
                        reverse=True)
        gaps.append((values[0] - values[1]) / mutual_information(v, v))
    return float(np.mean(gaps))


def _mig_as_numpy_float(codes, factors, num_bins=20):
    return np.mean(mig_report(codes, factors, num_bins).gaps)  # np.float64 is a float


@pytest.mark.parametrize("right", [course_vae.mig, _mig_in_bits_with_loops, _mig_with_partition,
                                   _mig_with_scipy_entropy_in_bits, _mig_normalizing_first, _mig_with_kbins_discretizer,
                                   _mig_with_searchsorted, _mig_in_torch, _mig_on_standardized_copy,
                                   _mig_with_crosstabs, _mig_as_numpy_float])
def test_mig_checker_accepts_right_answers(right, capsys):
    checks.mig(right)
    assert capsys.readouterr().out.startswith("✓ mig")


def test_mig_in_bits_equals_mig_in_nats():
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 4, size=(300, 3))
    codes = factors + 0.5 * rng.normal(size=(300, 3))
    assert _mig_in_bits_with_loops(codes, factors) == pytest.approx(course_vae.mig(codes, factors), abs=1e-12)
    assert math.isfinite(_mig_in_bits_with_loops(codes, factors, 5))


@pytest.mark.parametrize("name", ["beta_vae_loss", "mig"])
def test_checkers_accept_the_solution_and_reject_the_exercise_stub(name, capsys):
    checker = checks.EXERCISES[name]
    checker(definitions(ROOT / "solutions" / "05_beta_vae.ipynb")[name])
    assert capsys.readouterr().out.startswith(f"✓ {name}")
    assert_rejects(checker, definitions(ROOT / "exercises" / "05_beta_vae.ipynb")[name], ["not implemented yet"])


def test_mig_probes_known_answer_and_float32_codes():
    (_, codes64, factors64, bins64), (_, codes32, factors32, bins32), (label, codes, factors, num_bins) = checks._mig_cases()
    assert codes64.dtype == np.float64 and codes32.dtype == np.float32
    assert factors32.max(axis=0).max() + 1 > bins32  # a factor with more values than bins
    assert "MIG = 2/3" in label
    assert course_vae.mig(codes, factors, num_bins) == pytest.approx(2 / 3, abs=1e-12)
    # float32 codes: binning them as they are or as float64 gives the same bins, so both answers pass
    assert np.array_equal(_binned(codes32, bins32), _binned(codes32.astype(np.float64), bins32))


def test_every_mig_hint_shows_on_some_probe():
    shown = {}
    for _, codes, factors, num_bins in checks._mig_cases():
        reference = course_vae.mig(codes, factors, num_bins)
        for value, hint in checks._wrong_migs(codes, factors, num_bins):
            shown[hint] = shown.get(hint, False) or abs(value - reference) > 1e-6
    assert all(shown.values()), [hint for hint, seen in shown.items() if not seen]
