from __future__ import annotations

import pytest
import torch

from course_vae import LatentExplorer, traversal_grid


def _decode(z):
    """A fake decoder: image brightness sigmoid(z_1 + 2 z_2) everywhere."""
    level = torch.sigmoid(z[:, 0] + 2 * z[:, -1])
    return level.view(-1, 1, 1, 1).expand(len(z), 1, 28, 28)


def test_explorer_updates_the_image_when_a_slider_moves():
    explorer = LatentExplorer(_decode, latent_dim=2, scale=2)
    assert [s.description for s in explorer.sliders] == ["z1", "z2"]
    assert explorer.last_image.shape == (28, 28) and explorer.last_image[0, 0] == pytest.approx(0.5)
    first_png = explorer.image.value
    assert first_png[:8] == b"\x89PNG\r\n\x1a\n"
    explorer.sliders[1].value = 1.0  # what a user dragging the slider does
    assert explorer.last_image[0, 0] == pytest.approx(torch.sigmoid(torch.tensor(2.0)).item(), rel=1e-6)
    assert explorer.image.value != first_png
    assert explorer.code().tolist() == [[0.0, 1.0]]
    assert "application/vnd.jupyter.widget-view+json" in explorer._repr_mimebundle_()


def test_explorer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="latent_dim"):
        LatentExplorer(_decode, latent_dim=0)
    with pytest.raises(ValueError, match="value_range"):
        LatentExplorer(_decode, latent_dim=2, value_range=(1.0, -1.0))


def test_traversal_grid_moves_one_coordinate_per_row():
    images = traversal_grid(_decode, latent_dim=2, values=[-1.0, 0.0, 1.0], base=torch.tensor([0.5, 0.0]))
    assert images.shape == (6, 1, 28, 28)
    levels = images[:, 0, 0, 0]
    expected = torch.sigmoid(torch.tensor([-1.0, 0.0, 1.0, 0.5 - 2, 0.5, 0.5 + 2]))
    torch.testing.assert_close(levels, expected)
    with pytest.raises(ValueError, match="base must have 2 entries"):
        traversal_grid(_decode, 2, [0.0], base=torch.zeros(3))


def test_explorer_refuses_logits_and_wrong_shapes_and_starts_from_a_base_code():
    with pytest.raises(ValueError, match="rather than the logits"):
        LatentExplorer(lambda z: 5 * torch.randn(1, 1, 28, 28), latent_dim=2)
    with pytest.raises(ValueError, match=r"shape \(1, 1, H, W\)"):
        LatentExplorer(lambda z: torch.rand(1, 3, 28, 28), latent_dim=2)
    with pytest.raises(ValueError, match="step must be positive"):
        LatentExplorer(_decode, latent_dim=2, step=0.0)
    with pytest.raises(ValueError, match="scale must be a positive integer"):
        LatentExplorer(_decode, latent_dim=2, scale=1.5)
    with pytest.raises(ValueError, match="base must have 2 entries"):
        LatentExplorer(_decode, latent_dim=2, base=torch.zeros(3))
    explorer = LatentExplorer(_decode, latent_dim=2, base=torch.tensor([1.0, -0.5]))
    assert explorer.code().tolist() == [[1.0, -0.5]]
    assert explorer.last_image[0, 0] == pytest.approx(torch.sigmoid(torch.tensor(0.0)).item(), abs=1e-6)


def test_traversal_grid_validates_its_arguments():
    with pytest.raises(ValueError, match="latent_dim must be a positive integer"):
        traversal_grid(_decode, 0, [0.0])
    with pytest.raises(ValueError, match="non-empty"):
        traversal_grid(_decode, 2, [])
