from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch

from course_vae import show_grid


def test_show_grid_draws_on_the_given_axes_and_returns_them():
    images = torch.rand(10, 1, 28, 28)
    _, ax = plt.subplots()
    assert show_grid(images, nrow=5, ax=ax, title="digits") is ax
    grid = ax.images[0].get_array()
    assert grid.shape == (2 + 2 * 30, 2 + 5 * 30)  # make_grid: 2 rows of 5, padding 2
    assert ax.get_title() == "digits"
    # the first image sits at the top-left, after the padding
    assert torch.allclose(torch.as_tensor(grid[2:30, 2:30]).float(), images[0, 0], atol=1e-6)


def test_show_grid_makes_its_own_figure_and_accepts_other_layouts():
    ax = show_grid(torch.rand(3, 28, 28))
    assert ax.figure is not None and len(ax.images) == 1
    ax = show_grid(torch.rand(4, 3, 8, 8, requires_grad=True), nrow=2)  # RGB, with grad
    assert ax.images[0].get_array().shape == (2 + 2 * 10, 2 + 2 * 10, 3)


def test_show_grid_does_not_touch_global_settings():
    before = dict(plt.rcParams)
    show_grid(torch.rand(2, 1, 28, 28))
    assert dict(plt.rcParams) == before


@pytest.mark.parametrize(
    "images, match",
    [(torch.rand(8, 784), r"shape \(B, C, H, W\)"), (torch.rand(8, 2, 28, 28), "C in"),
     (torch.randn(8, 1, 28, 28) * 5, "sigmoid")],
)
def test_show_grid_rejects_what_it_cannot_show(images, match):
    with pytest.raises(ValueError, match=match):
        show_grid(images)


def test_show_grid_normalizes_features_on_request():
    weights = torch.randn(6, 1, 28, 28)
    ax = show_grid(weights, normalize=True)
    grid = ax.images[0].get_array()
    assert grid.min() >= 0 and grid.max() <= 1


def test_scatter_codes_colours_each_class_and_labels_axes():
    from course_vae import scatter_codes

    z = torch.randn(30, 2)
    labels = torch.arange(30) % 3
    _, ax = plt.subplots()
    assert scatter_codes(z, labels, ax=ax, title="codes") is ax
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "1", "2"]
    assert ax.get_xlabel() == "$z_1$" and ax.get_title() == "codes"
    assert sum(len(c.get_offsets()) for c in ax.collections) == 30
    assert scatter_codes(z).get_legend() is None
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        scatter_codes(torch.randn(5, 3))
    with pytest.raises(ValueError, match="labels must have shape"):
        scatter_codes(z, labels[:10])


def test_latent_grid_runs_top_to_bottom_and_left_to_right():
    from course_vae import latent_grid

    grid = latent_grid(torch.tensor([0.0, 1.0, 2.0]), torch.tensor([10.0, 20.0]))
    assert grid.tolist() == [[0, 20], [1, 20], [2, 20], [0, 10], [1, 10], [2, 10]]
