"""The public ``log_weights`` (chapters 4 and 7): shape, link to ``iwae_bound``, its mean."""

from __future__ import annotations

import math

import torch

import course_vae
from course_vae import CVAE, VAE, elbo_estimate, iwae_bound, log_weights


def test_log_weights_is_public_and_gives_iwae_bound_from_the_same_draws():
    assert "log_weights" in course_vae.__all__
    torch.manual_seed(0)
    model = VAE(latent_dim=2, hidden=(16,))
    x = torch.rand(5, 1, 28, 28)
    weights = log_weights(model, x, 7, generator=torch.Generator().manual_seed(1))
    assert weights.shape == (7, 5)
    bound = iwae_bound(model, x, 7, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(torch.logsumexp(weights, 0) - math.log(7), bound)


def test_mean_log_weight_is_the_elbo_with_a_sampled_kl_on_a_conditional_model():
    torch.manual_seed(2)
    model = CVAE(latent_dim=2, hidden=(16,))
    x, y = torch.rand(6, 1, 28, 28), torch.arange(6)
    # K = 2000 keeps the 6 examples in one chunk of MAX_PAIRS, as given(y) requires
    weights = log_weights(model.given(y), x, 2000, generator=torch.Generator().manual_seed(3))
    closed_form = elbo_estimate(model.given(y), x, draws=200, seed=4, batch_size=len(x))
    stderr = weights.std(0) / math.sqrt(2000)
    assert ((weights.mean(0) - closed_form).abs() < 4 * stderr + 0.05).all()
