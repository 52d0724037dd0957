"""A dSprites-like dataset with known generative factors, rasterized in code. Chapter 5.

dSprites (Matthey et al. 2017, used by Higgins et al. 2017) holds 737,280 images of 64 x 64 pixels: every
combination of 3 shapes, 6 scales, 40 orientations and 32 x 32 positions. Disentanglement
needs exactly that structure (every image labelled with the values of its factors, every
combination present), but not that size. :func:`shapes_dataset` draws the same kind of
images for a small grid, without a download, so that chapter 5 can train its nineteen
small models on a CPU in less than a minute.

Each shape is a region of the plane (a square, an ellipse, the classic heart curve)
scaled, rotated about its centre and drawn antialiased: every pixel is split into 4 x 4
sub-pixels and its value is the fraction of sub-pixel centres inside the region, a
multiple of 1/16. Positions are whole-pixel offsets, so moving a shape shifts its pixels
exactly, and the images have the same bytes on every machine.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch

SHAPES = ("square", "ellipse", "heart")
FACTOR_NAMES = ("shape", "scale", "orientation", "x", "y")
SUBPIXELS = 4  # each pixel is sampled at SUBPIXELS x SUBPIXELS points


def _inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether the points ``(u, v)`` (shape units, v upwards) lie in the unit-size shape."""
    if shape == "square":  # half-side 0.75: its corners reach 1.06
        return np.maximum(np.abs(u), np.abs(v)) <= 0.75
    if shape == "ellipse":  # semi-axes 1 and 0.5: orientation is visible
        return u**2 + (v / 0.5) ** 2 <= 1.0
    # the heart curve (x^2 + y^2 - 1)^3 = x^2 y^3, shrunk by 1.2 and centred: tip down
    x, y = 1.2 * u, 1.2 * v + 0.12
    return (x**2 + y**2 - 1.0) ** 3 - x**2 * y**3 <= 0.0


@dataclass(frozen=True)
class ShapesGrid:
    """The value grid of every factor of :func:`shapes_dataset`, and the image size.

    The default grid, 3 shapes x 3 scales x 4 orientations x 8 x 4 positions = 1,152
    images of 32 x 32 pixels, is chosen for the time budget of chapter 5: eighteen small
    VAEs (six betas, three seeds each) must train on it in well under a minute on a
    laptop CPU, so it is 640 times smaller than dSprites. At 32 pixels even the smallest
    shapes (radius 5 pixels) keep their outlines (chapter 5's first figure shows them);
    four orientations within a quarter turn keep every image distinct (a square turned
    by 90 degrees is the same square). The horizontal position takes 8 values and the vertical
    one 4, so that the two positions carry different amounts of information (log 8 and
    log 4 nats) and are not interchangeable; this also halves the data, and so the cost
    of an epoch, compared with 8 x 8 positions.

    Attributes:
        size: the side of the square images, in pixels (at least 16).
        shape: names of the shapes, from ``SHAPES``.
        scale: radius of each size, in pixels (the ellipse's long semi-axis).
        orientation: anticlockwise rotations, in degrees.
        x: horizontal offsets of the shape's centre from the image centre, whole pixels,
            positive to the right.
        y: vertical offsets, whole pixels, positive downwards (the row direction).
    """

    size: int = 32
    shape: tuple[str, ...] = SHAPES
    scale: tuple[float, ...] = (5.0, 6.5, 8.0)
    orientation: tuple[float, ...] = (0.0, 22.5, 45.0, 67.5)
    x: tuple[int, ...] = (-7, -5, -3, -1, 1, 3, 5, 7)
    y: tuple[int, ...] = (-6, -2, 2, 6)

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 16:
            raise ValueError(f"size must be an integer >= 16 (pixels), got {self.size!r}")
        for name in FACTOR_NAMES:
            values = getattr(self, name)
            if not isinstance(values, tuple) or len(values) == 0:
                raise ValueError(f"{name} must be a non-empty tuple of values, got {values!r}")
            if len(set(values)) != len(values):
                raise ValueError(f"{name} values must be distinct, got {values}")
        unknown = [s for s in self.shape if s not in SHAPES]
        if unknown:
            raise ValueError(f"unknown shape(s) {unknown}; allowed shapes are {', '.join(SHAPES)}")
        for s in self.scale:
            if isinstance(s, bool) or not isinstance(s, (int, float)) or not 1.0 <= s <= self.size / 2:
                raise ValueError(f"scale values are radii in pixels in [1, size / 2 = {self.size / 2}], got {s!r}")
        for a in self.orientation:
            if isinstance(a, bool) or not isinstance(a, (int, float)) or not math.isfinite(a):
                raise ValueError(f"orientation values must be finite angles in degrees, got {a!r}")
        for name in ("x", "y"):
            for offset in getattr(self, name):
                if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)):
                    raise ValueError(f"{name} offsets must be whole numbers of pixels, got {offset!r}")
        reach = self._reach()
        for name in ("x", "y"):
            worst = max(abs(o) for o in getattr(self, name))
            if worst > reach:
                raise ValueError(
                    f"a {name} offset of {worst} pixels pushes the largest shape out of the image; with size "
                    f"{self.size} and scale up to {max(self.scale)}, offsets must lie in [-{reach}, {reach}]"
                )

    def _reach(self) -> int:
        """The largest whole-pixel offset that keeps every shape inside the image."""
        extent = 1.1 * max(self.scale)  # every unit shape fits in a disc of radius 1.1
        return int(math.floor(self.size / 2 - extent))

    @property
    def names(self) -> tuple[str, ...]:
        """``("shape", "scale", "orientation", "x", "y")``, the order of the factor columns."""
        return FACTOR_NAMES

    @property
    def values(self) -> dict[str, tuple]:
        """The values of each factor, by name, in the order the indices count them."""
        return {name: getattr(self, name) for name in FACTOR_NAMES}

    @property
    def counts(self) -> tuple[int, ...]:
        """How many values each factor has, e.g. ``(3, 3, 4, 8, 8)``."""
        return tuple(len(getattr(self, name)) for name in FACTOR_NAMES)

    def __len__(self) -> int:
        return int(np.prod(self.counts))

    def flat_index(self, factors: np.ndarray | torch.Tensor) -> np.ndarray:
        """The image number of each row of factor indices: ``(n, 5) -> (n,)``.

        Images are stored in the order of ``itertools.product`` over the factors (the
        last factor, ``y``, changes fastest), so ``images[grid.flat_index(f)]`` picks
        the images with factor indices ``f``.

        Raises:
            ValueError: for a wrong shape or an index outside a factor's range.
        """
        factors = np.asarray(factors, dtype=np.int64)
        if factors.ndim != 2 or factors.shape[1] != len(FACTOR_NAMES):
            raise ValueError(f"factors must have shape (n, {len(FACTOR_NAMES)}), got {factors.shape}")
        for k, (name, count) in enumerate(zip(FACTOR_NAMES, self.counts)):
            bad = (factors[:, k] < 0) | (factors[:, k] >= count)
            if bad.any():
                raise ValueError(f"{name} indices must lie in [0, {count - 1}], got {factors[bad, k][0]}")
        return np.ravel_multi_index(factors.T, self.counts)


