"""The mutual information gap (MIG) of Chen et al. (2018), computed as disentanglement_lib does.

For each ground-truth factor ``v_k``, find the two code dimensions that carry the most
information about it; MIG is the gap between the two, as a fraction of the factor's
entropy, averaged over the factors:

    MIG = 1/K * sum_k (I(z_a; v_k) - I(z_b; v_k)) / H(v_k),

where ``a`` and ``b`` are the dimensions with the largest and the second largest mutual
information with ``v_k``. A code in which every factor lives in one dimension of its own
scores near 1; a code in which each factor is smeared over several dimensions (for
example a rotation of a perfect code) scores far lower, although it carries the same
information; independent noise scores near 0.

The codes are continuous, so each dimension is first cut into ``num_bins`` equal-width
bins (``np.histogram`` edges, ``np.digitize``) and the mutual informations and entropies
are those of the discrete variables (``sklearn.metrics.mutual_info_score``, in nats).
Taught in chapter 5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import mutual_info_score


def _as_matrix(values, name: str) -> np.ndarray:
    array = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values)
    if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D array (N examples, columns) with N >= 2, got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got dtype {array.dtype}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return array


def _check_bins(num_bins: object) -> None:
    if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or num_bins < 2:
        raise ValueError(f"num_bins must be an integer >= 2, got {num_bins!r}")


def discretize(codes, num_bins: int = 20) -> np.ndarray:
    """Cut each code dimension into ``num_bins`` equal-width bins: ``(N, d) -> (N, d)`` ints.

    The bin edges of a column are those of ``np.histogram(column, num_bins)``, from its
    minimum to its maximum; ``np.digitize`` against all edges but the last gives bin
    numbers 1 ... ``num_bins`` (the maximum falls in the last bin).
    """
    _check_bins(num_bins)
    codes = _as_matrix(codes, "codes").astype(np.float64)
    binned = np.zeros(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram(codes[:, j], num_bins)[1]
        binned[:, j] = np.digitize(codes[:, j], edges[:-1])
    return binned


def mutual_information_matrix(discrete_codes, factors) -> np.ndarray:
    """``I(z_j; v_k)`` in nats between discrete codes and factors: ``(N, d), (N, K) -> (d, K)``."""
    discrete_codes, factors = _as_matrix(discrete_codes, "discrete_codes"), _as_matrix(factors, "factors")
    if len(discrete_codes) != len(factors):
        raise ValueError(f"codes and factors must have the same number of rows, got {len(discrete_codes)} and {len(factors)}")
    mi = np.zeros((discrete_codes.shape[1], factors.shape[1]))
    for j in range(discrete_codes.shape[1]):
        for k in range(factors.shape[1]):
            mi[j, k] = mutual_info_score(factors[:, k], discrete_codes[:, j])
    return mi


def factor_entropies(factors) -> np.ndarray:
    """The entropy ``H(v_k)`` of each discrete factor, in nats: ``(N, K) -> (K,)``."""
    factors = _as_matrix(factors, "factors")
    return np.array([mutual_info_score(factors[:, k], factors[:, k]) for k in range(factors.shape[1])])


@dataclass
class MIGReport:
    """Everything :func:`mig_report` computes, for tables and heatmaps."""

    score: float  # MIG: the average of ``gaps``
    gaps: np.ndarray  # (K,) normalized gap of each factor
    mutual_information: np.ndarray  # (d, K) I(z_j; v_k) in nats
    entropies: np.ndarray  # (K,) H(v_k) in nats


def mig_report(codes, factors, num_bins: int = 20) -> MIGReport:
    """MIG with its parts: per-factor gaps, the mutual-information matrix, the entropies.

    Args:
        codes: ``(N, d)`` continuous codes, e.g. the posterior means of N images.
        factors: ``(N, K)`` integer indices of the ground-truth factors of the images.
        num_bins: bins per code dimension (disentanglement_lib's default is 20).

    Returns:
        A :class:`MIGReport`.

    Raises:
        ValueError: for malformed arrays, fewer than two code dimensions, a constant
            factor (zero entropy) or ``num_bins < 2``.
    """
    codes, factors = _as_matrix(codes, "codes"), _as_matrix(factors, "factors")
    if len(codes) != len(factors):
        raise ValueError(f"codes and factors must have the same number of rows, got {len(codes)} and {len(factors)}")
    if codes.shape[1] < 2:
        raise ValueError(f"MIG compares the two most informative code dimensions; codes have {codes.shape[1]}")
    if factors.dtype.kind == "f":
        raise ValueError("factors must be integer indices of the factor values, got floats")
    entropies = factor_entropies(factors)
    if (entropies <= 0).any():
        raise ValueError(f"factor column(s) {np.flatnonzero(entropies <= 0).tolist()} are constant (zero entropy)")
    mi = mutual_information_matrix(discretize(codes, num_bins), factors)
    top_two = np.sort(mi, axis=0)[::-1][:2]  # (2, K): largest and runner-up for each factor
    gaps = (top_two[0] - top_two[1]) / entropies
    return MIGReport(score=float(gaps.mean()), gaps=gaps, mutual_information=mi, entropies=entropies)


def mig(codes, factors, num_bins: int = 20) -> float:
    """The mutual information gap of ``codes (N, d)`` for integer ``factors (N, K)``.

    See the module docstring and :func:`mig_report`, which also returns its parts. The
    exercise of chapter 5 writes this function.
    """
    return mig_report(codes, factors, num_bins).score
