from __future__ import annotations

import pytest
import torch

from course_vae import reparameterize


def test_samples_have_the_right_moments():
    mu = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64).expand(200_000, 3)
    logvar = torch.tensor([0.0, 1.0, -3.0], dtype=torch.float64).expand(200_000, 3)
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    assert z.shape == mu.shape
    std = (0.5 * logvar[0]).exp()
    stderr = std / 200_000**0.5
    assert ((z.mean(0) - mu[0]).abs() < 4 * stderr).all()
    assert ((z.std(0) / std - 1).abs() < 0.01).all()


def test_gradients_are_one_and_half_the_noise():
    mu = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(1))
    z.sum().backward()
    assert torch.equal(mu.grad, torch.ones_like(mu))
    torch.testing.assert_close(logvar.grad, (z - mu).detach() / 2)  # = sigma * eps / 2


def test_the_generator_makes_draws_repeatable():
    mu, logvar = torch.zeros(3, 2), torch.zeros(3, 2)
    a = reparameterize(mu, logvar, torch.Generator().manual_seed(2))
    b = reparameterize(mu, logvar, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, reparameterize(mu, logvar, torch.Generator().manual_seed(3)))


def test_shapes_must_match():
    with pytest.raises(ValueError, match="same shape"):
        reparameterize(torch.zeros(3, 2), torch.zeros(3, 1))


def test_source_fits_the_book_column():
    # Chapter 3 prints the function with inspect.getsource: no line may need scrolling.
    import inspect

    lines = inspect.getsource(reparameterize).splitlines()
    assert max(len(line) for line in lines) <= 76
