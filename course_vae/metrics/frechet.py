"""The Frechet distance between Gaussians fitted to two sets of features (Heusel et al. 2017).

Fit a Gaussian to each set, ``N(m_a, C_a)`` and ``N(m_b, C_b)`` (sample mean and
covariance), and return the squared 2-Wasserstein (Frechet) distance between them:

    FD = ||m_a - m_b||^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2)).

With the features of an Inception network this is the FID; chapter 9 uses the
penultimate layer of a small MNIST classifier trained in the chapter instead
(:class:`course_vae.DigitClassifier`), so the number is comparable only between models
measured with the same classifier. The matrix square root is ``scipy.linalg.sqrtm``;
its trace is checked against a second computation that needs no square root of the
non-symmetric ``C_a C_b``: the eigenvalues of ``C_a C_b`` are those of the symmetric
positive semidefinite ``C_a^(1/2) C_b C_a^(1/2)``, so ``tr (C_a C_b)^(1/2)`` is the sum of
the square roots of that matrix's eigenvalues. Taught in chapter 9.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

#: Largest accepted gap between the two computations of tr (C_a C_b)^(1/2), relative to
#: tr C_a + tr C_b (the size of the other terms of the distance).
TRACE_RTOL = 1e-6


def _features(values, name: str) -> np.ndarray:
    array = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D array (N examples, F features) with N >= 2, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return array


def trace_sqrt_product(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
    """``tr (C_a C_b)^(1/2)`` for symmetric PSD ``(F, F)`` covariances, by symmetric eigensolvers.

    The sum of the square roots of the eigenvalues of ``C_a^(1/2) C_b C_a^(1/2)``, which
    are those of ``C_a C_b`` (``XY`` and ``YX`` have the same eigenvalues; take
    ``X = C_a^(1/2)``, ``Y = C_a^(1/2) C_b``). Round-off negatives are clipped to 0.
    """
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(values.clip(min=0))) @ vectors.T
    middle = root_a @ cov_b @ root_a
    return float(np.sqrt(np.linalg.eigvalsh((middle + middle.T) / 2).clip(min=0)).sum())


def gaussian_frechet_distance(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    """``||m_a - m_b||^2 + tr(C_a + C_b - 2 sqrtm(C_a C_b))`` for means ``(F,)`` and covariances ``(F, F)``.

    ``scipy.linalg.sqrtm`` can warn when ``C_a C_b`` is singular or nearly so (e.g. a
    feature that hardly varies in one set), also when its result is fine. So its trace
    is checked instead: against :func:`trace_sqrt_product`, and accepted when the two
    differ by at most ``TRACE_RTOL * (tr C_a + tr C_b)`` (this covers imaginary parts
    too). Only when they differ by more does this function warn (``RuntimeWarning``,
    with both values), and it then uses the symmetric computation, the more accurate one
    for covariances.
    """
    mean_a, mean_b = np.asarray(mean_a, dtype=np.float64), np.asarray(mean_b, dtype=np.float64)
    cov_a, cov_b = np.atleast_2d(cov_a).astype(np.float64), np.atleast_2d(cov_b).astype(np.float64)
    k = mean_a.shape[-1]
    if mean_b.shape != (k,) or cov_a.shape != (k, k) or cov_b.shape != (k, k):
        raise ValueError(f"means must be (F,) and covariances (F, F) with the same F, got {mean_a.shape}, "
                         f"{cov_a.shape}, {mean_b.shape}, {cov_b.shape}")
    with warnings.catch_warnings():  # a singular C_a C_b alone says nothing: judged by the check below
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(cov_a @ cov_b)
    trace_root = complex(np.trace(root))
    check = trace_sqrt_product(cov_a, cov_b)
    scale = float(np.trace(cov_a) + np.trace(cov_b))
    if abs(trace_root - check) <= TRACE_RTOL * max(scale, np.finfo(float).tiny):  # False for NaN too
        trace = trace_root.real
    else:
        warnings.warn(f"scipy.linalg.sqrtm gave tr (C_a C_b)^(1/2) = {trace_root:.6g}, but the symmetric "
                      f"eigenvalue computation gives {check:.6g} (tr C_a + tr C_b = {scale:.6g}); "
                      "using the latter", RuntimeWarning, stacklevel=2)
        trace = check
    return float(np.sum((mean_a - mean_b) ** 2) + scale - 2.0 * trace)


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
