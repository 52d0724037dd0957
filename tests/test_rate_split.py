"""rate_split: rate = information + mismatch, for the standard normal and a learned prior (chapters 4, 10)."""

import math

import torch

from course_vae import MixturePrior, VAE, gaussian_kl, rate_split


def _data(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 4, 4, generator=g) < 0.3).float()


def _check_identity(split, sigmas=4.0):
    (rate, _), (info, info_se), (mis, mis_se) = split.rate, split.information, split.mismatch
    assert abs(rate - info - mis) < sigmas * math.sqrt(info_se**2 + mis_se**2) + 1e-6


def test_standard_prior_rate_is_the_closed_form_kl_and_splits():
    torch.manual_seed(0)
    model = VAE(latent_dim=2, hidden=(8,), image_shape=(1, 4, 4))
    x = _data()
    split = rate_split(model, x)
    mu, logvar = model.encode(x)
    assert math.isclose(split.rate[0], gaussian_kl(mu, logvar).mean().item(), rel_tol=1e-6)
    assert split.information[0] <= math.log(len(x)) + 1e-6  # I_q(x; z) <= log N
    _check_identity(split)


def test_learned_prior_is_used_and_the_identity_holds():
    torch.manual_seed(0)
    model = VAE(latent_dim=2, hidden=(8,), image_shape=(1, 4, 4), prior=MixturePrior(2, 3))
    with torch.no_grad():
        model.prior.means.mul_(3.0)  # far from N(0, I), so the two mismatches differ
    x = _data()
    standard = rate_split(VAE(latent_dim=2, hidden=(8,), image_shape=(1, 4, 4), encoder=model.encoder,
                              decoder=model.decoder), x)
    learned = rate_split(model, x)
    assert learned.information == standard.information  # the prior does not enter the information
    assert learned.mismatch != standard.mismatch
    _check_identity(learned)


def test_same_seeds_same_numbers():
    torch.manual_seed(0)
    model, x = VAE(latent_dim=2, hidden=(8,), image_shape=(1, 4, 4)), _data()
    assert rate_split(model, x) == rate_split(model, x)
    assert rate_split(model, x, seeds=(1, 2)) != rate_split(model, x)
