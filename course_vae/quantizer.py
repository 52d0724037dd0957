"""Vector quantization with a learned codebook, the bottleneck of the VQ-VAE. Taught in chapter 8.

A codebook holds ``K`` vectors ``e_1 ... e_K`` of dimension ``D``. Each encoder output
``z_e`` (one ``D``-vector per position of a feature map) is replaced by its nearest code
``z_q = e_k`` with ``k = argmin_j ||z_e - e_j||^2``. The argmin has no useful gradient, so
the *straight-through* estimator copies the decoder's gradient from ``z_q`` to ``z_e``:
the forward value is ``e_k``, the backward pass is the identity. Two loss terms train
the codebook and keep the encoder close to it (van den Oord et al., 2017):

    codebook    ||sg[z_e] - e_k||^2    moves the code towards the encoder outputs,
    commitment  ||z_e - sg[e_k]||^2    moves the encoder output towards its code,

with ``sg`` the stop-gradient (``.detach()``) and the second term weighted by
``beta = 0.25``. Instead of the codebook loss, the codes can follow exponential moving
averages (EMA) of the counts and sums of the vectors assigned to them (the paper's
appendix; Sonnet's ``VectorQuantizerEMA``): with decay 0 one update is exactly a k-means
(Lloyd) step. Codes that no input selects (dead codes) can be restarted at random
encoder outputs of the batch (Dhariwal et al., 2020, Jukebox).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .metrics.perplexity import perplexity_of_counts


@dataclass
class QuantizerOutput:
    """What :class:`VectorQuantizer` (and :class:`course_vae.FSQ`) return."""

    z_q: torch.Tensor  # same shape as z_e: the chosen codes, with the straight-through gradient
    indices: torch.Tensor  # (B, H, W) or (B,) int64 code numbers
    codebook_loss: torch.Tensor  # scalar: mean of (sg[z_e] - e)^2 (0 with EMA updates)
    commitment_loss: torch.Tensor  # scalar: mean of (z_e - sg[e])^2, not weighted by beta
    loss: torch.Tensor  # scalar: codebook_loss + beta * commitment_loss
    perplexity: torch.Tensor  # scalar: exp(entropy of this batch's code usage)


def channels_last(z_e: torch.Tensor, code_dim: int, name: str) -> torch.Tensor:
    """Check ``z_e`` of shape ``(B, D)`` or ``(B, D, H, W)`` and return its vectors ``(N, D)``.

    ``N = B`` or ``N = B * H * W`` (row-major over ``B, H, W``). Shared by the quantizers
    of chapter 8.

    Raises:
        ValueError: for another number of dimensions, a channel size other than
            ``code_dim``, a non-float dtype or an empty batch.
    """
    if not isinstance(z_e, torch.Tensor) or not z_e.is_floating_point():
        raise ValueError(f"{name} expects a float tensor z_e, got {getattr(z_e, 'dtype', type(z_e).__name__)}")
    if z_e.dim() not in (2, 4):
        raise ValueError(f"{name} expects z_e of shape (B, D) or (B, D, H, W) with D = {code_dim}, "
                         f"got shape {tuple(z_e.shape)}")
    if z_e.shape[1] != code_dim:
        raise ValueError(f"{name} has code_dim = {code_dim}, so z_e must have {code_dim} channels in "
                         f"dimension 1, got shape {tuple(z_e.shape)}")
    if z_e.numel() == 0:
        raise ValueError(f"{name} got an empty z_e of shape {tuple(z_e.shape)}")
    return z_e.movedim(1, -1).reshape(-1, code_dim)


def channels_first(flat: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Undo :func:`channels_last`: ``(N, D) -> like.shape`` (``(B, D)`` or ``(B, D, H, W)``)."""
    if like.dim() == 2:
        return flat.reshape(like.shape)
    batch, dim, height, width = like.shape
    return flat.reshape(batch, height, width, dim).movedim(-1, 1)


def index_shape(z_e: torch.Tensor) -> tuple[int, ...]:
    """The shape of the code indices of ``z_e``: ``(B,)`` or ``(B, H, W)``."""
    return (z_e.shape[0],) if z_e.dim() == 2 else (z_e.shape[0], *z_e.shape[2:])


