"""The linear-Gaussian latent variable model (probabilistic PCA): everything is exact.

    p(z) = N(0, I_d),    p(x | z) = N(W z + b, sigma^2 I_D)

The marginal ``p(x) = N(b, W W^T + sigma^2 I)`` and the posterior ``p(z | x)`` are
Gaussians in closed form, so the ELBO and every bound of the course can be checked
against exact values. Taught in chapter 2 (Tipping and Bishop, 1999).
"""

from __future__ import annotations

import math

import torch
from torch.distributions import MultivariateNormal

from .kl import gaussian_kl


class LinearGaussian:
    """Probabilistic PCA with loading matrix ``W (D, d)``, offset ``b (D,)`` and noise ``sigma``.

    All computations use the dtype of ``W``; use float64 for checks to 1e-8.
    """

    def __init__(self, W: torch.Tensor, b: torch.Tensor, sigma: float) -> None:
        if W.dim() != 2:
            raise ValueError(f"W must be a (D, d) matrix, got shape {tuple(W.shape)}")
        if b.shape != (W.shape[0],):
            raise ValueError(f"b must have shape ({W.shape[0]},) to match W, got {tuple(b.shape)}")
        sigma = float(sigma)
        if not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma must be a positive finite number, got {sigma}")
        self.W, self.b, self.sigma = W, b.to(W.dtype), sigma

    @property
    def data_dim(self) -> int:
        return self.W.shape[0]

    @property
    def latent_dim(self) -> int:
        return self.W.shape[1]

    @classmethod
    def fit_ppca(cls, x: torch.Tensor, latent_dim: int) -> "LinearGaussian":
        """Maximum-likelihood probabilistic PCA (Tipping and Bishop, 1999), in closed form.

        With the covariance of the data (normalized by N) having eigenvalues
        ``lambda_1 >= ... >= lambda_D`` and eigenvectors ``U``: ``b`` is the data mean,
        ``sigma^2`` the average discarded eigenvalue, and ``W = U_d (Lambda_d - sigma^2 I)^(1/2)``,
        whose columns are orthogonal.

        Args:
            x: data ``(N, D)`` (images are flattened); float64 recommended.
            latent_dim: ``d``, with ``1 <= d < D``.
        """
        x = x.flatten(start_dim=1)
        D = x.shape[1]
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or not 1 <= latent_dim < D:
            raise ValueError(f"latent_dim must be an integer in [1, {D - 1}], got {latent_dim!r}")
        mean = x.mean(dim=0)
        eigenvalues, eigenvectors = torch.linalg.eigh(torch.cov(x.T, correction=0))
        eigenvalues, eigenvectors = eigenvalues.flip(0).clamp_min(0), eigenvectors.flip(1)
        sigma2 = eigenvalues[latent_dim:].mean()
        if not sigma2 > 0:
            raise ValueError("the discarded eigenvalues are all zero; choose a smaller latent_dim")
        scale = (eigenvalues[:latent_dim] - sigma2).clamp_min(0).sqrt()
        return cls(eigenvectors[:, :latent_dim] * scale, mean, sigma2.sqrt().item())

    def _check_x(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.data_dim:
            raise ValueError(f"x must have {self.data_dim} entries in its last dimension, got shape {tuple(x.shape)}")
        return x.to(self.W.dtype)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``x`` from the model: ``(n, D)``."""
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=self.W.dtype)
        noise = torch.randn(n, self.data_dim, generator=generator, dtype=self.W.dtype)
        return z @ self.W.T + self.b + self.sigma * noise

    def marginal(self) -> MultivariateNormal:
        """``p(x) = N(b, W W^T + sigma^2 I)``."""
        cov = self.W @ self.W.T + self.sigma**2 * torch.eye(self.data_dim, dtype=self.W.dtype)
        return MultivariateNormal(self.b, covariance_matrix=cov)

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ``log p(x)`` for ``x (B, D)``: ``(B,)``."""
        return self.marginal().log_prob(self._check_x(x))

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``log p(x_i | z_ik)`` for each data point and each of its codes: ``(B, K)``.

        Args:
            x: data ``(B, D)``.
            z: codes ``(K, d)``, shared by every data point, or ``(B, K, d)``, K per point.

        Uses ``||r - W z||^2 = ||r||^2 - 2 r^T W z + z^T W^T W z`` with ``r = x - b``, so no
        ``(B, K, D)`` tensor is ever formed.
        """
        x = self._check_x(x)
        if x.dim() != 2 or z.dim() not in (2, 3) or z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"log_likelihood needs x (B, {self.data_dim}) and z (K, {self.latent_dim}) or "
                f"(B, K, {self.latent_dim}), got {tuple(x.shape)} and {tuple(z.shape)}"
            )
        z = z.to(self.W.dtype)
        r = x - self.b  # (B, D)
        proj = r @ self.W  # (B, d)
        gram = self.W.T @ self.W  # (d, d)
        if z.dim() == 2:
            cross = proj @ z.T  # (B, K)
            quad = ((z @ gram) * z).sum(-1).unsqueeze(0)  # (1, K)
        else:
            cross = torch.einsum("bd,bkd->bk", proj, z)
            quad = ((z @ gram) * z).sum(-1)  # (B, K)
        squared = r.pow(2).sum(-1, keepdim=True) - 2 * cross + quad  # ||x - W z - b||^2
        return -0.5 * (self.data_dim * math.log(2 * math.pi * self.sigma**2) + squared / self.sigma**2)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact ``p(z | x) = N(M^-1 W^T (x - b), sigma^2 M^-1)`` with ``M = W^T W + sigma^2 I``.

        Returns:
            The means ``(B, d)`` and the covariance ``(d, d)``, shared by all ``x``.
        """
        x = self._check_x(x)
        M = self.W.T @ self.W + self.sigma**2 * torch.eye(self.latent_dim, dtype=self.W.dtype)
        mean = torch.linalg.solve(M, ((x - self.b) @ self.W).T).T  # M is symmetric
        return mean, self.sigma**2 * torch.linalg.inv(M)

    def elbo(self, x: torch.Tensor, q_mu: torch.Tensor, q_logvar: torch.Tensor) -> torch.Tensor:
        """The exact ELBO of ``q(z) = N(q_mu, diag(exp(q_logvar)))`` for each ``x``: ``(B,)``.

        ``E_q[log p(x | z)] - KL(q || p(z))``, where the expectation is in closed form:
        ``-D/2 log(2 pi sigma^2) - (||x - W mu - b||^2 + sum_j ||W_j||^2 s_j^2) / (2 sigma^2)``.
        """
        x = self._check_x(x)
        if q_mu.shape != q_logvar.shape or q_mu.shape[-1] != self.latent_dim:
            raise ValueError(
                f"q_mu and q_logvar must both have shape (B, {self.latent_dim}), got {tuple(q_mu.shape)} and {tuple(q_logvar.shape)}"
            )
        residual = (x - q_mu @ self.W.T - self.b).pow(2).sum(-1)
        spread = (q_logvar.exp() * self.W.pow(2).sum(0)).sum(-1)  # tr(W^T W diag(s^2))
        expected_log_lik = -0.5 * (self.data_dim * math.log(2 * math.pi * self.sigma**2) + (residual + spread) / self.sigma**2)
        return expected_log_lik - gaussian_kl(q_mu, q_logvar)
