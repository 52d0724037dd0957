"""Looking inside a decoder: an interactive latent explorer and its static counterpart.

Taught in chapter 4 and reused by later chapters.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import matplotlib.image
import numpy as np
import torch

Decode = Callable[[torch.Tensor], torch.Tensor]  # codes (n, d) -> images (n, 1, H, W) in [0, 1]


def traversal_grid(decode: Decode, latent_dim: int, values: Sequence[float], base: torch.Tensor | None = None) -> torch.Tensor:
    """Decode one row per latent coordinate, moving that coordinate through ``values``.

    Row ``j`` decodes ``base`` with coordinate ``j`` replaced by each of the values (the
    other coordinates stay at ``base``, zeros by default): the static picture of what the
    sliders of :class:`LatentExplorer` do. Show it with
    ``show_grid(traversal_grid(...), nrow=len(values))``.

    ``decode`` receives CPU codes; move them to the model's device inside it if needed.

    Returns:
        ``(latent_dim * len(values), C, H, W)`` images; ``.view(latent_dim, len(values), C, H, W)``
        separates the rows.
    """
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
        raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}")
    values = torch.as_tensor(list(values), dtype=torch.float32)
    if values.dim() != 1 or len(values) == 0:
        raise ValueError("values must be a non-empty sequence of numbers")
    base = torch.zeros(latent_dim) if base is None else torch.as_tensor(base, dtype=torch.float32).flatten()
    if base.shape != (latent_dim,):
        raise ValueError(f"base must have {latent_dim} entries, got shape {tuple(base.shape)}")
    codes = base.repeat(latent_dim * len(values), 1)  # (d * n, d)
    for j in range(latent_dim):
        codes[j * len(values) : (j + 1) * len(values), j] = values
    with torch.no_grad():
        return decode(codes)


class LatentExplorer:
    """Sliders on the latent coordinates and the decoded image, updating as they move.

    ``LatentExplorer(lambda z: torch.sigmoid(vae.decode(z)), latent_dim=2)`` and display
    it as the last expression of a notebook cell. Without a running kernel (for example in
    the built book) the sliders cannot update the image, so chapters show
    :func:`traversal_grid` next to it.

    Args:
        decode: maps CPU codes ``(n, d)`` to grey images ``(n, 1, H, W)`` with values in
            [0, 1] (probabilities, not logits; move codes to the model's device inside it).
        latent_dim: ``d``.
        value_range: the range of every slider.
        step: the slider step, positive.
        scale: each pixel is drawn as a ``scale x scale`` block, a positive integer.
        base: the code the sliders start at (zeros, the prior's mean, by default), e.g.
            the posterior mean of an image.
    """

    def __init__(self, decode: Decode, latent_dim: int, value_range: tuple[float, float] = (-3.0, 3.0),
                 step: float = 0.05, scale: int = 6, base: torch.Tensor | None = None) -> None:
        import ipywidgets as widgets

        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}")
        low, high = value_range
        if not low < high:
            raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}")
        if not step > 0:
            raise ValueError(f"step must be positive, got {step!r}")
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale!r}")
        base = torch.zeros(latent_dim) if base is None else torch.as_tensor(base, dtype=torch.float32).flatten()
        if base.shape != (latent_dim,):
            raise ValueError(f"base must have {latent_dim} entries, got shape {tuple(base.shape)}")
        self.decode, self.scale = decode, scale
        self.sliders = [
            widgets.FloatSlider(value=float(base[j].clamp(low, high)), min=low, max=high, step=step,
                                description=f"z{j + 1}", continuous_update=True)
            for j in range(latent_dim)
        ]
        self.image = widgets.Image(format="png")
        self.last_image: np.ndarray | None = None
        for slider in self.sliders:
            slider.observe(self._on_change, names="value")
        self.widget = widgets.HBox([widgets.VBox(self.sliders), self.image])
        self.update()

    def code(self) -> torch.Tensor:
        """The current slider values as a code of shape ``(1, d)``."""
        return torch.tensor([[slider.value for slider in self.sliders]], dtype=torch.float32)

    def update(self) -> np.ndarray:
        """Decode the current code, show it, and return the image ``(H, W)``."""
        with torch.no_grad():
            decoded = self.decode(self.code()).detach().cpu()
        if decoded.dim() != 4 or decoded.shape[:2] != (1, 1):
            raise ValueError(f"decode must return one grey image of shape (1, 1, H, W), got {tuple(decoded.shape)}")
        if decoded.min() < -1e-6 or decoded.max() > 1 + 1e-6:
            raise ValueError(
                f"decode must return intensities in [0, 1], got values in [{decoded.min():.3g}, {decoded.max():.3g}]; "
                f"pass torch.sigmoid(vae.decode(z)) rather than the logits"
            )
        image = decoded[0, 0].clamp(0, 1).numpy()
        self.last_image = image
        big = np.kron(image, np.ones((self.scale, self.scale)))
        buffer = io.BytesIO()
        matplotlib.image.imsave(buffer, big, cmap="gray", vmin=0.0, vmax=1.0, format="png")
        self.image.value = buffer.getvalue()
        return image

    def _on_change(self, change) -> None:
        self.update()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
