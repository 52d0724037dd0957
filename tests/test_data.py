from __future__ import annotations

import math
import struct

import pytest
import torch

from course_vae import binarize, load_mnist


@pytest.mark.parametrize("split, n, per_class", [("train", 4000, 400), ("test", 1000, 100)])
def test_bundled_mnist_shapes_types_and_balance(split, n, per_class):
    images, labels = load_mnist(split)
    assert images.shape == (n, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (n,) and labels.dtype == torch.int64
    assert images.min() >= 0 and images.max() <= 1
    assert images.max() == 1  # intensities were scaled from 0..255, not left as they were
    assert labels.bincount(minlength=10).tolist() == [per_class] * 10


def test_bundled_split_is_disjoint_and_interleaved():
    train, train_labels = load_mnist("train")
    test, _ = load_mnist("test")
    train_rows = {bytes(row) for row in (train.flatten(1) * 255).round().to(torch.uint8).numpy()}
    test_rows = {bytes(row) for row in (test.flatten(1) * 255).round().to(torch.uint8).numpy()}
    assert len(train_rows) == 4000 and len(test_rows) == 1000
    assert not train_rows & test_rows
    assert train_labels[:20].tolist() == list(range(10)) * 2


def test_bundled_mnist_is_deterministic_and_returns_copies():
    a, la = load_mnist("train")
    a[:] = 0  # mutating a result must not leak into the next call
    la[:] = 0
    b, lb = load_mnist("train")
    c, lc = load_mnist("train")
    assert b.max() == 1 and torch.equal(b, c) and torch.equal(lb, lc)
    assert lb.bincount().tolist() == [400] * 10


@pytest.mark.parametrize(
    "kwargs, words",
    [({"split": "validation"}, ["split", "'train'", "'test'", "'validation'"]),
     ({"source": "kaggle"}, ["source", "'bundled'", "'torchvision'", "'kaggle'"])],
)
def test_unknown_split_or_source_names_the_allowed_values(kwargs, words):
    with pytest.raises(ValueError) as err:
        load_mnist(**kwargs)
    for word in words:
        assert word in str(err.value)


def _write_idx(root, prefix, images, labels):
    """Write images (N, 28, 28) uint8 and labels (N,) in MNIST's IDX format."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    n = len(labels)
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + images.numpy().tobytes())
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.numpy().tobytes())


def test_torchvision_source_reads_idx_files_offline(tmp_path):
    g = torch.Generator().manual_seed(0)
    train_images = torch.randint(0, 256, (6, 28, 28), generator=g, dtype=torch.uint8)
    train_labels = torch.tensor([3, 1, 4, 1, 5, 9], dtype=torch.uint8)
    test_images = torch.randint(0, 256, (2, 28, 28), generator=g, dtype=torch.uint8)
    test_labels = torch.tensor([2, 7], dtype=torch.uint8)
    _write_idx(tmp_path, "train", train_images, train_labels)
    _write_idx(tmp_path, "t10k", test_images, test_labels)

    images, labels = load_mnist("train", source="torchvision", root=tmp_path)
    assert images.shape == (6, 1, 28, 28) and images.dtype == torch.float32
    assert labels.dtype == torch.int64 and labels.tolist() == [3, 1, 4, 1, 5, 9]
    torch.testing.assert_close(images, train_images.unsqueeze(1).float() / 255)

    images, labels = load_mnist("test", source="torchvision", root=str(tmp_path))
    assert images.shape == (2, 1, 28, 28) and labels.tolist() == [2, 7]


def test_torchvision_source_without_files_says_how_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_mnist("train", source="torchvision", root=tmp_path)


def test_binarize_is_seeded_binary_and_unbiased():
    probs = torch.full((200, 1, 28, 28), 0.3)
    a = binarize(probs, torch.Generator().manual_seed(1))
    b = binarize(probs, 1)
    c = binarize(probs, 2)
    assert a.shape == probs.shape and a.dtype == probs.dtype
    assert set(a.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(a, b) and not torch.equal(a, c)
    # 156,800 Bernoulli(0.3) draws: the mean is within 5 standard errors of 0.3
    assert abs(a.mean().item() - 0.3) < 5 * (0.3 * 0.7 / a.numel()) ** 0.5
    edges = binarize(torch.tensor([0.0, 1.0]), 0)
    assert edges.tolist() == [0.0, 1.0]


@pytest.mark.parametrize(
    "images, match",
    [(torch.full((2, 3), 2.0), r"\[0, 1\]"), (torch.full((2, 3), -0.5), r"\[0, 1\]"),
     (torch.zeros(2, 3, dtype=torch.uint8), "floating-point")],
)
def test_binarize_rejects_values_that_are_not_probabilities(images, match):
    with pytest.raises(ValueError, match=match):
        binarize(images, 0)


def test_binarize_rejects_a_missing_generator():
    with pytest.raises(ValueError, match="generator"):
        binarize(torch.rand(2, 3), None)


def test_toy_2d_circle_and_moons():
    from course_vae import toy_2d

    circle = toy_2d("circle", 500, noise=0.0, seed=3)
    assert circle.shape == (500, 2) and circle.dtype == torch.float32
    torch.testing.assert_close(circle.norm(dim=1), torch.ones(500))
    noisy = toy_2d("circle", 500, noise=0.1, seed=3)
    assert 0.05 < (noisy.norm(dim=1) - 1).abs().mean() < 0.15
    assert torch.equal(noisy, toy_2d("circle", 500, noise=0.1, seed=3))
    moons = toy_2d("moons", 300, seed=1)
    assert moons.shape == (300, 2) and torch.equal(moons, toy_2d("moons", 300, seed=1))
    with pytest.raises(ValueError, match="'circle', 'moons'"):
        toy_2d("spiral", 10)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        toy_2d("circle", 0)
    with pytest.raises(ValueError, match="noise"):
        toy_2d("circle", 10, noise=-1.0)


def test_moon_images_light_the_right_fraction_of_the_disk():
    from course_vae import moon_images

    phases = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    moons = moon_images(phases, size=28, radius=10.0, supersample=8)
    assert moons.shape == (5, 1, 28, 28) and moons.dtype == torch.float32
    assert moons.min() >= 0 and moons.max() <= 1
    disk = moons[-1].sum()  # the full moon: the disk's area in pixels
    assert abs(disk.item() - math.pi * 100) < 2.0
    assert moons[0].sum() == 0  # the new moon is dark
    lit_fraction = moons.sum(dim=(1, 2, 3)) / disk
    torch.testing.assert_close(lit_fraction, (1 - torch.cos(math.pi * phases)) / 2, atol=0.01, rtol=0)
    # the half moon lights the right half only
    assert moons[2, 0, :, :13].sum() == 0 and moons[2, 0, :, 15:].sum() > 100
    # phases grow monotonically: a later phase lights every pixel an earlier one lights
    assert bool((moons[1:] >= moons[:-1] - 1e-6).all())


@pytest.mark.parametrize(
    "kwargs, match",
    [({"phases": [1.5]}, "phases"), ({"phases": []}, "phases"), ({"phases": [0.5], "radius": 15.0}, "radius"),
     ({"phases": [0.5], "size": 0}, "size"), ({"phases": [0.5], "supersample": 1.5}, "supersample")],
)
def test_moon_images_reject_bad_input(kwargs, match):
    from course_vae import moon_images

    with pytest.raises(ValueError, match=match):
        moon_images(**kwargs)
