"""Chapter 9's checker: the three losses of one VAE-GAN step, against a catalogue of slips."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_vae.checks import definitions
from course_vae.checks import vae_gan as checks

from .checker_harness import assert_accepts, assert_rejects
from .conftest import ROOT

# ---- pieces the wrong and right answers share ---------------------------------------------------


def _kl(mu, logvar):
    return 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(1).mean()


def _run(x, x_tilde, x_p, d):
    (lr, fr), (lt, ft), (lp, _) = d(x), d(x_tilde), d(x_p)
    return lr, fr, lt, ft, lp


def _llike(fr, ft):
    return 0.5 * (fr - ft).pow(2).sum(1).mean()


def _losses(x, x_tilde, x_p, mu, logvar, d, gamma, *, enc=None, dec=None, dis=None):
    """The right losses, with one of them replaced by a slip (a function of the pieces)."""
    lr, fr, lt, ft, lp = _run(x, x_tilde, x_p, d)
    prior, llike = _kl(mu, logvar), _llike(fr, ft)
    gan = (F.logsigmoid(lr) + F.logsigmoid(-lt) + F.logsigmoid(-lp)).mean()
    adv = -(F.logsigmoid(lt) + F.logsigmoid(lp)).mean()
    env = dict(prior=prior, llike=llike, gan=gan, adv=adv, gamma=gamma, lr=lr, lt=lt, lp=lp, x=x, x_tilde=x_tilde,
               fr=fr, ft=ft)
    return {"encoder": enc(**env) if enc else prior + llike,
            "decoder": dec(**env) if dec else gamma * llike + adv,
            "discriminator": dis(**env) if dis else -gan}


# ---- wrong answers -------------------------------------------------------------------------------


def _stub(x, x_tilde, x_p, mu, logvar, discriminator, gamma):
    raise NotImplementedError("Exercise: ...")


def _verbatim_signs(x, x_tilde, x_p, mu, logvar, d, gamma):  # the notes' update rules as written
    return _losses(x, x_tilde, x_p, mu, logvar, d, gamma, dec=lambda gamma, llike, gan, **_: gamma * llike - gan,
                   dis=lambda gan, **_: gan)


def _verbatim_discriminator_only(x, x_tilde, x_p, mu, logvar, d, gamma):
    return _losses(x, x_tilde, x_p, mu, logvar, d, gamma, dis=lambda gan, **_: gan)


def _verbatim_decoder_only(x, x_tilde, x_p, mu, logvar, d, gamma):
    return _losses(x, x_tilde, x_p, mu, logvar, d, gamma, dec=lambda gamma, llike, gan, **_: gamma * llike - gan)


def _discriminator_loss_into_decoder(x, x_tilde, x_p, mu, logvar, d, gamma):
    # loss_dec = gamma * llike + adv + loss_dis: the discriminator's loss back-propagated into the decoder
    return _losses(x, x_tilde, x_p, mu, logvar, d, gamma,
                   dec=lambda gamma, llike, adv, gan, **_: gamma * llike + adv + (-gan))


def _features_from_output(x, x_tilde, x_p, mu, logvar, d, gamma):
    def f(lr, lt, **_):
        return 0.5 * (lr - lt).pow(2).mean()
    return _losses(x, x_tilde, x_p, mu, logvar, d, gamma, enc=lambda prior, **k: prior + f(**k),
                   dec=lambda gamma, adv, **k: gamma * f(**k) + adv)


def _features_from_output_bce(x, x_tilde, x_p, mu, logvar, d, gamma):  # "feature" = Dis(x) probabilities
    def f(lr, lt, **_):
        return 0.5 * (torch.sigmoid(lr) - torch.sigmoid(lt)).pow(2).mean()
    return _losses(x, x_tilde, x_p, mu, logvar, d, gamma, enc=lambda prior, **k: prior + f(**k),
                   dec=lambda gamma, adv, **k: gamma * f(**k) + adv)


def _pixel_loss(x, x_tilde, x_p, mu, logvar, d, gamma):
    def f(x, x_tilde, **_):
        return 0.5 * (x - x_tilde).pow(2).flatten(1).sum(1).mean()
    return _losses(x, x_tilde, x_p, mu, logvar, d, gamma, enc=lambda prior, **k: prior + f(**k),
                   dec=lambda gamma, adv, **k: gamma * f(**k) + adv)


def _gamma_on_encoder(x, x_tilde, x_p, mu, logvar, d, gamma):
    return _losses(x, x_tilde, x_p, mu, logvar, d, gamma, enc=lambda prior, llike, gamma, **_: prior + gamma * llike)


def _gamma_on_adversarial(x, x_tilde, x_p, mu, logvar, d, gamma):
    return _losses(x, x_tilde, x_p, mu, logvar, d, gamma, dec=lambda gamma, llike, adv, **_: llike + gamma * adv)


def _gamma_on_both_decoder_terms(x, x_tilde, x_p, mu, logvar, d, gamma):
    return _losses(x, x_tilde, x_p, mu, logvar, d, gamma, dec=lambda gamma, llike, adv, **_: gamma * (llike + adv))


def _gamma_forgotten(x, x_tilde, x_p, mu, logvar, d, gamma):
    return _losses(x, x_tilde, x_p, mu, logvar, d, gamma, dec=lambda llike, adv, **_: llike + adv)


def _no_kl(x, x_tilde, x_p, mu, logvar, d, gamma):
    return _losses(x, x_tilde, x_p, mu, logvar, d, gamma, enc=lambda llike, **_: llike)


def _kl_subtracted(x, x_tilde, x_p, mu, logvar, d, gamma):
    return _losses(x, x_tilde, x_p, mu, logvar, d, gamma, enc=lambda prior, llike, **_: llike - prior)


def _adversarial_into_encoder(x, x_tilde, x_p, mu, logvar, d, gamma):
    return _losses(x, x_tilde, x_p, mu, logvar, d, gamma, enc=lambda prior, llike, adv, **_: prior + llike + adv)


def _saturating_decoder(x, x_tilde, x_p, mu, logvar, d, gamma):
    return _losses(x, x_tilde, x_p, mu, logvar, d, gamma,
                   dec=lambda gamma, llike, lt, lp, **_: gamma * llike + (F.logsigmoid(-lt) + F.logsigmoid(-lp)).mean())


def _decoder_fools_only_with_samples(x, x_tilde, x_p, mu, logvar, d, gamma):
    return _losses(x, x_tilde, x_p, mu, logvar, d, gamma,
                   dec=lambda gamma, llike, lp, **_: gamma * llike - F.logsigmoid(lp).mean())


def _discriminator_without_reconstructions(x, x_tilde, x_p, mu, logvar, d, gamma):  # a plain GAN's loss
    return _losses(x, x_tilde, x_p, mu, logvar, d, gamma,
                   dis=lambda lr, lp, **_: -(F.logsigmoid(lr) + F.logsigmoid(-lp)).mean())


def _labels_swapped(x, x_tilde, x_p, mu, logvar, d, gamma):
    def dis(lr, lt, lp, **_):
        ones, zeros = torch.ones_like(lr), torch.zeros_like(lr)
        return (F.binary_cross_entropy_with_logits(lr, zeros) + F.binary_cross_entropy_with_logits(lt, ones)
                + F.binary_cross_entropy_with_logits(lp, ones))
    return _losses(x, x_tilde, x_p, mu, logvar, d, gamma, dis=dis)


def _summed_over_batch(x, x_tilde, x_p, mu, logvar, d, gamma):
    out = _losses(x, x_tilde, x_p, mu, logvar, d, gamma)
    return {k: v * len(x) for k, v in out.items()}


def _features_detached(x, x_tilde, x_p, mu, logvar, d, gamma):
    return _losses(x, x_tilde, x_p, mu, logvar, d, gamma,
                   enc=lambda prior, fr, ft, **_: prior + _llike(fr, ft.detach()),
                   dec=lambda gamma, fr, ft, adv, **_: gamma * _llike(fr, ft.detach()) + adv)


def _tuple_instead_of_dict(x, x_tilde, x_p, mu, logvar, d, gamma):
    out = _losses(x, x_tilde, x_p, mu, logvar, d, gamma)
    return out["encoder"], out["decoder"], out["discriminator"]


def _discriminator_output_not_unpacked(x, x_tilde, x_p, mu, logvar, d, gamma):
    return {"discriminator": -torch.log(torch.sigmoid(d(x))).mean()}


def _float32_constant(x, x_tilde, x_p, mu, logvar, d, gamma):
    out = _losses(x, x_tilde, x_p, mu, logvar, d, gamma)
    out["discriminator"] = out["discriminator"].float()
    return out


WRONG = [
    (_stub, ["not implemented yet"]),
    (_verbatim_signs, ["verbatim signs", "learn to be wrong"]),
    (_verbatim_discriminator_only, ["discriminator: the discriminator descends L_GAN", "WRONG"]),
    (_verbatim_decoder_only, ["decoder: the decoder ascends L_GAN", "HELP"]),
    (_discriminator_loss_into_decoder, ["decoder's loss contains the discriminator's loss"]),
    (_features_from_output, ["OUTPUT (its logit)", "intermediate layer"]),
    (_features_from_output_bce, ["decoder: the gradient", "differs"]),
    (_pixel_loss, ["computed on pixels"]),
    (_gamma_on_encoder, ["gamma weighs the feature loss in the encoder's loss"]),
    (_gamma_on_adversarial, ["gamma multiplies the adversarial term"]),
    (_gamma_on_both_decoder_terms, ["gamma multiplies the whole decoder loss"]),
    (_gamma_forgotten, ["decoder's loss has no gamma"]),
    (_no_kl, ["encoder's loss has no KL term"]),
    (_kl_subtracted, ["subtracts the KL"]),
    (_adversarial_into_encoder, ["encoder's loss contains an adversarial term"]),
    (_saturating_decoder, ["saturating minimax"]),
    (_decoder_fools_only_with_samples, ["leaves out the reconstructions x_tilde"]),
    (_discriminator_without_reconstructions, ["discriminator's loss leaves out the reconstructions"]),
    (_labels_swapped, ["labels are swapped"]),
    (_summed_over_batch, ["not averaged over the batch"]),
    (_features_detached, ["no gradient of the feature loss reaches the encoder", "decoder's loss has no feature loss"]),
    (_tuple_instead_of_dict, ["should return a dict", "encoder"]),
    (_discriminator_output_not_unpacked, ["pair (logit"]),
    (_float32_constant, ["compute in the inputs' dtype"]),
]


@pytest.mark.parametrize("wrong, words", WRONG, ids=[w.__name__.strip("_") for w, _ in WRONG])
def test_vae_gan_losses_checker_rejects(wrong, words):
    assert_rejects(checks.vae_gan_losses, wrong, words)


# ---- right answers written differently ----------------------------------------------------------


def _with_bce(x, x_tilde, x_p, mu, logvar, discriminator, gamma):
    logit_x, feat_x = discriminator(x)
    logit_t, feat_t = discriminator(x_tilde)
    logit_p, _ = discriminator(x_p)
    ones, zeros = torch.ones_like(logit_x), torch.zeros_like(logit_x)
    llike = -torch.distributions.Normal(feat_t, 1.0).log_prob(feat_x).sum(1).mean()  # with the constant
    kl = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, (0.5 * logvar).exp()), torch.distributions.Normal(torch.zeros_like(mu), 1.0)
    ).sum(1).mean()
    bce = F.binary_cross_entropy_with_logits
    return {"encoder": kl + llike,
            "decoder": gamma * llike + bce(logit_t, ones) + bce(logit_p, ones),
            "discriminator": bce(logit_x, ones) + bce(logit_t, zeros) + bce(logit_p, zeros)}


def _with_detached_fakes_and_mse(x, x_tilde, x_p, mu, logvar, discriminator, gamma):
    # detaching x_tilde and x_p in the discriminator's loss changes nothing for its own gradient
    logit_x, feat_x = discriminator(x)
    logit_t, feat_t = discriminator(x_tilde)
    logit_p, _ = discriminator(x_p)
    llike = F.mse_loss(feat_t, feat_x.detach(), reduction="sum") / (2 * len(x))
    kl = -0.5 * torch.mean(torch.sum(1 + logvar - mu**2 - logvar.exp(), dim=1))
    l_gan = (F.logsigmoid(logit_x) + F.logsigmoid(-discriminator(x_tilde.detach())[0])
             + F.logsigmoid(-discriminator(x_p.detach())[0])).mean()
    return {"encoder": kl + llike, "decoder": gamma * llike - F.logsigmoid(logit_t).mean() - F.logsigmoid(logit_p).mean(),
            "discriminator": -l_gan, "gan": l_gan.detach()}


RIGHT = [checks.reference, _with_bce, _with_detached_fakes_and_mse]


@pytest.mark.parametrize("right", RIGHT, ids=["reference", "bce", "detached_mse"])
def test_vae_gan_losses_checker_accepts_right_answers(right):
    assert_accepts(checks.vae_gan_losses, right)


def test_every_catalogued_slip_is_diagnosed_by_its_own_message():
    for group, message, loss in checks.SLIPS:
        def wrong(x, x_tilde, x_p, mu, logvar, d, gamma, group=group, loss=loss):
            out = checks.reference(x, x_tilde, x_p, mu, logvar, d, gamma)
            out[group] = loss(checks._parts(x, x_tilde, x_p, mu, logvar, d), gamma)
            return out
        assert_rejects(checks.vae_gan_losses, wrong, [message[:40]])


def test_the_checker_accepts_the_solution_and_rejects_the_exercise_stub():
    name = "vae_gan_losses"
    assert_accepts(checks.vae_gan_losses, definitions(ROOT / "solutions" / "09_vae_gan.ipynb")[name])
    assert_rejects(checks.vae_gan_losses, definitions(ROOT / "exercises" / "09_vae_gan.ipynb")[name],
                   ["not implemented yet"])
