"""The Frechet distance (course_vae.metrics.frechet) against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_vae.metrics import frechet_distance, gaussian_frechet_distance


def test_identical_sets_are_at_distance_zero():
    features = np.random.default_rng(0).normal(size=(500, 6)) @ np.random.default_rng(1).normal(size=(6, 6))
    assert abs(frechet_distance(features, features)) < 1e-7
    assert abs(frechet_distance(torch.as_tensor(features), features.copy())) < 1e-7


def test_diagonal_gaussians_match_the_closed_form():
    # diagonal covariances: tr(Ca + Cb - 2 sqrt(Ca Cb)) = sum_i (sa_i - sb_i)^2
    ma, mb = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    sa, sb = np.array([1.0, 2.0, 0.5]), np.array([3.0, 1.0, 0.5])
    expected = np.sum((ma - mb) ** 2) + np.sum((sa - sb) ** 2)
    got = gaussian_frechet_distance(ma, np.diag(sa**2), mb, np.diag(sb**2))
    assert got == pytest.approx(expected, rel=1e-10)


def test_commuting_covariances_match_the_closed_form():
    # Ca = Q diag(a) Q^T, Cb = Q diag(b) Q^T commute: the trace term is sum (sqrt a - sqrt b)^2
    q, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(4, 4)))
    a, b = np.array([1.0, 4.0, 9.0, 0.25]), np.array([4.0, 1.0, 1.0, 0.25])
    ca, cb = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    ma, mb = np.ones(4), np.zeros(4)
    expected = 4.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert gaussian_frechet_distance(ma, ca, mb, cb) == pytest.approx(expected, rel=1e-9)


def test_samples_of_two_gaussians_approach_the_closed_form():
    rng = np.random.default_rng(3)
    n = 200_000
    a = rng.normal(size=(n, 2)) * np.array([1.0, 2.0]) + np.array([0.0, 0.0])
    b = rng.normal(size=(n, 2)) * np.array([2.0, 2.0]) + np.array([3.0, 0.0])
    expected = 9.0 + 1.0  # ||m_a - m_b||^2 + sum (s_a - s_b)^2
    assert frechet_distance(a, b) == pytest.approx(expected, abs=0.05)


def test_features_constant_in_both_sets_are_dropped_without_a_warning():
    import warnings

    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(50, 4)), rng.normal(size=(60, 4)) + 1.0
    pad = lambda m: np.concatenate([m, np.zeros((len(m), 3))], axis=1)  # three dead units
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert frechet_distance(pad(a), pad(b)) == pytest.approx(frechet_distance(a, b), rel=1e-12)
    assert frechet_distance(np.zeros((5, 2)), np.zeros((7, 2))) == 0.0


def test_bad_inputs_are_refused_with_their_shapes():
    with pytest.raises(ValueError, match="same number of features"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="2-D array"):
        frechet_distance(np.zeros(5), np.zeros((5, 1)))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.full((5, 2), np.nan), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="covariances"):
        gaussian_frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))


def test_a_singular_covariance_product_gives_the_closed_form_without_a_warning():
    # a feature that never varies in set a (a unit that never fires on a model's samples) but
    # does in set b: C_a C_b is singular, sqrtm warns about it, yet its result is right; the
    # trace check accepts it, and nothing is emitted
    import warnings

    import scipy.linalg

    ma, mb = np.zeros(3), np.array([1.0, 0.0, 2.0])
    ca, cb = np.diag([1.0, 4.0, 0.0]), np.diag([4.0, 1.0, 9.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scipy.linalg.sqrtm(ca @ cb)
    assert any(issubclass(w.category, scipy.linalg.LinAlgWarning) for w in caught)  # what we silence
    expected = 5.0 + (1.0 - 2.0) ** 2 + (2.0 - 1.0) ** 2 + (0.0 - 3.0) ** 2
    rng = np.random.default_rng(5)
    a = rng.normal(size=(40, 3)) * np.array([1.0, 2.0, 0.0])  # third feature dead in a only
    b = rng.normal(size=(50, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gaussian_frechet_distance(ma, ca, mb, cb) == pytest.approx(expected, rel=1e-12)
        frechet_distance(a, b)


def test_an_inaccurate_sqrtm_is_reported_and_replaced(monkeypatch):
    import scipy.linalg

    from course_vae.metrics.frechet import trace_sqrt_product

    ma, mb = np.array([0.0, 1.0]), np.array([1.0, 1.0])
    ca, cb = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    expected = 1.0 + (1.0 - 3.0) ** 2 + (2.0 - 1.0) ** 2
    assert trace_sqrt_product(ca, cb) == pytest.approx(3.0 + 2.0, rel=1e-12)
    true_sqrtm = scipy.linalg.sqrtm
    monkeypatch.setattr(scipy.linalg, "sqrtm", lambda m: true_sqrtm(m) + 1e-3 * np.eye(len(m)))
    with pytest.warns(RuntimeWarning, match="sqrtm gave"):
        assert gaussian_frechet_distance(ma, ca, mb, cb) == pytest.approx(expected, rel=1e-12)
    monkeypatch.setattr(scipy.linalg, "sqrtm", lambda m: np.full_like(m, np.nan))
    with pytest.warns(RuntimeWarning, match="sqrtm gave"):
        assert gaussian_frechet_distance(ma, ca, mb, cb) == pytest.approx(expected, rel=1e-12)
