"""The sharpness measure (course_vae.metrics.sharpness): variance of the Laplacian."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_vae.metrics import laplacian, sharpness


def _digit_like(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 1, 28, 28)
    images[:, :, 6:22, 12:16] = 1.0  # a bar
    return (images + 0.0 * torch.rand(n, 1, 28, 28, generator=g)).clamp(0, 1)


def test_constant_and_linear_images_have_zero_sharpness():
    assert torch.equal(sharpness(torch.full((3, 1, 10, 10), 0.7)), torch.zeros(3))
    ramp = torch.linspace(0, 1, 10).expand(1, 1, 10, 10).clone()
    assert sharpness(ramp).abs().max() < 1e-10


def test_blurring_lowers_sharpness():
    images = _digit_like()
    kernel = torch.full((1, 1, 3, 3), 1 / 9)
    blurred = F.conv2d(images, kernel, padding=1)
    assert bool((sharpness(blurred) < 0.5 * sharpness(images)).all())


def test_laplacian_matches_its_definition_at_one_pixel():
    images = torch.rand(2, 3, 6, 7, generator=torch.Generator().manual_seed(1))
    lap = laplacian(images)
    assert lap.shape == (2, 3, 4, 5)
    i, j = 2, 3  # output pixel (i, j) is centred at input pixel (i + 1, j + 1)
    x = images[1, 2]
    expected = x[i, j + 1] + x[i + 2, j + 1] + x[i + 1, j] + x[i + 1, j + 2] - 4 * x[i + 1, j + 1]
    assert lap[1, 2, i, j] == pytest.approx(expected.item(), abs=1e-6)
    assert sharpness(images)[1] == pytest.approx(lap[1].flatten().var(unbiased=False).item(), rel=1e-6)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        sharpness(torch.zeros(28, 28))
    with pytest.raises(ValueError, match="floating point"):
        sharpness(torch.zeros(1, 1, 5, 5, dtype=torch.uint8))
