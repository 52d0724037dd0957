"""Figures shared by the chapters. Every helper takes an optional ``ax`` and returns it,
and none of them changes global matplotlib settings."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from torchvision.utils import make_grid


def show_grid(
    images: torch.Tensor,
    nrow: int = 8,
    ax: Axes | None = None,
    title: str | None = None,
    normalize: bool = False,
    padding: int = 2,
) -> Axes:
    """Show a batch of images as one grid (built with ``torchvision.utils.make_grid``).

    Used for reconstructions, samples and learned features from chapter 1 on.

    Args:
        images: ``(B, C, H, W)`` or ``(B, H, W)`` with C = 1 (grey) or 3 (RGB), values in
            [0, 1] unless ``normalize``; tensors on any device, with or without grad.
        nrow: images per row of the grid.
        ax: axes to draw on; a new figure sized to the grid if None.
        title: an optional axes title.
        normalize: rescale each image to [0, 1] by its own min and max (for features
            such as decoder weights, whose values are not intensities).
        padding: pixels between images.

    Returns:
        The axes drawn on.

    Raises:
        ValueError: for a shape other than the two above, or values outside [0, 1]
            when ``normalize`` is false (logits passed where probabilities belong).
    """
    images = torch.as_tensor(images).detach().cpu().float()
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4 or images.shape[1] not in (1, 3) or len(images) == 0:
        raise ValueError(
            f"show_grid needs images of shape (B, C, H, W) or (B, H, W) with C in (1, 3) and "
            f"B >= 1, got {tuple(images.shape)}; flat vectors need a reshape, e.g. "
            f"x.view(-1, 1, 28, 28)"
        )
    if isinstance(nrow, bool) or not isinstance(nrow, int) or nrow < 1:
        raise ValueError(f"nrow must be a positive integer, got {nrow!r}")
    if not normalize:
        lo, hi = images.min().item(), images.max().item()
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise ValueError(
                f"show_grid expects intensities in [0, 1], got values in [{lo:.3g}, {hi:.3g}]; "
                f"pass torch.sigmoid(logits) for a Bernoulli decoder, or normalize=True"
            )
    grid = make_grid(images, nrow=nrow, padding=padding, normalize=normalize, scale_each=normalize, pad_value=1.0)
    if ax is None:
        cols = min(nrow, len(images))
        rows = math.ceil(len(images) / nrow)
        scale = 0.6 * images.shape[-1] / 28
        _, ax = plt.subplots(figsize=(max(cols * scale, 1.5), max(rows * scale, 1.0) + (0.3 if title else 0)))
    if images.shape[1] == 1:
        ax.imshow(grid[0].clamp(0, 1).numpy(), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(grid.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def scatter_codes(
    z: torch.Tensor,
    labels: torch.Tensor | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    s: float = 4.0,
) -> Axes:
    """Scatter 2-D codes, coloured by class label with a legend.

    Used for the latent spaces of chapter 1 (autoencoder) and chapter 4 (VAE).

    Args:
        z: codes ``(N, 2)``.
        labels: optional integer labels ``(N,)``; one colour per class.
        ax: axes to draw on; a new square figure if None.
        title: an optional title.
        s: marker size.

    Returns:
        The axes drawn on.

    Raises:
        ValueError: if ``z`` is not ``(N, 2)`` or ``labels`` has another length.
    """
    z = torch.as_tensor(z).detach().cpu()
    if z.dim() != 2 or z.shape[1] != 2:
        raise ValueError(f"scatter_codes needs 2-D codes of shape (N, 2), got {tuple(z.shape)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    if labels is None:
        ax.scatter(z[:, 0], z[:, 1], s=s, color="C0", alpha=0.6)
    else:
        labels = torch.as_tensor(labels).detach().cpu()
        if labels.shape != (len(z),):
            raise ValueError(f"labels must have shape ({len(z)},), got {tuple(labels.shape)}")
        for c in labels.unique().tolist():
            keep = labels == c
            ax.scatter(z[keep, 0], z[keep, 1], s=s, color=plt.cm.tab10(int(c) % 10), alpha=0.6, label=str(c))
        ax.legend(title="class", markerscale=3, fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return ax


def latent_grid(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """The points of a 2-D grid, ordered so that ``show_grid`` draws them like a plot.

    Rows go from the largest ``y`` (top) to the smallest, columns from the smallest ``x``
    (left) to the largest, so ``show_grid(decoder(latent_grid(xs, ys)), nrow=len(xs))``
    puts each decoded image where its code lies in a scatter plot. Chapters 1 and 4.

    Args:
        xs: ``(n_x,)`` values of ``z_1``; ys: ``(n_y,)`` values of ``z_2``.

    Returns:
        ``(n_y * n_x, 2)`` codes.
    """
    xs = torch.as_tensor(xs, dtype=torch.float32).flatten()
    ys = torch.as_tensor(ys, dtype=torch.float32).flatten()
    grid_y, grid_x = torch.meshgrid(ys.flip(0), xs, indexing="ij")
    return torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1)


def show_decoded_grid(
    images: torch.Tensor,
    xs: torch.Tensor,
    ys: torch.Tensor,
    ax: Axes | None = None,
    title: str | None = None,
    padding: int = 2,
) -> Axes:
    """Show images decoded on a :func:`latent_grid`, on axes in code coordinates.

    Each image is centred on the code it was decoded from, and the axes are labelled
    ``z_1`` and ``z_2`` with the codes' own values, so the picture lines up with a
    :func:`scatter_codes` plot given the same limits. Chapter 1 (and the VAE chapters).

    Args:
        images: ``(n_y * n_x, C, H, W)`` with values in [0, 1], decoded from
            ``latent_grid(xs, ys)`` (rows from the largest ``z_2`` down).
        xs: ``(n_x,)`` evenly spaced, increasing values of ``z_1``, at least two.
        ys: ``(n_y,)`` evenly spaced, increasing values of ``z_2``, at least two.
        ax: axes to draw on; a new figure if None.
        title: an optional title.
        padding: pixels between neighbouring images.

    Returns:
        The axes drawn on.

    Raises:
        ValueError: if the number of images is not ``n_x * n_y``, or ``xs``/``ys`` are
            not evenly spaced increasing values.
    """
    images = torch.as_tensor(images).detach().cpu().float()
    steps = []
    for name, values in (("xs", xs), ("ys", ys)):
        values = torch.as_tensor(values, dtype=torch.float64).flatten()
        gaps = values.diff()
        if len(values) < 2 or not bool((gaps > 0).all()) or not torch.allclose(gaps, gaps[0], rtol=1e-4):
            raise ValueError(f"{name} must hold at least two evenly spaced increasing values, got {values.tolist()}")
        steps.append((values[0].item(), values[-1].item(), gaps[0].item(), len(values)))
    (x0, x1, dx, n_x), (y0, y1, dy, n_y) = steps
    if images.dim() != 4 or len(images) != n_x * n_y:
        raise ValueError(
            f"images must have shape (n_y * n_x, C, H, W) = ({n_y * n_x}, C, H, W) for a "
            f"{n_y} x {n_x} grid, got {tuple(images.shape)}"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    show_grid(images, nrow=n_x, ax=ax, padding=padding)
    picture = ax.images[-1]
    # make_grid puts `padding` pixels before every image and after the last one; cut
    # half of it at each border, so that every image's centre lies at its code.
    start, stop = padding // 2, padding - padding // 2
    array = picture.get_array()
    picture.set_data(array[start : array.shape[0] - stop, start : array.shape[1] - stop])
    picture.set_extent((x0 - dx / 2, x1 + dx / 2, y0 - dy / 2, y1 + dy / 2))
    ax.set_aspect("auto")
    ax.set_axis_on()
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return ax
