from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, kl_divergence

from course_vae import contractive_penalty, sparsity_kl


def test_sparsity_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(16, 7, generator=g, dtype=torch.float64)
    expected = kl_divergence(Bernoulli(probs=torch.tensor(0.05, dtype=torch.float64)), Bernoulli(probs=a.mean(0))).sum()
    got = sparsity_kl(a, rho=0.05)
    assert got.shape == ()
    torch.testing.assert_close(got, expected)


def test_sparsity_kl_is_zero_exactly_at_rho_and_positive_elsewhere():
    at_rho = torch.tensor([[0.1, 0.0], [0.0, 0.1]]).repeat(5, 1)  # unit means 0.05, 0.05
    assert sparsity_kl(at_rho, rho=0.05).abs() < 1e-7
    assert sparsity_kl(torch.full((4, 3), 0.5), rho=0.05) > 0
    # a unit that never fires gives a large but finite penalty (rho_hat is clamped)
    assert torch.isfinite(sparsity_kl(torch.zeros(4, 3), rho=0.05))


def test_sparsity_kl_gradient():
    a = torch.rand(6, 4, dtype=torch.float64).clamp(0.05, 0.95).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: sparsity_kl(t, rho=0.2), (a,))


@pytest.mark.parametrize(
    "args, match",
    [((torch.rand(4, 3), 0.0), "rho must be in"), ((torch.rand(4, 3), 1.5), "rho must be in"),
     ((torch.rand(4, 3) * 3, 0.05), "sigmoid"), ((torch.rand(4), 0.05), r"shape \(B, H\)")],
)
def test_sparsity_kl_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        sparsity_kl(*args)


def _sigmoid_encoder(d_in=6, k=3, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d_in, k), nn.Sigmoid()).double()


def test_contractive_penalty_matches_the_closed_form_of_a_sigmoid_layer():
    encoder = _sigmoid_encoder()
    x = torch.rand(5, 6, dtype=torch.float64)
    h = encoder(x)
    closed = ((h * (1 - h)) ** 2 * encoder[0].weight.pow(2).sum(dim=1)).sum(dim=1)
    got = contractive_penalty(encoder, x)
    assert got.shape == (5,)
    torch.testing.assert_close(got, closed, rtol=1e-12, atol=1e-14)


def test_contractive_penalty_matches_full_jacobians_for_a_deep_image_encoder():
    torch.manual_seed(1)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    x = torch.rand(4, 1, 3, 4, dtype=torch.float64)
    expected = torch.stack([torch.autograd.functional.jacobian(encoder, xi.unsqueeze(0)).pow(2).sum() for xi in x])
    torch.testing.assert_close(contractive_penalty(encoder, x), expected)


def test_contractive_penalty_is_differentiable_in_the_encoder_parameters():
    encoder = _sigmoid_encoder()
    x = torch.rand(5, 6, dtype=torch.float64)
    contractive_penalty(encoder, x).sum().backward()
    weight, bias = encoder[0].weight, encoder[0].bias
    assert weight.grad is not None and weight.grad.abs().sum() > 0 and bias.grad.abs().sum() > 0

    def closed_form(w, b):
        h = torch.sigmoid(x @ w.T + b)
        return ((h * (1 - h)) ** 2 * w.pow(2).sum(dim=1)).sum()

    w, b = weight.detach().clone().requires_grad_(), bias.detach().clone().requires_grad_()
    closed_form(w, b).backward()
    torch.testing.assert_close(weight.grad, w.grad)
    torch.testing.assert_close(bias.grad, b.grad)


def test_contractive_penalty_scales_with_the_square_of_the_code():
    # The reason chapter 1 uses a bounded code: scaling the code by c scales the penalty by c^2.
    encoder = _sigmoid_encoder()
    x = torch.rand(5, 6, dtype=torch.float64)
    scaled = nn.Sequential(encoder, nn.Identity())
    scaled.forward = lambda t: 3.0 * encoder(t)
    torch.testing.assert_close(contractive_penalty(scaled, x), 9.0 * contractive_penalty(encoder, x))


def test_contractive_penalty_rejects_an_encoder_that_does_not_give_codes():
    with pytest.raises(ValueError, match=r"\(B, d\)"):
        contractive_penalty(nn.Identity(), torch.rand(3, 2, 2))
