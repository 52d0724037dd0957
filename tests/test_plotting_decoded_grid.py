from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch

from course_vae import latent_grid, show_decoded_grid


def test_show_decoded_grid_puts_each_image_at_its_code():
    xs, ys = torch.tensor([-1.0, 0.0, 1.0]), torch.tensor([10.0, 12.0])
    codes = latent_grid(xs, ys)  # (6, 2), top row first
    images = torch.zeros(6, 1, 4, 4)
    images[2] = 0.6  # the code (1, 12): right column, top row (the padding is white, 1.0)
    _, ax = plt.subplots()
    assert show_decoded_grid(images, xs, ys, ax=ax, title="grid") is ax
    picture = ax.images[0]
    assert picture.get_extent() == pytest.approx([-1.5, 1.5, 9.0, 13.0])  # left, right, bottom, top
    array = picture.get_array()
    assert array.shape == (2 * 6, 3 * 6)  # 4-pixel images, padding 2, half of it cut at the borders
    # the grey image's pixels: their centres, mapped through the extent, surround its code
    rows, cols = (torch.as_tensor(array) - 0.6).abs().lt(1e-6).nonzero(as_tuple=True)
    assert len(rows) == 16
    x = -1.5 + (cols.double() + 0.5) / array.shape[1] * 3.0
    y = 13.0 - (rows.double() + 0.5) / array.shape[0] * 4.0
    assert x.mean().item() == pytest.approx(codes[2, 0].item())
    assert y.mean().item() == pytest.approx(codes[2, 1].item())
    assert ax.get_xlabel() == "$z_1$" and ax.get_ylabel() == "$z_2$" and ax.get_title() == "grid"
    assert ax.axison


def test_show_decoded_grid_rejects_mismatched_grids():
    xs = torch.tensor([0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match=r"\(6, C, H, W\)"):
        show_decoded_grid(torch.rand(5, 1, 4, 4), xs, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="evenly spaced"):
        show_decoded_grid(torch.rand(6, 1, 4, 4), torch.tensor([0.0, 1.0, 3.0]), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="evenly spaced"):
        show_decoded_grid(torch.rand(3, 1, 4, 4), xs, torch.tensor([0.0]))
