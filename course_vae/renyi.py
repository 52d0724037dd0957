"""The Renyi (variational alpha) bound from importance weights. Taught in chapter 10."""

from __future__ import annotations

import math

import torch

# Below this |(1 - alpha) (log w - mean)| the log-mean-exp is taken as log1p(mean(expm1(.)))
# (accurate to the last digit as alpha -> 1); above it by logsumexp.
_SMALL = 1.0


def renyi_bound(log_w: torch.Tensor, alpha: float) -> torch.Tensor:
    """The Renyi bound ``L_alpha`` of each example from ``K`` importance log-weights: ``(B,)``.

    With ``log w_k = log p(x, z_k) - log q(z_k | x)`` and ``z_k ~ q(z | x)`` (Li and
    Turner, 2016),

        L_alpha = 1 / (1 - alpha) * log (1/K) sum_k exp((1 - alpha) log w_k)
                = 1 / (1 - alpha) * [logsumexp_k((1 - alpha) log w_k) - log K].

    ``alpha = 1`` (the limit) is the mean of the log-weights, a Monte Carlo ELBO;
    ``alpha = 0`` is ``logsumexp_k(log w_k) - log K``, the importance-weighted bound
    :func:`course_vae.iwae_bound` on the same weights. For fixed weights the value never
    increases with ``alpha`` (a power mean); ``alpha < 0`` is allowed and gives values
    above ``L_0``, which are not guaranteed lower bounds on ``log p(x)``.

    Both ends are computed exactly (no division by a number near 0). In between, the
    weights are centred on their mean ``c`` and the result is
    ``c + (1/t) log mean_k exp(t (log w_k - c))`` with ``t = 1 - alpha``, in float64;
    where ``t (log w_k - c)`` is small, the log-mean-exp is ``log1p(mean(expm1(.)))``,
    which stays accurate as ``alpha -> 1`` (``1 - alpha = 1e-8`` loses nothing), and
    elsewhere a max-shifted log-sum-exp, which cannot overflow (log-weights of ``-1e4``
    or ``+1e3`` are fine). Differentiable in ``log_w``.

    Args:
        log_w: ``(K, B)`` log-weights, ``K`` samples (rows) for each of ``B`` examples,
            e.g. from :func:`course_vae.log_weights`; finite, floating point.
        alpha: any finite real number.

    Returns:
        ``(B,)`` in the dtype of ``log_w``. Taught in chapter 10.

    Raises:
        ValueError: if ``log_w`` is not a 2-D floating tensor with at least one row, has
            NaN or inf entries, or ``alpha`` is not a finite real number.
    """
    if not isinstance(log_w, torch.Tensor) or log_w.dim() != 2 or log_w.shape[0] < 1 or not log_w.is_floating_point():
        raise ValueError("log_w must be a floating (K, B) tensor of log-weights (K samples per example, K >= 1), "
                         f"got {getattr(log_w, 'shape', type(log_w))}")
    if isinstance(alpha, torch.Tensor) and alpha.numel() == 1:
        alpha = alpha.item()
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha):
        raise ValueError(f"alpha must be a finite real number (1: ELBO, 0: IWAE bound), got {alpha!r}")
    if not torch.isfinite(log_w).all():
        raise ValueError("log_w contains NaN or inf values; the log-weights must be finite")
    K = log_w.shape[0]
    if alpha == 1:
        return log_w.mean(0)
    if alpha == 0:
        return torch.logsumexp(log_w, dim=0) - math.log(K)
    t = 1.0 - float(alpha)
    w = log_w.to(torch.float64)
    centre = w.mean(0)  # (B,)
    s = t * (w - centre)  # (K, B), mean 0 in each column
    top = s.max(0).values  # (B,)
    small = s.abs().max(0).values <= _SMALL  # (B,) columns where expm1 is safe and accurate
    # expm1 path: log mean exp(s) = top + log1p(mean(expm1(s - top))); s - top is in [-2, 0] there
    shifted = torch.where(small, s - top, torch.zeros_like(s))  # zeros elsewhere keep gradients finite
    near = top + torch.log1p(torch.expm1(shifted).mean(0))
    far = torch.logsumexp(s, dim=0) - math.log(K)
    log_mean = torch.where(small, near, far)
    return (centre + log_mean / t).to(log_w.dtype)