def _template(shape: str, scale: float, degrees: float, size: int) -> np.ndarray:
    """One shape centred in a ``size x size`` image, antialiased: ``(size, size)`` float64."""
    step = 1.0 / SUBPIXELS
    offsets = (np.arange(size * SUBPIXELS) + 0.5) * step - size / 2  # sub-pixel centres, from the image centre
    col, row = np.meshgrid(offsets, offsets, indexing="xy")
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    px, py = col, -row  # y upwards
    u = (cos * px + sin * py) / scale  # rotate the point by -angle: the shape turns by +angle
    v = (-sin * px + cos * py) / scale
    inside = _inside(shape, u, v).astype(np.float64)
    return inside.reshape(size, SUBPIXELS, size, SUBPIXELS).mean(axis=(1, 3))


def shapes_dataset(grid: ShapesGrid | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of a dSprites-like grid, with the index of each of its factors.

    Factors, in column order: ``shape`` (square, ellipse, heart), ``scale``,
    ``orientation``, ``x`` and ``y`` (see :class:`ShapesGrid` for the default values and
    why they were chosen). Images come in the order of ``itertools.product`` over the
    factor indices, so :meth:`ShapesGrid.flat_index` finds any combination and a chapter
    can vary one factor with the others held fixed. Nothing is random: the same grid
    gives the same bytes on every call. Taught in chapter 5.

    Args:
        grid: the factor values and image size; ``ShapesGrid()`` (1,152 images of
            32 x 32) if None.

    Returns:
        ``(images, factors)``: float32 ``(N, 1, S, S)`` with values in [0, 1] (multiples
        of 1/16), and int64 ``(N, 5)`` with the index of each factor's value.

    Raises:
        ValueError: if ``grid`` is not a :class:`ShapesGrid` (whose own checks name the
            allowed values of every field).
    """
    grid = ShapesGrid() if grid is None else grid
    if not isinstance(grid, ShapesGrid):
        raise ValueError(f"grid must be a ShapesGrid, got {type(grid).__name__}")
    s = grid.size
    images = np.zeros((len(grid), s, s), dtype=np.float32)
    position = 0
    for shape, scale, degrees in itertools.product(grid.shape, grid.scale, grid.orientation):
        template = _template(shape, float(scale), float(degrees), s).astype(np.float32)
        for dx, dy in itertools.product(grid.x, grid.y):
            # shift by whole pixels; the grid's checks guarantee nothing leaves the image
            shifted = np.zeros((s, s), dtype=np.float32)
            rows_src = slice(max(0, -dy), s - max(0, dy))
            rows_dst = slice(max(0, dy), s - max(0, -dy))
            cols_src = slice(max(0, -dx), s - max(0, dx))
            cols_dst = slice(max(0, dx), s - max(0, -dx))
            shifted[rows_dst, cols_dst] = template[rows_src, cols_src]
            images[position] = shifted
            position += 1
    factors = np.array(list(itertools.product(*(range(c) for c in grid.counts))), dtype=np.int64)
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(factors)
