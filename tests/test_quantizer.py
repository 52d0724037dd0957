"""VectorQuantizer (course_vae.quantizer), chapter 8."""

from __future__ import annotations

import pytest
import torch

from course_vae import QuantizerOutput, VectorQuantizer, seed_everything
from course_vae.metrics import perplexity


def _brute_force(vectors: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """argmin over an explicit (N, K) table of squared distances, first minimum on ties."""
    table = [[float(((v - e) ** 2).sum()) for e in codebook.double()] for v in vectors.double()]
    return torch.tensor([min(range(len(row)), key=row.__getitem__) for row in table])


def test_indices_equal_brute_force_argmin():
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=16, code_dim=3)
    vq.set_codebook(torch.randn(16, 3))
    z_e = torch.randn(4, 3, 5, 6)
    out = vq(z_e)
    assert isinstance(out, QuantizerOutput)
    assert out.indices.shape == (4, 5, 6) and out.indices.dtype == torch.int64
    vectors = z_e.permute(0, 2, 3, 1).reshape(-1, 3)
    assert torch.equal(out.indices.reshape(-1), _brute_force(vectors, vq.codebook.detach()))
    # z_q holds the chosen codes at each position, channels first
    torch.testing.assert_close(out.z_q, vq.codebook[out.indices].permute(0, 3, 1, 2))


def test_flat_input_and_ties_go_to_the_lowest_index():
    vq = VectorQuantizer(num_codes=4, code_dim=2)
    vq.set_codebook(torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]))
    z_e = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [0.0, -1.0]])
    out = vq(z_e)  # (B, D) input
    # (0, 0) is equally far from codes 0, 1, 2, 3; (1, 0) equals codes 0 and 3; (0, -1) ties 0 and 1
    assert out.indices.tolist() == [0, 0, 2, 0]
    assert out.z_q.shape == (4, 2)


def test_straight_through_gradient_is_the_identity():
    torch.manual_seed(1)
    vq = VectorQuantizer(num_codes=8, code_dim=4)
    z_e = torch.randn(2, 4, 3, 3, requires_grad=True)
    out = vq(z_e)
    upstream = torch.randn_like(out.z_q)
    (grad,) = torch.autograd.grad(out.z_q, z_e, upstream)
    torch.testing.assert_close(grad, upstream, rtol=0, atol=0)
    # and the forward value is the code, not z_e
    assert not torch.allclose(out.z_q, z_e)


def test_loss_terms_and_their_gradients():
    torch.manual_seed(2)
    vq = VectorQuantizer(num_codes=8, code_dim=4, beta=0.25)
    z_e = torch.randn(3, 4, 2, 2, requires_grad=True)
    out = vq(z_e)
    chosen = vq.codebook.detach()[out.indices].permute(0, 3, 1, 2)
    expected = ((z_e.detach() - chosen) ** 2).mean()
    torch.testing.assert_close(out.codebook_loss, expected)
    torch.testing.assert_close(out.commitment_loss, expected)
    torch.testing.assert_close(out.loss, 1.25 * expected)
    # the codebook term reaches only the codebook, the commitment term only z_e
    g_z, g_e = torch.autograd.grad(out.codebook_loss, (z_e, vq.codebook), allow_unused=True)
    assert g_z is None and g_e.abs().sum() > 0
    g_z, g_e = torch.autograd.grad(vq(z_e).commitment_loss, (z_e, vq.codebook), allow_unused=True)
    assert g_e is None
    torch.testing.assert_close(g_z, 2 * (z_e.detach() - chosen) / z_e.numel())
    assert 1.0 <= out.perplexity.item() <= 8.0
    assert out.perplexity.item() == pytest.approx(perplexity(out.indices, 8), rel=1e-5)


def test_ema_with_decay_zero_is_a_k_means_step():
    torch.manual_seed(3)
    vq = VectorQuantizer(num_codes=6, code_dim=2, ema_decay=0.0)
    vq.set_codebook(torch.randn(6, 2))
    assert not isinstance(vq.codebook, torch.nn.Parameter)
    z_e = torch.randn(200, 2) * 2
    before = vq.codebook.clone()
    out = vq(z_e)
    assert out.codebook_loss.item() == 0.0
    torch.testing.assert_close(out.loss, 0.25 * out.commitment_loss)
    used = out.indices.unique()
    assert len(used) >= 3
    for k in used:
        mean = z_e[out.indices == k].mean(0)
        # Laplace smoothing moves the count by about eps: relative error ~ K * eps
        torch.testing.assert_close(vq.codebook[k], mean, rtol=1e-4, atol=1e-4)
    # the output was computed with the codebook before the update
    torch.testing.assert_close(out.z_q, before[out.indices])
    # eval mode does not update
    vq.eval()
    frozen = vq.codebook.clone()
    vq(torch.randn(50, 2))
    assert torch.equal(vq.codebook, frozen)


