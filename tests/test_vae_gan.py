"""The VAE-GAN (chapter 9): its three losses, their signs, and training with fit(groups=...)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_vae import VAEGAN, Discriminator, TrainingDiverged, fit, gaussian_kl, vae_gan_losses
from course_vae.vae_gan import feature_nll


def _model(seed=0):
    torch.manual_seed(seed)
    return VAEGAN(latent_dim=3, hidden=(32,), disc_sizes=(784, 16))


def _batch(n=8, seed=0):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def test_discriminator_returns_logits_and_hidden_features():
    disc = Discriminator([784, 16], head_hidden=(4,))
    logit, features = disc(_batch(5))
    assert logit.shape == (5,) and features.shape == (5, 16)
    assert torch.allclose(disc.head(features).squeeze(-1), logit)
    with pytest.raises(ValueError, match="feature width"):
        Discriminator([784])


def test_parameter_groups_are_disjoint_and_cover_the_model():
    model = _model()
    groups = model.parameter_groups()
    assert list(groups) == ["encoder", "decoder", "discriminator"]
    ids = [id(p) for params in groups.values() for p in params]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))


def test_losses_follow_one_definition_of_l_gan():
    model, x = _model(), _batch()
    torch.manual_seed(5)
    terms = vae_gan_losses(model, x, gamma=0.3, generator=torch.Generator().manual_seed(1))
    # recompute with the same draws
    torch.manual_seed(5)
    out = model(x)
    z_p = torch.randn(out.z.shape, generator=torch.Generator().manual_seed(1))
    x_tilde, x_p = torch.sigmoid(out.logits), torch.sigmoid(model.decode(z_p))
    d_real, f_real = model.discriminator(x)
    d_rec, f_rec = model.discriminator(x_tilde)
    d_p, _ = model.discriminator(x_p)
    p = torch.sigmoid
    l_gan = (torch.log(p(d_real)) + torch.log(1 - p(d_rec)) + torch.log(1 - p(d_p))).mean()
    llike = (0.5 * (f_real - f_rec).pow(2).sum(1) + 8 * math.log(2 * math.pi)).mean()  # F = 16
    prior = gaussian_kl(out.mu, out.logvar).mean()
    assert terms["gan"].item() == pytest.approx(l_gan.item(), rel=1e-5)
    assert terms["discriminator"].item() == pytest.approx(-l_gan.item(), rel=1e-5)  # it maximizes L_GAN
    assert terms["encoder"].item() == pytest.approx((prior + llike).item(), rel=1e-5)
    non_saturating = -(torch.log(p(d_rec)) + torch.log(p(d_p))).mean()
    assert terms["decoder"].item() == pytest.approx((0.3 * llike + non_saturating).item(), rel=1e-5)
    # the discriminator's loss is the binary cross-entropy of its three answers
    bce = (F.binary_cross_entropy_with_logits(d_real, torch.ones(8)) + F.binary_cross_entropy_with_logits(d_rec, torch.zeros(8))
           + F.binary_cross_entropy_with_logits(d_p, torch.zeros(8)))
    assert terms["discriminator"].item() == pytest.approx(bce.item(), rel=1e-5)
    for key in ("acc_real", "acc_recon", "acc_sampled"):
        assert 0 <= terms[key].item() <= 1
    assert terms["acc_real"].item() == pytest.approx((d_real > 0).float().mean().item())


def test_verbatim_signs_flip_the_discriminator_and_the_decoders_adversarial_term():
    model, x = _model(), _batch()
    torch.manual_seed(5)
    right = vae_gan_losses(model, x, gamma=0.3, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(5)
    verbatim = vae_gan_losses(model, x, gamma=0.3, signs="verbatim", generator=torch.Generator().manual_seed(1))
    assert verbatim["discriminator"].item() == pytest.approx(-right["discriminator"].item(), rel=1e-6)
    assert verbatim["decoder"].item() == pytest.approx((0.3 * right["llike"] - right["gan"]).item(), rel=1e-6)


def test_feature_nll_is_a_unit_gaussian_negative_log_density():
    a, b = torch.randn(4, 5), torch.randn(4, 5)
    expected = -torch.distributions.Normal(b, 1.0).log_prob(a).sum(1)
    assert torch.allclose(feature_nll(a, b), expected, atol=1e-5)
    with pytest.raises(ValueError, match=r"\(B, F\)"):
        feature_nll(a, b[:, :3])


def test_bad_arguments_name_the_allowed_values():
    model, x = _model(), _batch()
    with pytest.raises(ValueError, match="gamma"):
        vae_gan_losses(model, x, gamma=-1.0)
    with pytest.raises(ValueError, match="'correct', 'verbatim'"):
        vae_gan_losses(model, x, signs="paper")


def _only(name):
    """A loss function whose only nonzero loss is the group ``name``'s (the others are 0 * loss)."""
    def loss_fn(model, x):
        terms = vae_gan_losses(model, x, gamma=1.0)
        return {k: (v if k == name else 0.0 * v) if k in ("encoder", "decoder", "discriminator") else v
                for k, v in terms.items()}
    return loss_fn


