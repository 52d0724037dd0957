"""Coordinate ascent variational inference (CAVI) for a Bayesian mixture of Gaussians.

The model of Blei, Kucukelbir and McAuliffe (2017, section 3), with ``K`` components in
``D`` dimensions and unit-variance clusters:

    mu_k ~ N(0, sigma^2 I),   c_i ~ Cat(1/K, ..., 1/K),   x_i | c_i, mu ~ N(mu_{c_i}, I).

The mean-field family is ``q(mu_k) = N(m_k, s2_k I)`` and ``q(c_i) = Cat(phi_i)``. Each
CAVI step sets one factor to ``exp(E_{-j}[log p(x, mu, c)])``, the optimum with all other
factors held fixed, so the ELBO never decreases. Taught in chapter 10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class CAVIResult:
    """What :func:`cavi_gmm` returns (float64 tensors)."""

    m: torch.Tensor  # (K,) for 1-D data, else (K, D): the means of q(mu_k)
    s2: torch.Tensor  # (K,): the variances of q(mu_k) (the same in every coordinate)
    phi: torch.Tensor  # (N, K): the responsibilities q(c_i = k); rows sum to 1
    elbo: torch.Tensor  # (iters + 1,): the ELBO at the initialization and after each full sweep
    iters: int  # the number of full sweeps done


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def gmm_elbo(x: torch.Tensor, m: torch.Tensor, s2: torch.Tensor, phi: torch.Tensor, prior_var: float) -> torch.Tensor:
    """The exact ELBO ``E_q[log p(x, mu, c)] - E_q[log q(mu, c)]`` of the mixture model.

    With ``E[mu_k] = m_k`` and ``E[|mu_k|^2] = |m_k|^2 + D s2_k``, every expectation is
    in closed form (no sampling):

    - ``E[log p(mu_k)] = -D/2 log(2 pi sigma^2) - (|m_k|^2 + D s2_k) / (2 sigma^2)``
    - ``E[log p(c_i)] = -log K``
    - ``E[log p(x_i | c_i, mu)] = sum_k phi_ik [-D/2 log 2 pi - (|x_i|^2 - 2 x_i.m_k + |m_k|^2 + D s2_k) / 2]``
    - the entropies ``-sum_k phi_ik log phi_ik`` of ``q(c_i)`` and ``D/2 log(2 pi e s2_k)`` of ``q(mu_k)``.

    Args:
        x: data ``(N, D)``, float64.
        m: ``(K, D)`` variational means; s2: ``(K,)`` variational variances.
        phi: ``(N, K)`` responsibilities.
        prior_var: ``sigma^2``, the prior variance of the component means.

    Returns:
        A 0-dim float64 tensor. Taught in chapter 10.
    """
    n, d = x.shape
    k = m.shape[0]
    second = (m * m).sum(1) + d * s2  # (K,) E|mu_k|^2
    log_p_mu = (-0.5 * d * math.log(2 * math.pi * prior_var) - second / (2 * prior_var)).sum()
    log_p_c = -n * math.log(k)
    sq = (x * x).sum(1, keepdim=True) - 2 * x @ m.T + second  # (N, K) E|x_i - mu_k|^2
    log_p_x = (phi * (-0.5 * d * math.log(2 * math.pi) - 0.5 * sq)).sum()
    entropy_c = -torch.special.xlogy(phi, phi).sum()  # 0 log 0 = 0
    entropy_mu = (0.5 * d * (torch.log(2 * math.pi * s2) + 1)).sum()
    return log_p_mu + log_p_c + log_p_x + entropy_c + entropy_mu


def cavi_gmm(
    x: torch.Tensor,
    num_components: int,
    prior_var: float = 10.0,
    iters: int = 50,
    seed: int = 0,
    init_means: torch.Tensor | None = None,
) -> CAVIResult:
    """Fit the mean-field posterior of a Bayesian Gaussian mixture by CAVI (Blei et al. 2017, alg. 2).

    One sweep updates, in this order, every ``q(c_i)`` and then every ``q(mu_k)``:

    - ``phi_ik ∝ exp(x_i . m_k - (|m_k|^2 + D s2_k) / 2)`` (softmax over ``k``),
    - ``s2_k = 1 / (1 / sigma^2 + sum_i phi_ik)`` and ``m_k = s2_k sum_i phi_ik x_i``.

    The initialization is ``m_k`` = ``K`` distinct data points drawn with a generator
    seeded by ``seed`` (or ``init_means``), ``s2_k = 1`` and uniform ``phi``. The ELBO
    (:func:`gmm_elbo`, exact) is recorded after the initialization and after every sweep;
    it never decreases. Computed in float64.

    Args:
        x: data ``(N,)`` or ``(N, D)``, finite.
        num_components: ``K``, between 1 and ``N``.
        prior_var: ``sigma^2 > 0``, the prior variance of the component means.
        iters: the number of sweeps, ``>= 0``.
        seed: seeds the choice of the initial means (the global RNG is not touched).
        init_means: optional initial means ``(K,)`` or ``(K, D)``, overriding the draw.

    Returns:
        :class:`CAVIResult` with ``m`` shaped ``(K,)`` for 1-D data and ``(K, D)``
        otherwise. Taught in chapter 10.

    Raises:
        ValueError: for data that is not ``(N,)`` or ``(N, D)`` or not finite, ``K``
            outside ``1..N``, a non-positive ``prior_var``, a negative ``iters`` or
            ``init_means`` of the wrong shape.
    """
    if not isinstance(x, torch.Tensor) or x.dim() not in (1, 2) or x.numel() == 0:
        raise ValueError(f"x must be a non-empty (N,) or (N, D) tensor, got {getattr(x, 'shape', type(x))}")
    one_dim = x.dim() == 1
    x = x.detach().to(torch.float64)
    x = x.unsqueeze(1) if one_dim else x
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or inf values")
    n, d = x.shape
    k = _check_int("num_components", num_components, 1)
    if k > n:
        raise ValueError(f"num_components must be between 1 and N = {n}, got {k}")
    iters = _check_int("iters", iters, 0)
    _check_int("seed", seed, 0)
    if isinstance(prior_var, bool) or not isinstance(prior_var, (int, float)) or not (math.isfinite(prior_var) and prior_var > 0):
        raise ValueError(f"prior_var must be a positive finite number, got {prior_var!r}")
    prior_var = float(prior_var)

    if init_means is None:
        generator = torch.Generator().manual_seed(seed)
        m = x[torch.randperm(n, generator=generator)[:k]].clone()
    else:
        m = init_means.detach().to(torch.float64)
        m = m.unsqueeze(1) if m.dim() == 1 and one_dim else m
        if tuple(m.shape) != (k, d):
            raise ValueError(f"init_means must have shape {(k,) if one_dim else (k, d)}, got {tuple(init_means.shape)}")
        m = m.clone()
    s2 = torch.ones(k, dtype=torch.float64)
    phi = torch.full((n, k), 1.0 / k, dtype=torch.float64)

    elbos = [gmm_elbo(x, m, s2, phi, prior_var)]
    for _ in range(iters):
        phi = torch.softmax(x @ m.T - 0.5 * ((m * m).sum(1) + d * s2), dim=1)  # (N, K)
        s2 = 1.0 / (1.0 / prior_var + phi.sum(0))  # (K,)
        m = s2.unsqueeze(1) * (phi.T @ x)  # (K, D)
        elbos.append(gmm_elbo(x, m, s2, phi, prior_var))
    return CAVIResult(m=m.squeeze(1) if one_dim else m, s2=s2, phi=phi, elbo=torch.stack(elbos), iters=iters)