def nearest_codes(vectors: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """The index of the nearest code of each vector: ``(N, D), (K, D) -> (N,)`` int64.

    Squared Euclidean distances expanded as ``||z||^2 - 2 z.e + ||e||^2`` (one matrix
    product instead of an ``(N, K, D)`` tensor); ties go to the lowest index
    (``torch.argmin`` returns the first minimum). Taught in chapter 8.
    """
    distances = (vectors.pow(2).sum(1, keepdim=True) - 2 * vectors @ codebook.t()
                 + codebook.pow(2).sum(1)[None, :])
    return distances.argmin(dim=1)


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _number(value: object, name: str, low: float, high: float, allowed: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (low <= value < high) or math.isnan(value):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return float(value)


class VectorQuantizer(nn.Module):
    """A codebook of ``K`` vectors in ``R^D`` with nearest-code lookup and a straight-through gradient.

    ``vq = VectorQuantizer(num_codes=64, code_dim=8)``; ``out = vq(z_e)`` for
    ``z_e (B, 8, H, W)`` gives ``out.z_q (B, 8, H, W)``, ``out.indices (B, H, W)`` and the
    loss terms (:class:`QuantizerOutput`). Both loss terms are means over all ``N * D``
    entries (``N`` vectors); ``out.loss = codebook_loss + beta * commitment_loss``.

    Three ways to train the codebook:

    * ``ema_decay=None`` (default): ``vq.codebook`` is an ``nn.Parameter`` learned by the
      codebook loss through the optimizer.
    * ``ema_decay=gamma`` in ``[0, 1)``: ``vq.codebook`` is a buffer updated inside
      ``forward`` in training mode. With ``c_k`` the number of batch vectors assigned to
      code ``k`` and ``s_k`` their sum, ``N_k <- gamma N_k + (1 - gamma) c_k`` and
      ``m_k <- gamma m_k + (1 - gamma) s_k`` (buffers ``ema_counts`` and ``ema_sums``);
      then ``e_k = m_k / N~_k`` with the Laplace-smoothed counts
      ``N~_k = (N_k + eps) / (n + K eps) * n``, ``n = sum_k N_k``, which keep an unused
      code from a division by zero. The codebook loss is then a zero tensor and only
      the commitment term is a loss. With ``gamma = 0`` one update sets every used code
      to the mean of its vectors (a k-means step, up to the smoothing). The statistics
      start at ``N_k = 1``, ``m_k = e_k`` so that ``e_k = m_k / N_k`` from the first step.
    * ``dead_code_threshold=t`` (with EMA): after the EMA update, every code with
      ``N_k < t`` is replaced by an encoder output of the current batch drawn at
      random (torch's global generator, so :func:`course_vae.seed_everything` repeats
      it), with ``N_k = t`` and ``m_k = t * e_k``, as Jukebox does; until it is used,
      such a code falls below ``t`` again and is drawn afresh at the next step.
      ``vq.restarts`` counts the replacements.

    The codebook starts uniform in ``[-1/K, 1/K]`` (as in the paper's code); set it with
    :meth:`set_codebook`. EMA updates and restarts happen only in training mode.
    Taught in chapter 8.

    Args:
        num_codes: ``K``, the number of codes.
        code_dim: ``D``, the dimension of a code (the channels of ``z_e``).
        beta: the weight of the commitment term (0.25 in the paper).
        ema_decay: ``None`` for the codebook loss, or the EMA decay in ``[0, 1)`` (0.99).
        eps: the Laplace smoothing of the EMA counts (positive).
        dead_code_threshold: ``None``, or the EMA count below which a code is restarted
            (positive; needs ``ema_decay``).

    Raises:
        ValueError: for non-positive sizes, ``beta < 0``, ``ema_decay`` outside
            ``[0, 1)``, ``eps <= 0``, a non-positive threshold or a threshold without EMA.
    """

    def __init__(self, num_codes: int, code_dim: int, beta: float = 0.25, ema_decay: float | None = None,
                 eps: float = 1e-5, dead_code_threshold: float | None = None) -> None:
        super().__init__()
        self.num_codes = _positive_int(num_codes, "num_codes")
        self.code_dim = _positive_int(code_dim, "code_dim")
        self.beta = _number(beta, "beta", 0.0, math.inf, "a finite number >= 0")
        self.ema_decay = None if ema_decay is None else _number(ema_decay, "ema_decay", 0.0, 1.0,
                                                                 "None (codebook loss) or a number in [0, 1)")
        self.eps = _number(eps, "eps", 0.0, math.inf, "a positive number")
        if self.eps == 0:
            raise ValueError("eps must be a positive number, got 0")
        if dead_code_threshold is not None:
            if self.ema_decay is None:
                raise ValueError("dead_code_threshold compares EMA counts; pass ema_decay (e.g. 0.99) as well, "
                                 "or dead_code_threshold=None")
            dead_code_threshold = _number(dead_code_threshold, "dead_code_threshold", 0.0, math.inf,
                                          "None or a positive number")
            if dead_code_threshold == 0:
                raise ValueError("dead_code_threshold must be None or a positive number, got 0")
        self.dead_code_threshold = dead_code_threshold
        self.restarts = 0
        init = torch.empty(self.num_codes, self.code_dim).uniform_(-1 / self.num_codes, 1 / self.num_codes)
        if self.ema_decay is None:
            self.codebook = nn.Parameter(init)
        else:
            self.register_buffer("codebook", init)
            self.register_buffer("ema_counts", torch.ones(self.num_codes))
            self.register_buffer("ema_sums", init.clone())

    @torch.no_grad()
    def set_codebook(self, codes: torch.Tensor) -> None:
        """Overwrite the codebook with ``codes (K, D)``; with EMA, reset ``N_k = 1`` and ``m_k = e_k``."""
        codes = torch.as_tensor(codes, dtype=self.codebook.dtype, device=self.codebook.device)
        if codes.shape != (self.num_codes, self.code_dim):
            raise ValueError(f"codes must have shape ({self.num_codes}, {self.code_dim}), got {tuple(codes.shape)}")
        self.codebook.copy_(codes)
        if self.ema_decay is not None:
            self.ema_counts.fill_(1.0)
            self.ema_sums.copy_(codes)

    def extra_repr(self) -> str:
        return (f"num_codes={self.num_codes}, code_dim={self.code_dim}, beta={self.beta}, ema_decay={self.ema_decay}, "
                f"dead_code_threshold={self.dead_code_threshold}")

    def forward(self, z_e: torch.Tensor) -> QuantizerOutput:
        """Quantize ``z_e (B, D, H, W)`` or ``(B, D)``: see :class:`QuantizerOutput`.

        The output is computed with the codebook as it was before this call's EMA update
        or restart.
        """
        flat = channels_last(z_e, self.code_dim, "VectorQuantizer")
        indices = nearest_codes(flat.detach(), self.codebook.detach())
        codes = self.codebook[indices]  # (N, D); carries the codebook's gradient without EMA
        commitment = (flat - codes.detach()).pow(2).mean()
        if self.ema_decay is None:
            codebook_loss = (flat.detach() - codes).pow(2).mean()
        else:
            codebook_loss = flat.new_zeros(())
        quantized = flat + (codes - flat).detach()  # value: the code; gradient to z_e: identity
        counts = torch.bincount(indices, minlength=self.num_codes)
        if self.training and self.ema_decay is not None:
            self._ema_update(flat.detach(), indices, counts)
            if self.dead_code_threshold is not None:
                self._restart_dead_codes(flat.detach())
        return QuantizerOutput(
            z_q=channels_first(quantized, z_e),
            indices=indices.reshape(index_shape(z_e)),
            codebook_loss=codebook_loss,
            commitment_loss=commitment,
            loss=codebook_loss + self.beta * commitment,
            perplexity=perplexity_of_counts(counts),
        )

    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, indices: torch.Tensor, counts: torch.Tensor) -> None:
        gamma = self.ema_decay
        sums = torch.zeros_like(self.ema_sums).index_add_(0, indices, flat)  # (K, D) sum of assigned vectors
        self.ema_counts.mul_(gamma).add_(counts.to(self.ema_counts.dtype), alpha=1 - gamma)
        self.ema_sums.mul_(gamma).add_(sums, alpha=1 - gamma)
        total = self.ema_counts.sum()
        smoothed = (self.ema_counts + self.eps) / (total + self.num_codes * self.eps) * total
        self.codebook.copy_(self.ema_sums / smoothed[:, None])

    @torch.no_grad()
    def _restart_dead_codes(self, flat: torch.Tensor) -> None:
        dead = (self.ema_counts < self.dead_code_threshold).nonzero().squeeze(1)
        if len(dead) == 0:
            return
        picks = flat[torch.randint(len(flat), (len(dead),), device=flat.device)]
        self.codebook[dead] = picks
        self.ema_counts[dead] = self.dead_code_threshold
        self.ema_sums[dead] = self.dead_code_threshold * picks
        self.restarts += len(dead)
