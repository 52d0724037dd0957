"""Chapter 5's checkers: the beta-weighted loss and MIG, against a catalogue of slips."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import mutual_info_score

import course_vae
from course_vae.checks import beta_vae as checks

from .checker_harness import assert_rejects


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
        (_per_factor_array, ["one number"]),
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


@pytest.mark.parametrize("right", [_package_loss, _loss_from_distributions, _loss_by_hand])
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


def _mig_as_tensor(codes, factors, num_bins=20):
    return torch.tensor(course_vae.mig(codes, factors, num_bins), dtype=torch.float64)


@pytest.mark.parametrize("right", [course_vae.mig, _mig_in_bits_with_loops, _mig_as_tensor])
def test_mig_checker_accepts_right_answers(right, capsys):
    checks.mig(right)
    assert capsys.readouterr().out.startswith("✓ mig")


def test_mig_in_bits_equals_mig_in_nats():
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 4, size=(300, 3))
    codes = factors + 0.5 * rng.normal(size=(300, 3))
    assert _mig_in_bits_with_loops(codes, factors) == pytest.approx(course_vae.mig(codes, factors), abs=1e-12)
    assert math.isfinite(_mig_in_bits_with_loops(codes, factors, 5))
