"""FSQ (course_vae.fsq), chapter 8."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from course_vae import FSQ, QuantizerOutput


@pytest.mark.parametrize("levels", [(8, 5, 5, 5), (4, 4, 4), (2, 3), (7,)])
def test_values_on_the_grid_and_num_codes(levels):
    fsq = FSQ(levels)
    assert fsq.num_codes == math.prod(levels) and fsq.code_dim == len(levels)
    z_e = torch.randn(16, len(levels), 3, 3) * 4
    out = fsq(z_e)
    assert isinstance(out, QuantizerOutput)
    assert out.z_q.shape == z_e.shape and out.indices.shape == (16, 3, 3)
    for i, n in enumerate(levels):
        half = n // 2
        grid = torch.tensor([(k - half) / half for k in range(n)])
        values = out.z_q[:, i].reshape(-1)
        assert torch.isin(values, grid).all()  # exactly one of the L levels, in [-1, 1]
    for name in ("codebook_loss", "commitment_loss", "loss"):
        assert getattr(out, name).item() == 0.0


def test_every_grid_point_is_reachable_and_indices_round_trip():
    fsq = FSQ((4, 3))
    z = torch.linspace(-6, 6, 200)
    pairs = torch.stack(torch.meshgrid(z, z, indexing="ij")).reshape(2, -1).t()
    out = fsq(pairs)
    assert out.indices.unique().tolist() == list(range(12))
    assert fsq.codebook.shape == (12, 2)
    torch.testing.assert_close(fsq.codebook[out.indices], out.z_q)
    torch.testing.assert_close(fsq.indices_to_codes(fsq.codes_to_indices(fsq.codebook)), fsq.codebook)
    assert fsq.codes_to_indices(fsq.codebook).tolist() == list(range(12))
    # all rows of the implicit codebook are distinct: K points of the product grid
    assert len({tuple(r) for r in fsq.codebook.tolist()}) == 12
    assert {tuple(r) for r in fsq.codebook.tolist()} == set(itertools.product([-1, -0.5, 0, 0.5], [-1, 0, 1]))


def test_zero_maps_to_the_level_zero():
    fsq = FSQ((8, 5))
    assert fsq(torch.zeros(1, 2)).z_q.abs().sum() == 0


def test_rounding_is_straight_through():
    fsq = FSQ((8, 5, 5))
    z_e = torch.randn(4, 3, 2, 2, requires_grad=True)
    out = fsq(z_e)
    upstream = torch.randn_like(out.z_q)
    (grad,) = torch.autograd.grad(out.z_q, z_e, upstream)
    # the gradient is that of the smooth map bound(z) / floor(L/2): rounding passes it unchanged
    smooth = lambda z: (fsq.bound(z.movedim(1, -1)) / fsq._half_width).movedim(-1, 1)  # noqa: E731
    (expected,) = torch.autograd.grad(smooth(z_e), z_e, upstream)
    torch.testing.assert_close(grad, expected, rtol=0, atol=0)


def test_bad_arguments():
    for levels in [(), (1, 4), (4.0,), (True, 3)]:
        with pytest.raises(ValueError, match="levels"):
            FSQ(levels)
    with pytest.raises(ValueError, match=r"\(B, D\)|code_dim = 2"):
        FSQ((3, 3))(torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"\[0, 9\)"):
        FSQ((3, 3)).indices_to_codes(torch.tensor([9]))
