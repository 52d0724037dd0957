"""The conditional VAE: a VAE whose encoder and decoder both read a condition ``y``. Taught in chapter 7."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .nets import GaussianEncoder, image_decoder
from .reparameterization import reparameterize
from .vae import VAEOutput


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class CVAE(nn.Module):
    """A conditional VAE: ``q(z | x, y)``, ``p(x | z, y)`` and the prior ``p(z | y) = N(0, I)``.

    The condition enters by concatenation: the encoder reads ``[x, c]`` and the decoder
    ``[z, c]``, where ``c = condition(y)`` is the one-hot code of a label or, with
    ``condition_dim``, a float vector used as is (chapter 7 completes a digit from one
    given quadrant this way). The model is built from the VAE's pieces: a
    :class:`course_vae.GaussianEncoder` on ``D + K`` inputs and an
    :func:`course_vae.image_decoder` on ``d + K`` inputs (``D`` values per data point,
    ``K`` entries of the condition, ``d`` latent coordinates). ``forward`` returns a
    :class:`course_vae.VAEOutput`, so :func:`course_vae.elbo` and
    :func:`course_vae.vae_loss` compute the CVAE's loss unchanged: the prior ignores
    ``y``, so the KL is the one to ``N(0, I)``. Taught in chapter 7.

    Args:
        latent_dim: ``d``, the number of latent coordinates.
        num_classes: ``K`` for integer labels ``y (B,)`` in ``[0, K)``, one-hot inside.
            Unused with ``condition_dim`` (leave it at its default or pass ``None``).
        hidden: widths of the hidden layers of the default encoder; the decoder mirrors them.
        image_shape: the shape of one data point (``(588,)`` for three flat quadrants).
        activation: the activation of the default MLPs.
        condition_dim: ``K`` for a float condition ``y (B, K)`` used as is; ``None`` for labels.
        encoder: optional module ``(B, D + K) -> (mu (B, d), logvar (B, d))`` reading the
            flattened data and the condition, replacing the default.
        decoder: optional module ``(B, d + K) -> (B, *image_shape)`` (logits), replacing the default.

    Raises:
        ValueError: for non-positive sizes, or both ``num_classes`` (other than its
            default 10) and ``condition_dim``.
    """

    def __init__(
        self,
        latent_dim: int = 2,
        num_classes: int | None = 10,
        hidden: Sequence[int] = (400,),
        image_shape: Sequence[int] = (1, 28, 28),
        activation: Callable[[], nn.Module] = nn.ReLU,
        condition_dim: int | None = None,
        encoder: nn.Module | None = None,
        decoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.latent_dim = _positive_int(latent_dim, "latent_dim")
        if condition_dim is None:
            if num_classes is None:
                raise ValueError("pass num_classes (integer labels, one-hot inside) or condition_dim (a float condition)")
            self.num_classes, self.condition_dim = _positive_int(num_classes, "num_classes"), None
            width = self.num_classes
        else:
            if num_classes not in (None, 10):
                raise ValueError(f"pass num_classes (labels) or condition_dim (a float condition), not both; "
                                 f"got num_classes={num_classes!r}, condition_dim={condition_dim!r}")
            self.num_classes, self.condition_dim = None, _positive_int(condition_dim, "condition_dim")
            width = self.condition_dim
        self.image_shape = tuple(image_shape)
        n_values = 1
        for dim in self.image_shape:
            n_values *= dim
        self.encoder = encoder if encoder is not None else GaussianEncoder([n_values + width, *hidden], latent_dim, activation)
        self.decoder = decoder if decoder is not None else image_decoder(
            [latent_dim + width, *reversed(tuple(hidden)), n_values], self.image_shape, activation)

    @property
    def condition_width(self) -> int:
        """``K``, the number of entries the condition adds to each input."""
        return self.num_classes if self.num_classes is not None else self.condition_dim

    def condition(self, y: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The vector concatenated to both inputs: ``(B,)`` labels -> one-hot ``(B, K)``,
        or a float ``(B, K)`` condition as is.

        Args:
            y: int64 labels ``(B,)`` in ``[0, num_classes)``, or a float tensor
                ``(B, condition_dim)`` for a model built with ``condition_dim``.
            dtype: the floating dtype of the one-hot code (default: the model's).

        Raises:
            ValueError: for labels outside ``[0, num_classes)``, non-integer labels, or a
                condition of the wrong shape or dtype.
        """
        if not isinstance(y, torch.Tensor):
            raise ValueError(f"y must be a torch.Tensor, got {type(y).__name__}")
        dtype = dtype if dtype is not None else next(self.parameters()).dtype
        if self.num_classes is not None:
            if y.dim() != 1 or y.dtype.is_floating_point or y.dtype == torch.bool or y.is_complex():
                raise ValueError(f"y must be integer labels of shape (B,) in [0, {self.num_classes}), "
                                 f"got shape {tuple(y.shape)} {str(y.dtype).replace('torch.', '')}")
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise ValueError(f"labels must lie in [0, {self.num_classes}) (num_classes={self.num_classes}), "
                                 f"got values from {int(y.min())} to {int(y.max())}")
            return nn.functional.one_hot(y.long(), self.num_classes).to(dtype)
        if y.dim() != 2 or y.shape[1] != self.condition_dim or not y.is_floating_point():
            raise ValueError(f"y must be a float condition of shape (B, {self.condition_dim}) "
                             f"(condition_dim={self.condition_dim}), got shape {tuple(y.shape)} "
                             f"{str(y.dtype).replace('torch.', '')}")
        return y

    def _paired(self, y: torch.Tensor, rows: int, what: str, dtype: torch.dtype) -> torch.Tensor:
        c = self.condition(y, dtype)
        if len(c) != rows:
            raise ValueError(f"{what} has {rows} rows but y has {len(c)}: pass one condition per example")
        return c.to(dtype)

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, *image_shape), y -> (mu (B, d), logvar (B, d))`` of ``q(z | x, y)``."""
        c = self._paired(y, len(x), "x", x.dtype)
        return self.encoder(torch.cat([x.flatten(1), c], dim=1))

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``z (B, d), y -> logits (B, *image_shape)`` of ``p(x | z, y)``."""
        c = self._paired(y, len(z), "z", z.dtype)
        return self.decoder(torch.cat([z, c], dim=1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> VAEOutput:
        """Encode ``(x, y)``, draw one reparameterized ``z`` (global RNG), decode it with ``y``."""
        mu, logvar = self.encode(x, y)
        z = reparameterize(mu, logvar)
        return VAEOutput(logits=self.decode(z, y), mu=mu, logvar=logvar, z=z)

    @torch.no_grad()
    def sample(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One image per entry of ``y``: decode ``z ~ N(0, I)`` with each condition, ``(B, *image_shape)``.

        Returns the pixel probabilities ``sigmoid(logits)`` (the decoder's means). For
        ``n`` samples of each of the ``K`` classes pass
        ``torch.arange(K).repeat_interleave(n)``. The codes are drawn on the CPU from
        ``generator``.
        """
        param = next(self.parameters())
        z = torch.randn(len(y), self.latent_dim, generator=generator, dtype=param.dtype).to(param.device)
        return torch.sigmoid(self.decode(z, y.to(param.device)))

    def given(self, y: torch.Tensor) -> ConditionedModel:
        """A view of this model with the condition ``y`` of one batch fixed.

        The view has ``encode(x)``, ``decode(z)``, ``forward(x)`` and ``latent_dim``, the
        interface of :class:`course_vae.VAE`, so the chapter-4 estimators apply to a
        batch ``(x, y)``: ``iwae_bound(model.given(y), x, K)``,
        ``elbo_estimate(model.given(y), x, batch_size=len(x))``. See :class:`ConditionedModel`.
        """
        return ConditionedModel(self, y)


class ConditionedModel(nn.Module):
    """A :class:`CVAE` with the conditions ``y`` of one batch of ``B`` examples fixed.

    ``encode(x)`` needs ``B`` rows. ``decode(z)`` takes ``B`` codes, or ``k * B`` codes
    read as ``k`` stacked blocks of the ``B`` examples (the layout
    :func:`course_vae.iwae_bound` decodes), for which ``y`` is tiled ``k`` times. Any other
    number of rows raises ValueError, so an estimator that splits the batch into chunks
    fails loudly instead of pairing codes with the wrong conditions: call it on batches
    small enough not to be split (``iwae_bound`` splits above ``20000 // K`` examples).
    Switching the view to ``eval()`` or ``train()`` switches the model. Taught in chapter 7.
    """

    def __init__(self, model: CVAE, y: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.y = y
        self.latent_dim = model.latent_dim
        model.condition(y)  # validate now

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, *image_shape) -> (mu, logvar)`` of ``q(z | x, y)``."""
        return self.model.encode(x, self.y)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z (k * B, d) -> logits (k * B, *image_shape)`` with ``y`` tiled ``k`` times."""
        b = len(self.y)
        if b == 0 or len(z) % b:
            raise ValueError(f"decode got {len(z)} codes for a batch of {b} conditions; it needs a multiple of {b} "
                             f"(k stacked blocks of the batch). Call the estimator on smaller batches.")
        k = len(z) // b
        y = self.y if k == 1 else self.y.repeat(k, *([1] * (self.y.dim() - 1)))
        return self.model.decode(z, y)

    def forward(self, x: torch.Tensor) -> VAEOutput:
        """``model(x, y)``."""
        return self.model(x, self.y)
