"""The Frechet distance between Gaussians fitted to two sets of features (Heusel et al. 2017).

Fit a Gaussian to each set, ``N(m_a, C_a)`` and ``N(m_b, C_b)`` (sample mean and
covariance), and return the squared 2-Wasserstein (Frechet) distance between them:

    FD = ||m_a - m_b||^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2)).

With the features of an Inception network this is the FID; chapter 9 uses the
penultimate layer of a small MNIST classifier trained in the chapter instead
(:class:`course_vae.DigitClassifier`), so the number is comparable only between models
measured with the same classifier. The matrix square root is ``scipy.linalg.sqrtm``.
Taught in chapter 9.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


def _features(values, name: str) -> np.ndarray:
    array = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D array (N examples, F features) with N >= 2, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return array


def gaussian_frechet_distance(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    """``||m_a - m_b||^2 + tr(C_a + C_b - 2 sqrtm(C_a C_b))`` for means ``(F,)`` and covariances ``(F, F)``.

    Takes the real part of ``sqrtm`` (round-off can leave tiny imaginary parts).
    """
    mean_a, mean_b = np.asarray(mean_a, dtype=np.float64), np.asarray(mean_b, dtype=np.float64)
    cov_a, cov_b = np.atleast_2d(cov_a).astype(np.float64), np.atleast_2d(cov_b).astype(np.float64)
    k = mean_a.shape[-1]
    if mean_b.shape != (k,) or cov_a.shape != (k, k) or cov_b.shape != (k, k):
        raise ValueError(f"means must be (F,) and covariances (F, F) with the same F, got {mean_a.shape}, "
                         f"{cov_a.shape}, {mean_b.shape}, {cov_b.shape}")
    root = scipy.linalg.sqrtm(cov_a @ cov_b)
    root = np.real(root)
    return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(root))


def frechet_distance(features_a, features_b) -> float:
    """The Frechet distance between Gaussians fitted to ``features_a (N, F)`` and ``features_b (M, F)``.

    Arrays or tensors; sample means and (unbiased) covariances, in float64. 0 for two
    identical sets, up to round-off. Features that take one and the same value in every
    row of both sets (e.g. a ReLU unit that is never active) add exactly 0 to the
    distance and would make the covariances singular, so they are dropped first.
    Chapter 9.

    Raises:
        ValueError: if a set is not 2-D with at least two rows, holds NaN, or the feature
            widths differ.
    """
    a, b = _features(features_a, "features_a"), _features(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"both sets need the same number of features, got {a.shape[1]} and {b.shape[1]}")
    both = np.concatenate([a, b])
    varying = (both != both[0]).any(axis=0)
    if not varying.any():
        return 0.0
    a, b = a[:, varying], b[:, varying]
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    return gaussian_frechet_distance(a.mean(0), cov_a, b.mean(0), cov_b)
