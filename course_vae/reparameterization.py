"""The reparameterization trick for diagonal Gaussians (chapter 3)."""

from __future__ import annotations

import torch


def reparameterize(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw ``z ~ N(mu, diag(exp(logvar)))`` as ``z = mu + sigma * eps``.

    ``sigma = exp(logvar / 2)`` and ``eps ~ N(0, I)`` is drawn independently
    of the parameters, so ``dz/dmu = 1`` and
    ``dz/dlogvar = sigma * eps / 2 = (z - mu) / 2``: gradients flow to both
    arguments (Kingma and Welling, 2014).

    Args:
        mu: means, any shape, e.g. ``(B, d)``.
        logvar: log-variances, the same shape.
        generator: optional ``torch.Generator`` for the noise (the global
            RNG otherwise).

    Returns:
        ``z`` with the shape of ``mu``.

    Raises:
        ValueError: if the shapes differ.
    """
    if mu.shape != logvar.shape:
        raise ValueError(
            "mu and logvar must have the same shape, got "
            f"{tuple(mu.shape)} and {tuple(logvar.shape)}"
        )
    eps = torch.randn(
        mu.shape, generator=generator, dtype=mu.dtype, device=mu.device
    )
    return mu + torch.exp(0.5 * logvar) * eps
