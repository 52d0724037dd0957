"""Penalties that keep an autoencoder from learning the identity. Taught in chapter 1."""

from __future__ import annotations

import torch
from torch import nn


def sparsity_kl(activations: torch.Tensor, rho: float = 0.05, eps: float = 1e-6) -> torch.Tensor:
    """The sparse autoencoder's penalty: ``sum_j KL(Bernoulli(rho) || Bernoulli(rho_hat_j))``.

    ``rho_hat_j`` is the mean activation of hidden unit ``j`` over the batch, so the
    penalty is a property of the batch, not of one example: it is zero when every unit's
    mean activation equals ``rho``, however that mean comes about (a unit weakly on for
    every example, or fully on for a few). Ng (2011).

    Args:
        activations: ``(B, H)`` hidden activations in [0, 1] (e.g. after a sigmoid).
        rho: the target mean activation, in (0, 1).
        eps: ``rho_hat`` is clamped to ``[eps, 1 - eps]`` so that a unit that is never
            (or always) active gives a large finite penalty instead of infinity.

    Returns:
        A scalar tensor (shape ``()``), differentiable in ``activations``.

    Raises:
        ValueError: if ``rho`` is outside (0, 1), or the activations are not a 2-D
            tensor of values in [0, 1].
    """
    if not 0 < rho < 1:
        raise ValueError(f"rho must be in (0, 1), got {rho}")
    if activations.dim() != 2:
        raise ValueError(f"activations must have shape (B, H), got {tuple(activations.shape)}")
    if activations.min() < 0 or activations.max() > 1:
        raise ValueError(
            "activations must lie in [0, 1] (use a sigmoid hidden layer); got values in "
            f"[{activations.min().item():.3g}, {activations.max().item():.3g}]"
        )
    rho_hat = activations.mean(dim=0).clamp(eps, 1 - eps)  # (H,)
    kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))  # (H,)
    return kl.sum()


def contractive_penalty(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The contractive autoencoder's penalty: ``||J(x)||_F^2`` for each example.

    ``J(x) = d encoder(x) / d x`` is the encoder's Jacobian at ``x``; its squared
    Frobenius norm is the sum of the *squares* of all partial derivatives
    ``d z_j / d x_i``. Rifai et al. (2011). The result stays differentiable in the
    encoder's parameters (``create_graph=True``), so it can be added to a loss.

    The encoder must treat examples independently (no batch statistics, such as
    BatchNorm in training mode), because the Jacobian is computed for the whole batch
    at once: one backward pass per code dimension (``d`` of them).

    Args:
        encoder: maps ``(B, ...) -> (B, d)``.
        x: inputs ``(B, ...)``.

    Returns:
        ``(B,)``: the squared Frobenius norm of each example's Jacobian.
    """
    x = x.detach().requires_grad_(True)
    z = encoder(x)  # (B, d)
    if z.dim() != 2 or len(z) != len(x):
        raise ValueError(f"the encoder must map (B, ...) to (B, d), got output shape {tuple(z.shape)}")
    penalty = x.new_zeros(len(x))
    for j in range(z.shape[1]):
        # Row j of every example's Jacobian: examples are independent, so the gradient of
        # the batch sum of z_j with respect to x holds each example's d z_j / d x.
        (row,) = torch.autograd.grad(z[:, j].sum(), x, create_graph=True)
        penalty = penalty + row.pow(2).flatten(1).sum(dim=1)
    return penalty
