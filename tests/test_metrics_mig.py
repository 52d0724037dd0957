"""MIG (course_vae.metrics.mig) against disentanglement_lib's recipe, with calibrated bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sklearn.metrics

from course_vae import ShapesGrid, mig, mig_report
from course_vae.metrics import discretize, factor_entropies, mutual_information_matrix


def _grid_factors() -> np.ndarray:
    """Every combination of the default shapes grid: (1152, 5) indices."""
    counts = ShapesGrid().counts
    return np.array(np.unravel_index(np.arange(int(np.prod(counts))), counts)).T


def _random_factors(n: int, counts=(3, 3, 4, 8, 4), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, c, size=n) for c in counts], axis=1)


def _disentanglement_lib_mig(mus: np.ndarray, ys: np.ndarray, num_bins: int = 20) -> float:
    """disentanglement_lib's _compute_mig, line by line, on (num_codes, N) / (num_factors, N) arrays."""
    discretized = np.zeros_like(mus)
    for i in range(mus.shape[0]):
        discretized[i, :] = np.digitize(mus[i, :], np.histogram(mus[i, :], num_bins)[1][:-1])
    m = np.zeros([mus.shape[0], ys.shape[0]])
    for i in range(mus.shape[0]):
        for j in range(ys.shape[0]):
            m[i, j] = sklearn.metrics.mutual_info_score(ys[j, :], discretized[i, :])
    h = np.array([sklearn.metrics.mutual_info_score(ys[j, :], ys[j, :]) for j in range(ys.shape[0])])
    sorted_m = np.sort(m, axis=0)[::-1]
    return float(np.mean(np.divide(sorted_m[0, :] - sorted_m[1, :], h[:])))


def test_agrees_with_disentanglement_lib_recipe():
    rng = np.random.default_rng(1)
    factors = _random_factors(600, seed=1)
    codes = np.concatenate([factors[:, [3, 4]] + 0.3 * rng.normal(size=(600, 2)), rng.normal(size=(600, 4))], axis=1)
    codes[:, 2] += 0.5 * factors[:, 1]
    for num_bins in (20, 7):
        expected = _disentanglement_lib_mig(codes.T, factors.T, num_bins)
        assert mig(codes, factors, num_bins) == pytest.approx(expected, abs=1e-12)


def test_factors_as_codes_score_one_on_the_full_grid():
    factors = _grid_factors()
    report = mig_report(factors.astype(float), factors)
    # on the full grid the factors are exactly independent: the runner-up MI is 0
    assert report.score == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(report.entropies, np.log(ShapesGrid().counts), rtol=1e-12)
    np.testing.assert_allclose(report.mutual_information, np.diag(report.entropies), atol=1e-12)


def test_factors_as_codes_score_near_one_on_a_sample():
    n, counts = 2000, (3, 3, 4, 8, 4)
    factors = _random_factors(n, counts, seed=2)
    report = mig_report(factors + 0.0, factors)
    # the largest MI is the factor's (sample) entropy; the runner-up is the sampling MI
    # with an independent factor, about (n_a - 1)(n_b - 1) / (2 n) nats (Miller-Madow bias)
    np.testing.assert_allclose(np.sort(report.mutual_information, axis=0)[-1], report.entropies, atol=1e-12)
    bias = (max(counts) - 1) ** 2 / (2 * n)
    shortfall = 1 - report.gaps
    assert (shortfall >= 0).all() and (shortfall <= 3 * bias / report.entropies).all()
    assert 0.98 < report.score < 1.0


def test_independent_noise_scores_near_zero():
    factors = _random_factors(2000, seed=3)
    noise = np.random.default_rng(3).normal(size=(2000, 10))
    report = mig_report(noise, factors)
    bias = 19 * (np.array((3, 3, 4, 8, 4)) - 1) / (2 * 2000)  # expected MI of 20 bins with an independent factor
    np.testing.assert_allclose(report.mutual_information.mean(axis=0), bias, rtol=0.35)
    assert 0 <= report.score < 0.02


