"""The Renyi bound of chapter 10."""

from __future__ import annotations

import math

import pytest
import torch

from course_vae import renyi_bound


def _weights(K=50, B=6, scale=3.0, shift=0.0, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (shift + scale * torch.randn(K, B, generator=g, dtype=torch.float64)).to(dtype)


def _reference(log_w, alpha):
    """The definition, in float64, without any of the stabilizing tricks except logsumexp."""
    w = log_w.double()
    if alpha == 1:
        return w.mean(0)
    return (torch.logsumexp((1 - alpha) * w, 0) - math.log(w.shape[0])) / (1 - alpha)


def test_alpha_one_is_the_mean():
    log_w = _weights(dtype=torch.float32)
    assert torch.equal(renyi_bound(log_w, 1.0), log_w.mean(0))
    assert torch.equal(renyi_bound(log_w, 1), log_w.mean(0))


def test_alpha_zero_is_the_iwae_bound():
    log_w = _weights(dtype=torch.float32)
    assert torch.equal(renyi_bound(log_w, 0.0), torch.logsumexp(log_w, 0) - math.log(50))


def test_alpha_zero_equals_iwae_bound_of_a_model():
    from course_vae import VAE, iwae_bound, log_weights
    torch.manual_seed(0)
    model = VAE(latent_dim=2, hidden=(8,))
    x = torch.rand(3, 1, 28, 28).bernoulli()
    a = renyi_bound(log_weights(model, x, 20, generator=torch.Generator().manual_seed(1)), 0.0)
    b = iwae_bound(model, x, 20, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("alpha", [-2.0, -0.5, 0.3, 0.5, 0.9, 0.999, 1.5, 3.0])
def test_matches_the_definition(alpha):
    log_w = _weights(dtype=torch.float32)
    torch.testing.assert_close(renyi_bound(log_w, alpha).double(), _reference(log_w, alpha), rtol=1e-6, atol=1e-5)
    log_w = _weights()
    torch.testing.assert_close(renyi_bound(log_w, alpha), _reference(log_w, alpha), rtol=1e-12, atol=1e-10)


def test_monotone_non_increasing_in_alpha():
    alphas = [-5.0, -1.0, -0.1, 0.0, 0.1, 0.5, 0.9, 1.0 - 1e-6, 1.0, 1.0 + 1e-6, 1.5, 2.0, 5.0]
    for seed in range(5):
        log_w = _weights(K=30, B=8, scale=2.0, seed=seed)
        values = torch.stack([renyi_bound(log_w, a) for a in alphas])  # (A, B)
        assert (values.diff(dim=0) <= 1e-12).all()


@pytest.mark.parametrize("shift", [-1e4, 1e3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_no_overflow_for_large_log_weights(shift, dtype):
    log_w = _weights(shift=shift, scale=20.0, dtype=dtype)
    for alpha in (-1.0, 0.0, 0.5, 0.99, 1.0, 2.0):
        value = renyi_bound(log_w, alpha)
        assert torch.isfinite(value).all(), (shift, alpha)
        torch.testing.assert_close(value.double(), _reference(log_w, alpha), rtol=1e-6, atol=1e-6 * abs(shift))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_continuous_at_alpha_one(dtype):
    """Near alpha = 1, L_alpha = mean + (1 - alpha) var / 2 + O((1 - alpha)^2) (cumulant expansion)."""
    log_w = _weights(K=1000, B=4, scale=3.0, shift=-100.0, dtype=dtype)
    w = log_w.double()
    mean, var = w.mean(0), w.var(0, unbiased=False)
    for eps in (1e-8, -1e-8, 1e-6, -1e-6, 1e-4):
        got = renyi_bound(log_w, 1.0 - eps)
        expected = mean + eps * var / 2
        tol = 1e-12 if dtype == torch.float64 else 1e-4
        torch.testing.assert_close(got.double(), expected.to(dtype).double(), rtol=0, atol=tol + 10 * eps**2 * var.max().item() * 10)
        assert torch.isfinite(got).all()
    # the naive formula loses every digit at 1 - alpha = 1e-8 even in float64; this one does not
    ours = renyi_bound(_weights(K=1000, B=4), 1 - 1e-8)
    w = _weights(K=1000, B=4)
    torch.testing.assert_close(ours, w.mean(0) + 1e-8 * w.var(0, unbiased=False) / 2, rtol=0, atol=1e-12)


def test_single_sample_is_the_weight():
    log_w = _weights(K=1)
    for alpha in (-1.0, 0.0, 0.5, 2.0):
        torch.testing.assert_close(renyi_bound(log_w, alpha), log_w[0])


def test_gradient_flows_and_is_finite():
    log_w = _weights(shift=-1e4, scale=20.0).requires_grad_()
    for alpha in (0.0, 0.5, 1.0 - 1e-7, 1.0):
        (grad,) = torch.autograd.grad(renyi_bound(log_w, alpha).sum(), log_w)
        assert torch.isfinite(grad).all()
        # the gradient of each column is a normalized weighting of its samples
        torch.testing.assert_close(grad.sum(0), torch.ones(6, dtype=torch.float64))


def test_tensor_alpha_and_dtype_preserved():
    log_w = _weights(dtype=torch.float32)
    assert renyi_bound(log_w, torch.tensor(0.5)).dtype == torch.float32


@pytest.mark.parametrize("log_w, alpha, match", [
    (torch.zeros(5), 0.5, "log_w"),
    (torch.zeros(2, 3, 4), 0.5, "log_w"),
    (torch.zeros(0, 3), 0.5, "log_w"),
    (torch.zeros(5, 3, dtype=torch.long), 0.5, "log_w"),
    ([[0.0]], 0.5, "log_w"),
    (torch.zeros(5, 3), float("nan"), "alpha"),
    (torch.zeros(5, 3), float("inf"), "alpha"),
    (torch.zeros(5, 3), True, "alpha"),
    (torch.zeros(5, 3), "0.5", "alpha"),
    (torch.tensor([[0.0, float("nan")]]), 0.5, "NaN"),
    (torch.tensor([[0.0, float("inf")]]), 0.5, "NaN or inf"),
])
def test_bad_inputs(log_w, alpha, match):
    with pytest.raises(ValueError, match=match):
        renyi_bound(log_w, alpha)
