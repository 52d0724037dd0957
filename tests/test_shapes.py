"""The dSprites-like generator of chapter 5: shapes, order, determinism, validation."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from course_vae import ShapesGrid, shapes_dataset
from course_vae.shapes import FACTOR_NAMES, SHAPES


@pytest.fixture(scope="module")
def data():
    return shapes_dataset()


def test_default_grid_shapes_types_and_range(data):
    images, factors = data
    grid = ShapesGrid()
    assert grid.counts == (3, 3, 4, 8, 4) and len(grid) == 1152
    assert images.shape == (1152, 1, 32, 32) and images.dtype == torch.float32
    assert factors.shape == (1152, 5) and factors.dtype == torch.int64
    assert images.min() == 0 and images.max() == 1
    assert torch.equal(images * 16, (images * 16).round())  # antialiasing: multiples of 1/16
    assert grid.names == FACTOR_NAMES and grid.values["shape"] == SHAPES


def test_every_combination_once_in_product_order(data):
    images, factors = data
    grid = ShapesGrid()
    assert factors[0].tolist() == [0, 0, 0, 0, 0] and factors[1].tolist() == [0, 0, 0, 0, 1]  # y fastest
    assert len({tuple(row) for row in factors.tolist()}) == len(grid)
    assert np.array_equal(grid.flat_index(factors), np.arange(len(grid)))
    assert len({bytes(image) for image in images.numpy()}) == len(grid)  # no two images alike


def test_same_bytes_on_every_call(data):
    images, _ = data
    again, _ = shapes_dataset(ShapesGrid())
    assert torch.equal(images, again)
    digest = hashlib.sha256(images.numpy().tobytes()).hexdigest()
    assert digest == hashlib.sha256(again.numpy().tobytes()).hexdigest()


def test_moving_a_shape_shifts_its_pixels_exactly(data):
    images, _ = data
    grid = ShapesGrid()
    a, b = grid.flat_index([[2, 1, 3, 2, 1], [2, 1, 3, 3, 1]])  # x index 2 -> 3: two pixels right
    shift = grid.x[3] - grid.x[2]
    assert torch.equal(torch.roll(images[a], shifts=shift, dims=-1), images[b])
    c = grid.flat_index([[2, 1, 3, 2, 2]])[0]  # y index 1 -> 2: four pixels down
    assert torch.equal(torch.roll(images[a], shifts=grid.y[2] - grid.y[1], dims=-2), images[c])


def test_scale_and_shape_change_the_area(data):
    images, _ = data
    grid = ShapesGrid()
    area = images.sum(dim=(1, 2, 3))
    for shape in range(3):
        small, large = grid.flat_index([[shape, 0, 0, 3, 1], [shape, 2, 0, 3, 1]])
        ratio = (area[large] / area[small]).item()
        assert ratio == pytest.approx((grid.scale[2] / grid.scale[0]) ** 2, rel=0.1)
    square, ellipse = grid.flat_index([[0, 2, 0, 3, 1], [1, 2, 0, 3, 1]])
    # square of half-side 0.75 * 8 = 6: area 144; ellipse of semi-axes 8 and 4: area 32 pi
    assert area[square].item() == pytest.approx(144, rel=0.05)
    assert area[ellipse].item() == pytest.approx(32 * np.pi, rel=0.05)


def test_orientation_turns_the_ellipse(data):
    images, _ = data
    grid = ShapesGrid()
    flat, turned = grid.flat_index([[1, 2, 0, 3, 1], [1, 2, 2, 3, 1]])  # 0 and 45 degrees
    rows = images[flat, 0].sum(dim=1) > 0
    cols = images[flat, 0].sum(dim=0) > 0
    assert cols.sum() > 1.7 * rows.sum()  # lying flat: wider than tall
    assert not torch.equal(images[flat], images[turned])


def test_small_grid_and_size():
    grid = ShapesGrid(size=16, shape=("heart",), scale=(3.0,), orientation=(0.0, 45.0), x=(0, 2), y=(-1,))
    images, factors = shapes_dataset(grid)
    assert images.shape == (4, 1, 16, 16) and factors.tolist() == [[0, 0, 0, 0, 0], [0, 0, 0, 1, 0],
                                                                    [0, 0, 1, 0, 0], [0, 0, 1, 1, 0]]


@pytest.mark.parametrize("kwargs, words", [
    ({"shape": ("square", "star")}, ["star", "square, ellipse, heart"]),
    ({"size": 8}, ["size", ">= 16"]),
    ({"x": (-9, 0)}, ["x offset of 9", "[-7, 7]"]),
    ({"y": (0, 8)}, ["y offset of 8", "[-7, 7]"]),
    ({"scale": (20.0,)}, ["radii in pixels", "[1, size / 2 = 16.0]"]),
    ({"x": (0.5,)}, ["whole numbers"]),
    ({"orientation": ()}, ["non-empty"]),
    ({"scale": (5.0, 5.0)}, ["distinct"]),
])
def test_bad_grids_name_the_allowed_values(kwargs, words):
    with pytest.raises(ValueError) as err:
        ShapesGrid(**kwargs)
    for word in words:
        assert word in str(err.value)


def test_bad_arguments():
    with pytest.raises(ValueError, match="ShapesGrid"):
        shapes_dataset({"size": 32})
    with pytest.raises(ValueError, match=r"\(n, 5\)"):
        ShapesGrid().flat_index([[0, 0, 0]])
    with pytest.raises(ValueError, match=r"orientation indices must lie in \[0, 3\]"):
        ShapesGrid().flat_index([[0, 0, 4, 0, 0]])
