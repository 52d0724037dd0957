"""A learned prior for the VAE: a mixture of diagonal Gaussians. Taught in chapter 10."""

from __future__ import annotations

import math

import torch
from torch import nn


class MixturePrior(nn.Module):
    """``p(z) = sum_c pi_c N(z; m_c, diag(exp(v_c)))`` with learned ``m``, ``v`` and mixture logits.

    Passed to :class:`course_vae.VAE` as ``VAE(prior=MixturePrior(d, C))``, it is trained
    with the encoder and decoder by the same loss: the ELBO's KL term then has no closed
    form and :func:`course_vae.elbo` estimates it by one sample, ``log q(z | x) - log p(z)``
    at the sampled ``z``. Chapter 4's standard normal is the special case ``C = 1``,
    ``m = 0``, ``v = 0``. A mixture prior can follow the aggregate posterior (Tomczak and
    Welling, 2018, use it as the baseline of their VampPrior), which fills the holes of
    chapter 4.

    Args:
        latent_dim: ``d``.
        num_components: ``C``, the number of mixture components.
        init_scale: the component means start as ``init_scale`` times a standard normal
            draw (from the global RNG, like ``nn.Linear``'s weights); log-variances start
            at 0 and the mixture weights uniform.

    Attributes:
        means: ``(C, d)`` parameter. logvars: ``(C, d)`` parameter. logits: ``(C,)``
            parameter; ``pi = softmax(logits)``.
    """

    def __init__(self, latent_dim: int, num_components: int = 10, init_scale: float = 1.0) -> None:
        super().__init__()
        for name, value in (("latent_dim", latent_dim), ("num_components", num_components)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(init_scale, bool) or not isinstance(init_scale, (int, float)) or not (math.isfinite(init_scale) and init_scale >= 0):
            raise ValueError(f"init_scale must be a finite number >= 0, got {init_scale!r}")
        self.latent_dim, self.num_components = latent_dim, num_components
        self.means = nn.Parameter(init_scale * torch.randn(num_components, latent_dim))
        self.logvars = nn.Parameter(torch.zeros(num_components, latent_dim))
        self.logits = nn.Parameter(torch.zeros(num_components))

    def component_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """``log pi_c + log N(z; m_c, exp(v_c))`` for every component: ``(..., d) -> (..., C)``."""
        if not isinstance(z, torch.Tensor) or z.dim() < 1 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"z must have shape (..., {self.latent_dim}), got {getattr(z, 'shape', type(z))}")
        diff = z.unsqueeze(-2) - self.means  # (..., C, d)
        log_normal = -0.5 * (diff.pow(2) * (-self.logvars).exp() + self.logvars + math.log(2 * math.pi)).sum(-1)
        return torch.log_softmax(self.logits, dim=0) + log_normal

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """``log p(z)`` by a log-sum-exp over the components: ``(B, d) -> (B,)`` (any leading shape).

        Raises:
            ValueError: if the last dimension of ``z`` is not ``latent_dim``.
        """
        return torch.logsumexp(self.component_log_prob(z), dim=-1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` codes from the prior, ``(n, d)``: a component by ``pi``, then its Gaussian.

        Drawn on the CPU from ``generator`` (or the global RNG), then moved to the
        parameters' device.

        Raises:
            ValueError: if ``n`` is not a non-negative integer.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        probs = torch.softmax(self.logits.detach().float().cpu(), dim=0)
        component = torch.multinomial(probs, n, replacement=True, generator=generator) if n else torch.zeros(0, dtype=torch.long)
        eps = torch.randn(n, self.latent_dim, generator=generator).to(self.means.device)
        component = component.to(self.means.device)
        return self.means[component] + (0.5 * self.logvars[component]).exp() * eps.to(self.means.dtype)

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}, num_components={self.num_components}"