@pytest.mark.parametrize("name", ["encoder", "decoder", "discriminator"])
def test_no_gradient_leaks_into_another_groups_parameters(name):
    model, x = _model(), _batch(32)
    before = {k: [p.detach().clone() for p in ps] for k, ps in model.parameter_groups().items()}
    fit(model, _only(name), x, epochs=1, batch_size=16, lr=1e-2, seed=0, progress=False,
        groups=model.parameter_groups())
    for group, params in model.parameter_groups().items():
        changed = any(not torch.equal(p, q) for p, q in zip(params, before[group]))
        assert changed == (group == name), f"{name}'s loss changed the {group}: {changed}"


def test_a_group_step_uses_the_gradient_of_its_own_loss_only():
    # one SGD step by hand (autograd.grad of each loss w.r.t. its own group) equals fit's step
    model, x = _model(), _batch(16)
    reference = _model()
    fit(model, lambda m, b: vae_gan_losses(m, b, gamma=0.5), x, epochs=1, batch_size=16, lr=1e-3, seed=3,
        progress=False, groups=model.parameter_groups())
    from course_vae import seed_everything
    order = torch.randperm(16, generator=seed_everything(3))  # fit's seeding and shuffle, same global RNG state
    terms = vae_gan_losses(reference, x[order], gamma=0.5)
    groups = reference.parameter_groups()
    grads = torch.autograd.grad(terms["decoder"], groups["decoder"], retain_graph=True)
    opt = torch.optim.Adam(groups["decoder"], lr=1e-3)
    for p, gr in zip(groups["decoder"], grads):
        p.grad = gr
    opt.step()
    for p, q in zip(model.parameter_groups()["decoder"], groups["decoder"]):
        assert torch.allclose(p, q, atol=1e-6)


def test_fit_trains_a_vae_gan_and_records_every_term():
    model, x = _model(), _batch(64)
    history = fit(model, lambda m, b: vae_gan_losses(m, b, gamma=1.0), x, epochs=2, batch_size=32, lr=1e-3, seed=0,
                  progress=False, groups=model.parameter_groups(), betas=(0.5, 0.999), val_data=_batch(16, 1))
    for key in ("encoder", "decoder", "discriminator", "acc_real", "acc_recon", "acc_sampled", "llike", "prior"):
        assert len(history.train[key]) == 2
    assert len(history.val["discriminator"]) == 2
    assert "loss" not in history.train


def test_fit_with_groups_is_deterministic():
    runs = []
    for _ in range(2):
        model = _model()
        fit(model, lambda m, b: vae_gan_losses(m, b), _batch(32), epochs=1, batch_size=16, lr=1e-3, seed=4,
            progress=False, groups=model.parameter_groups())
        runs.append(torch.cat([p.flatten() for p in model.parameters()]))
    assert torch.equal(*runs)


def test_nan_in_one_group_stops_training_and_names_it():
    def nan_decoder(model, x):
        terms = vae_gan_losses(model, x)
        return {**terms, "decoder": terms["decoder"] * float("nan")}
    model = _model()
    with pytest.raises(TrainingDiverged, match="group 'decoder' became nan at epoch 1, step 1"):
        fit(model, nan_decoder, _batch(16), epochs=1, batch_size=8, lr=1e-3, seed=0, progress=False,
            groups=model.parameter_groups())
