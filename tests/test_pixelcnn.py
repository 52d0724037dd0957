"""PixelCNNPrior and its masked convolutions (course_vae.pixelcnn), chapter 8."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from course_vae import PixelCNNPrior, fit
from course_vae.pixelcnn import MaskedConv2d


def _prior(**kwargs):
    torch.manual_seed(0)
    return PixelCNNPrior(**{"num_codes": 6, "grid": (4, 5), "channels": 8, "layers": 3, **kwargs})


def test_masks():
    a = MaskedConv2d(1, 1, 3, "A").mask[0, 0]
    b = MaskedConv2d(1, 1, 3, "B").mask[0, 0]
    assert a.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert b.tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]
    with pytest.raises(ValueError, match="mask_type"):
        MaskedConv2d(1, 1, 3, "C")
    with pytest.raises(ValueError, match="odd"):
        MaskedConv2d(1, 1, 4, "A")


def test_logits_depend_only_on_earlier_positions():
    prior = _prior()
    h, w = prior.grid
    indices = torch.randint(0, 6, (1, h, w))
    embedded = prior.embed(indices).permute(0, 3, 1, 2).detach().requires_grad_(True)
    logits = prior.body(embedded)  # (1, K, H, W)
    for i in range(h * w):
        r, c = divmod(i, w)
        (grad,) = torch.autograd.grad(logits[0, :, r, c].sum(), embedded, retain_graph=True)
        seen = grad[0].abs().sum(0).reshape(-1) > 0  # which positions affect the logits at i
        assert not seen[i:].any(), f"position {i} sees itself or a later position"
        if c > 0:
            assert seen[i - 1], f"position {i} does not see its left neighbour"
        if r > 0:
            assert seen[(r - 1) * w: (r - 1) * w + c + 1].all(), f"position {i} misses a position above or above-left"
    # and from the indices: changing a later position leaves the logits at earlier ones unchanged
    changed = indices.clone()
    changed[0, 2, 3] = (changed[0, 2, 3] + 1) % 6
    before, after = prior(indices), prior(changed)
    position = 2 * w + 3
    flat_b, flat_a = before.flatten(2), after.flatten(2)
    torch.testing.assert_close(flat_b[..., : position + 1], flat_a[..., : position + 1])
    assert not torch.allclose(flat_b[..., position + 1:], flat_a[..., position + 1:])


def test_nll_is_the_summed_cross_entropy():
    prior = _prior()
    indices = torch.randint(0, 6, (3, 4, 5))
    nll = prior.nll(indices)
    assert nll.shape == (3,) and torch.isfinite(nll).all()
    logits = prior(indices)
    expected = torch.stack([F.cross_entropy(logits[b:b + 1], indices[b:b + 1], reduction="sum") for b in range(3)])
    torch.testing.assert_close(nll, expected)
    log_probs = logits.log_softmax(1).gather(1, indices[:, None]).squeeze(1)
    torch.testing.assert_close(nll, -log_probs.flatten(1).sum(1))


def test_sampling_is_deterministic_under_a_generator():
    prior = _prior()
    prior.train()
    a = prior.sample(5, generator=torch.Generator().manual_seed(3))
    b = prior.sample(5, generator=torch.Generator().manual_seed(3))
    assert a.shape == (5, 4, 5) and a.dtype == torch.int64 and torch.equal(a, b)
    assert a.min() >= 0 and a.max() < 6
    assert prior.training  # mode restored


def test_learns_a_deterministic_pattern():
    grid = (torch.arange(12).reshape(3, 4) % 3)[None].repeat(64, 1, 1)  # every grid is the same
    torch.manual_seed(0)
    prior = PixelCNNPrior(3, (3, 4), channels=16, layers=2)
    history = fit(prior, lambda p, b: {"loss": p.nll(b).mean()}, grid, epochs=150, batch_size=64, lr=1e-2,
                  seed=0, progress=False)
    assert history.train["loss"][-1] < 0.01 * history.train["loss"][0]
    assert prior.nll(grid[:1]).exp().item() < 1.05  # p(grid) > 0.95: the first position learns from biases only
    assert torch.equal(prior.sample(4, generator=torch.Generator().manual_seed(0)), grid[:4])


def test_bad_inputs():
    prior = _prior()
    with pytest.raises(ValueError, match=r"\(B, 4, 5\)"):
        prior(torch.zeros(2, 5, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        prior(torch.full((1, 4, 5), 6))
    with pytest.raises(ValueError, match="integer"):
        prior(torch.zeros(1, 4, 5))
    with pytest.raises(ValueError, match="num_codes"):
        PixelCNNPrior(0)
    with pytest.raises(ValueError, match="grid"):
        PixelCNNPrior(4, grid=(7,))
    with pytest.raises(ValueError, match="n must"):
        prior.sample(0)