def test_a_duplicated_dimension_gives_that_factor_gap_zero():
    factors = _grid_factors()
    codes = np.concatenate([factors, factors[:, [3]]], axis=1).astype(float)
    report = mig_report(codes, factors)
    np.testing.assert_allclose(report.gaps, [1, 1, 1, 0, 1], atol=1e-12)
    assert report.score == pytest.approx(0.8, abs=1e-12)


def test_a_rotation_of_the_factors_scores_low():
    factors = _grid_factors()
    standard = (factors - factors.mean(0)) / factors.std(0)
    from scipy.stats import special_ortho_group

    scores = [mig(standard @ special_ortho_group.rvs(5, random_state=seed), factors) for seed in range(20)]
    # the same information, spread over every dimension: about 0.2 on average, at most 0.33 in 20 draws
    assert np.mean(scores) < 0.25 and max(scores) < 0.4
    turn = np.eye(5)
    turn[3:, 3:] = np.array([[1, -1], [1, 1]]) / math.sqrt(2)  # 45 degrees in the (x, y) plane
    gaps = mig_report(standard @ turn, factors).gaps
    # both turned dimensions tell as much about x as about y (y's values are symmetric about 0)
    np.testing.assert_allclose(gaps, [1, 1, 1, 0, 0], atol=1e-12)


def test_invariant_to_affine_maps_and_order_of_dimensions():
    factors = _random_factors(800, seed=5)
    rng = np.random.default_rng(5)
    codes = factors[:, [0, 3, 4]] + 0.4 * rng.normal(size=(800, 3))
    score = mig(codes, factors)
    assert mig(-3.0 * codes[:, ::-1] + 7.0, factors) == pytest.approx(score, abs=1e-12)


def test_discretize_uses_equal_width_bins_per_dimension():
    codes = np.array([[0.0, 5.0], [0.49, 5.0], [0.51, 5.0], [1.0, 5.0]])
    binned = discretize(codes, num_bins=2)
    assert binned[:, 0].tolist() == [1, 1, 2, 2]  # the maximum falls in the last bin
    assert len(set(binned[:, 1].tolist())) == 1  # a constant dimension lands in one bin
    assert discretize(np.linspace(0, 1, 101)[:, None], 20).max() == 20


def test_mutual_information_and_entropy_helpers():
    factors = _grid_factors()
    mi = mutual_information_matrix(factors, factors)
    assert mi.shape == (5, 5)
    np.testing.assert_allclose(factor_entropies(factors), np.log([3, 3, 4, 8, 4]), rtol=1e-12)


def test_accepts_torch_tensors():
    import torch

    factors = _grid_factors()
    assert mig(torch.as_tensor(factors, dtype=torch.float32), torch.as_tensor(factors)) == pytest.approx(1.0)


@pytest.mark.parametrize("codes, factors, match", [
    (np.zeros(10), np.zeros((10, 1), dtype=int), "2-D array"),
    (np.zeros((10, 2)), np.zeros((9, 1), dtype=int), "same number of rows"),
    (np.random.default_rng(0).normal(size=(10, 2)), np.zeros((10, 1), dtype=float), "integer indices"),
    (np.random.default_rng(0).normal(size=(10, 2)), np.zeros((10, 1), dtype=int), "constant"),
    (np.random.default_rng(0).normal(size=(10, 1)), np.arange(10)[:, None], "two most informative"),
    (np.full((10, 2), np.nan), np.arange(10)[:, None], "NaN"),
])
def test_bad_inputs_are_named(codes, factors, match):
    with pytest.raises(ValueError, match=match):
        mig(codes, factors)


@pytest.mark.parametrize("num_bins", [1, 2.5, True])
def test_bad_num_bins(num_bins):
    with pytest.raises(ValueError, match="num_bins"):
        mig(np.random.default_rng(0).normal(size=(10, 2)), np.arange(10)[:, None], num_bins)