def test_ema_running_averages():
    vq = VectorQuantizer(num_codes=2, code_dim=1, ema_decay=0.5, eps=1e-5)
    vq.set_codebook(torch.tensor([[0.0], [10.0]]))
    vq(torch.tensor([[1.0], [3.0], [9.0]]))  # counts (2, 1), sums (4, 9)
    torch.testing.assert_close(vq.ema_counts, torch.tensor([1.5, 1.0]))
    torch.testing.assert_close(vq.ema_sums, torch.tensor([[2.0], [9.5]]))
    n, eps = 2.5, 1e-5
    smoothed = (torch.tensor([1.5, 1.0]) + eps) / (n + 2 * eps) * n
    torch.testing.assert_close(vq.codebook, torch.tensor([[2.0], [9.5]]) / smoothed[:, None])


def test_a_dead_code_is_restarted_at_a_batch_vector():
    seed_everything(4)
    vq = VectorQuantizer(num_codes=4, code_dim=2, ema_decay=0.9, dead_code_threshold=0.5)
    vq.set_codebook(torch.tensor([[0.0, 0.0], [1.0, 1.0], [100.0, 100.0], [-100.0, 100.0]]))
    z_e = torch.randn(64, 2) * 0.1 + torch.tensor([0.5, 0.5])
    for _ in range(6):  # codes 2 and 3 are never chosen: 0.9^6 = 0.53 > 0.5, 0.9^7 < 0.5
        out = vq(z_e)
        assert set(out.indices.tolist()) <= {0, 1}
    assert vq.restarts == 0
    vq(z_e)
    assert vq.restarts == 2
    for k in (2, 3):
        assert (vq.codebook[k] - z_e).abs().sum(1).min() == 0  # exactly one of the batch vectors
        assert vq.ema_counts[k] == 0.5
    # restarted codes now win some of the vectors
    assert vq(z_e).indices.unique().numel() >= 3


def test_restarts_repeat_under_a_seed():
    def run():
        seed_everything(5)
        vq = VectorQuantizer(num_codes=8, code_dim=2, ema_decay=0.0, dead_code_threshold=1.0)
        vq.set_codebook(torch.full((8, 2), 50.0))
        vq(torch.randn(32, 2))
        return vq.codebook.clone(), vq.restarts

    (a, ra), (b, rb) = run(), run()
    assert torch.equal(a, b) and ra == rb == 7  # all but code 0 (every vector ties to it)


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4), (2, 3, 4, 4, 1), (2, 5, 4, 4), (2, 5)])
def test_bad_shapes_raise(shape):
    vq = VectorQuantizer(num_codes=4, code_dim=3)
    with pytest.raises(ValueError, match=r"\(B, D\)|code_dim = 3"):
        vq(torch.randn(*shape))


def test_integer_input_raises():
    with pytest.raises(ValueError, match="float"):
        VectorQuantizer(4, 3)(torch.zeros(2, 3, dtype=torch.long))


@pytest.mark.parametrize("kwargs, match", [
    ({"num_codes": 0}, "num_codes"),
    ({"code_dim": 2.0}, "code_dim"),
    ({"beta": -1.0}, "beta"),
    ({"ema_decay": 1.0}, r"ema_decay.*\[0, 1\)"),
    ({"ema_decay": -0.1}, "ema_decay"),
    ({"eps": 0.0}, "eps"),
    ({"dead_code_threshold": 1.0}, "ema_decay"),
    ({"ema_decay": 0.99, "dead_code_threshold": 0.0}, "dead_code_threshold"),
])
def test_bad_arguments_are_named(kwargs, match):
    args = {"num_codes": 4, "code_dim": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        VectorQuantizer(**args)


def test_set_codebook_checks_shape():
    with pytest.raises(ValueError, match=r"\(4, 2\)"):
        VectorQuantizer(4, 2).set_codebook(torch.zeros(3, 2))
