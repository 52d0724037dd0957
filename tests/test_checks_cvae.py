"""Chapter 7's checkers: the CVAE's forward pass and loss, against a catalogue of slips."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import course_vae
from course_vae import VAEOutput, reparameterize
from course_vae.checks import cvae as checks
from course_vae.checks import definitions

from .checker_harness import assert_accepts, assert_rejects
from .conftest import ROOT

# ---- the forward pass: wrong answers ------------------------------------------------------------


def _code(y, k, x):
    return F.one_hot(y.long(), k).to(x.dtype)


def _sample(mu, logvar):
    return mu + (0.5 * logvar).exp() * torch.randn_like(mu)


def _forward_stub(encoder, decoder, x, y, num_classes):
    raise NotImplementedError("Exercise: ...")


def _label_only_to_encoder(encoder, decoder, x, y, num_classes):
    c = _code(y, num_classes, x)
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(z), mu=mu, logvar=logvar, z=z)


def _label_only_to_decoder(encoder, decoder, x, y, num_classes):
    c = _code(y, num_classes, x)
    mu, logvar = encoder(x.flatten(1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


def _raw_integer_label(encoder, decoder, x, y, num_classes):
    c = y.to(x.dtype)[:, None]
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


def _one_hot_without_num_classes(encoder, decoder, x, y, num_classes):
    c = F.one_hot(y.long()).to(x.dtype)  # width max(y) + 1
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


def _one_hot_one_too_wide(encoder, decoder, x, y, num_classes):
    c = F.one_hot(y.long(), num_classes + 1).to(x.dtype)
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


def _labels_not_cast(encoder, decoder, x, y, num_classes):
    c = F.one_hot(y, num_classes).to(x.dtype)  # int32 labels are refused
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


def _batch_axis(encoder, decoder, x, y, num_classes):
    c = _code(y, num_classes, x)
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 0))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([z, c], 0)), mu=mu, logvar=logvar, z=z)


def _not_flattened(encoder, decoder, x, y, num_classes):
    c = _code(y, num_classes, x)
    mu, logvar = encoder(torch.cat([x, c], 1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


def _hard_coded_784(encoder, decoder, x, y, num_classes):
    c = _code(y, num_classes, x)
    mu, logvar = encoder(torch.cat([x.view(-1, 784), c], 1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


def _code_first(encoder, decoder, x, y, num_classes):
    c = _code(y, num_classes, x)
    mu, logvar = encoder(torch.cat([c, x.flatten(1)], 1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([c, z], 1)), mu=mu, logvar=logvar, z=z)


def _code_first_in_decoder(encoder, decoder, x, y, num_classes):
    c = _code(y, num_classes, x)
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([c, z], 1)), mu=mu, logvar=logvar, z=z)


def _decodes_the_mean(encoder, decoder, x, y, num_classes):
    c = _code(y, num_classes, x)
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([mu, c], 1)), mu=mu, logvar=logvar, z=z)


def _no_noise(encoder, decoder, x, y, num_classes):
    c = _code(y, num_classes, x)
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    return VAEOutput(logits=decoder(torch.cat([mu, c], 1)), mu=mu, logvar=logvar, z=mu)


def _variance_not_std(encoder, decoder, x, y, num_classes):
    c = _code(y, num_classes, x)
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    z = mu + logvar.exp() * torch.randn_like(mu)
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


def _seed_reparameterization(encoder, decoder, x, y, num_classes):  # the notes' z = mu * eps + sigma
    c = _code(y, num_classes, x)
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    z = mu * torch.randn_like(mu) + (0.5 * logvar).exp()
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


def _uniform_noise(encoder, decoder, x, y, num_classes):
    c = _code(y, num_classes, x)
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    z = mu + (0.5 * logvar).exp() * torch.rand_like(mu)
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


def _detached_sample(encoder, decoder, x, y, num_classes):
    c = _code(y, num_classes, x)
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    z = torch.normal(mu.detach(), (0.5 * logvar).exp().detach())
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


def _sigmoid_logits(encoder, decoder, x, y, num_classes):
    c = _code(y, num_classes, x)
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=torch.sigmoid(decoder(torch.cat([z, c], 1))), mu=mu, logvar=logvar, z=z)


def _mu_logvar_swapped(encoder, decoder, x, y, num_classes):
    c = _code(y, num_classes, x)
    logvar, mu = encoder(torch.cat([x.flatten(1), c], 1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


def _one_hot_in_float64(encoder, decoder, x, y, num_classes):
    c = F.one_hot(y.long(), num_classes).double()  # promotes a float32 batch to float64
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


def _label_scaled(encoder, decoder, x, y, num_classes):  # the code divided by K, or a one-hot of y + 1
    c = F.one_hot((y.long() + 1) % num_classes, num_classes).to(x.dtype)
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


def _mutates_y(encoder, decoder, x, y, num_classes):
    c = x.new_zeros(len(y), num_classes).scatter_(1, y.long().unsqueeze_(1) if y.dtype == torch.int64 else
                                                  y.long().unsqueeze(1), 1.0)  # unsqueeze_ reshapes the caller's y
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


def _mutates_x(encoder, decoder, x, y, num_classes):
    c = _code(y, num_classes, x)
    flat = x.flatten(1)
    flat.clamp_(0.0, 0.5)  # a view: changes the caller's images
    mu, logvar = encoder(torch.cat([flat, c], 1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


def _returns_tuple(encoder, decoder, x, y, num_classes):
    c = _code(y, num_classes, x)
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    z = _sample(mu, logvar)
    return decoder(torch.cat([z, c], 1)), mu, logvar


def _label_added_not_concatenated(encoder, decoder, x, y, num_classes):
    c = _code(y, num_classes, x)
    flat = x.flatten(1)
    mu, logvar = encoder(torch.cat([flat + y.to(x.dtype)[:, None], c], 1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


FORWARD_MISTAKES = [
    (_forward_stub, ["not implemented yet"]),
    (_label_only_to_encoder, ["the label never reaches the decoder"]),
    (_label_only_to_decoder, ["the label never reaches the encoder"]),
    (_raw_integer_label, ["raw number", "one-hot"]),
    (_one_hot_without_num_classes, ["width", "num_classes"]),
    (_one_hot_one_too_wide, ["width", "num_classes"]),
    (_labels_not_cast, ["int32", "y.long()"]),
    (_batch_axis, ["dim=1"]),
    (_not_flattened, ["flatten"]),
    (_hard_coded_784, ["8 x 8"]),
    (_code_first, ["BEFORE x"]),
    (_code_first_in_decoder, ["BEFORE z"]),
    (_decodes_the_mean, ["mean mu", "SAMPLED z"]),
    (_no_noise, ["out.z equals out.mu"]),
    (_variance_not_std, ["exp(logvar / 2)", "variance"]),
    (_seed_reparameterization, ["mu * eps + sigma"]),
    (_uniform_noise, ["standard normal"]),
    (_detached_sample, ["differentiably"]),
    (_sigmoid_logits, ["sigmoid"]),
    (_mu_logvar_swapped, ["the pair (mu, logvar)"]),
    (_one_hot_in_float64, ["x's dtype"]),
    (_label_scaled, ["not the one-hot code of y"]),
    (_mutates_y, ["changed its input y in place"]),
    (_mutates_x, ["changed its input x in place"]),
    (_returns_tuple, ["VAEOutput"]),
    (_label_added_not_concatenated, ["are not x"]),
]


@pytest.mark.parametrize("wrong, words", FORWARD_MISTAKES, ids=lambda v: getattr(v, "__name__", ""))
def test_cvae_forward_checker_rejects(wrong, words):
    assert_rejects(checks.cvae_forward, wrong, words)


# ---- the forward pass: right answers, written differently -------------------------------------------


def _package_reparameterize(encoder, decoder, x, y, num_classes):
    c = F.one_hot(y.to(torch.int64), num_classes=num_classes).type_as(x)
    mu, logvar = encoder(torch.cat((x.reshape(x.shape[0], -1), c), dim=-1))
    z = reparameterize(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat((z, c), dim=-1)), mu=mu, logvar=logvar, z=z)


def _eye_rows_and_hstack(encoder, decoder, x, y, num_classes):
    c = torch.eye(num_classes, dtype=x.dtype)[y.long()]
    mu, logvar = encoder(torch.hstack([x.view(len(x), -1), c]))
    std = torch.exp(logvar / 2)
    z = mu + std * torch.randn(mu.shape, dtype=mu.dtype)
    return VAEOutput(logits=decoder(torch.hstack([z, c])), mu=mu, logvar=logvar, z=z)


def _scatter_loop(encoder, decoder, x, y, num_classes):
    c = x.new_zeros(len(y), num_classes)
    c = c.scatter(1, y.long().unsqueeze(1), 1.0)
    out_mu, out_logvar = encoder(torch.cat([torch.flatten(x, 1), c], dim=1))
    eps = torch.randn_like(out_logvar)
    z = out_mu + eps * out_logvar.mul(0.5).exp()
    logits = decoder(torch.cat([z, c], dim=1))
    return VAEOutput(logits, out_mu, out_logvar, z)


def _python_loop_one_hot(encoder, decoder, x, y, num_classes):
    rows = []
    for label in y.tolist():
        row = [0.0] * num_classes
        row[label] = 1.0
        rows.append(row)
    c = torch.tensor(rows, dtype=x.dtype)
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    z = torch.distributions.Normal(mu, (0.5 * logvar).exp()).rsample()
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


def _int_one_hot_promoted(encoder, decoder, x, y, num_classes):
    c = F.one_hot(y.long(), num_classes)  # int64: torch.cat promotes it to x's dtype
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    z = mu + logvar.mul(0.5).exp() * torch.randn_like(mu)
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


def _package_cvae_condition(encoder, decoder, x, y, num_classes):
    model = course_vae.CVAE(latent_dim=2, num_classes=num_classes, hidden=(2,), image_shape=x.shape[1:])
    c = model.condition(y, dtype=x.dtype)
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    z = reparameterize(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


@pytest.mark.parametrize("right", [_package_reparameterize, _eye_rows_and_hstack, _scatter_loop, _python_loop_one_hot,
                                   _int_one_hot_promoted, _package_cvae_condition])
def test_cvae_forward_checker_accepts_right_answers(right):
    assert_accepts(checks.cvae_forward, right)


# ---- the loss -------------------------------------------------------------------------------------


def _parts(x, out):
    recon = F.binary_cross_entropy_with_logits(out.logits, x, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (out.logvar.exp() + out.mu.pow(2) - 1 - out.logvar).sum(1)
    return recon, kl


def _terms(recon, kl, loss):
    return {"loss": loss, "recon": recon.mean(), "kl": kl.mean()}


def _loss_stub(x, y, out):
    raise NotImplementedError("Exercise: ...")


def _seed_sign(x, y, out):  # the notes' ELBO = E log p + KL, negated
    recon, kl = _parts(x, out)
    return _terms(recon, kl, (recon - kl).mean())


def _plus_elbo(x, y, out):
    recon, kl = _parts(x, out)
    return _terms(recon, kl, -(recon + kl).mean())


def _prior_mean_is_label(x, y, out):
    recon, _ = _parts(x, out)
    kl = 0.5 * (out.logvar.exp() + (out.mu - y.to(x.dtype)[:, None]).pow(2) - 1 - out.logvar).sum(1)
    return _terms(recon, kl, (recon + kl).mean())


def _prior_mean_is_one_hot(x, y, out):
    recon, _ = _parts(x, out)
    d = out.mu.shape[1]
    code = F.one_hot(y.long(), 10).to(x.dtype)
    mean = code[:, :d] if d <= 10 else torch.cat([code, code.new_zeros(len(y), d - 10)], 1)
    kl = 0.5 * (out.logvar.exp() + (out.mu - mean).pow(2) - 1 - out.logvar).sum(1)
    return _terms(recon, kl, (recon + kl).mean())


def _kl_on_z(x, y, out):
    recon, _ = _parts(x, out)
    kl = 0.5 * (out.logvar.exp() + out.z.pow(2) - 1 - out.logvar).sum(1)
    return _terms(recon, kl, (recon + kl).mean())


def _one_hot_in_the_kl(x, y, out):
    recon, _ = _parts(x, out)
    code = F.one_hot(y.long(), 10).to(x.dtype)
    mu, logvar = torch.cat([out.mu, code], 1), torch.cat([out.logvar, torch.zeros_like(code)], 1)
    kl = 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(1)
    return _terms(recon, kl, (recon + kl).mean())


def _reversed_kl(x, y, out):
    recon, _ = _parts(x, out)
    var = out.logvar.exp()
    kl = 0.5 * (1 / var + out.mu.pow(2) / var - 1 + out.logvar).sum(1)
    return _terms(recon, kl, (recon + kl).mean())


def _sampled_kl(x, y, out):
    recon, _ = _parts(x, out)
    kl = (0.5 * (out.z.pow(2) - (out.z - out.mu).pow(2) / out.logvar.exp() - out.logvar)).sum(1)
    return _terms(recon, kl, (recon + kl).mean())


def _prior_std_from_label(x, y, out):  # a prior whose scale depends on y: caught by changing the labels
    recon, _ = _parts(x, out)
    s2 = (1.0 + y.to(x.dtype))[:, None]
    var = out.logvar.exp()
    kl = 0.5 * (var / s2 + out.mu.pow(2) / s2 - 1 - out.logvar + s2.log()).sum(1)
    return _terms(recon, kl, (recon + kl).mean())


def _pixel_mean(x, y, out):
    recon, kl = _parts(x, out)
    bce = F.binary_cross_entropy_with_logits(out.logits, x, reduction="none").flatten(1).mean(1)
    return _terms(recon, kl, (bce + kl).mean())


def _batch_sum(x, y, out):
    recon, kl = _parts(x, out)
    return _terms(recon, kl, (recon + kl).sum())


def _no_kl(x, y, out):
    recon, kl = _parts(x, out)
    return _terms(recon, kl, recon.mean())


def _kl_entry_negative(x, y, out):
    recon, kl = _parts(x, out)
    return {"loss": (recon + kl).mean(), "recon": recon.mean(), "kl": -kl.mean()}


def _logvar_sign(x, y, out):
    recon, _ = _parts(x, out)
    kl = 0.5 * (out.logvar.exp() + out.mu.pow(2) - 1 + out.logvar).sum(1)
    return _terms(recon, kl, (recon + kl).mean())


def _mutates_logits(x, y, out):
    out.logits.data.clamp_(-10, 10)
    recon, kl = _parts(x, out)
    return _terms(recon, kl, (recon + kl).mean())


LOSS_MISTAKES = [
    (_loss_stub, ["not implemented yet"]),
    (_seed_sign, ["+ KL", "reconstruction + KL"]),
    (_plus_elbo, ["+ELBO"]),
    (_prior_mean_is_label, ["N(y, I)", "p(z | y) = N(0, I)"]),
    (_prior_mean_is_one_hot, ["one-hot code of y", "p(z | y) = N(0, I)"]),
    (_kl_on_z, ["sampled z", "mu"]),
    (_one_hot_in_the_kl, ["one-hot code as if it were latent"]),
    (_reversed_kl, ["swapped"]),
    (_sampled_kl, ["closed form"]),
    (_prior_std_from_label, ["changes when only y changes"]),
    (_pixel_mean, ["averaged over pixels"]),
    (_batch_sum, ["summed over the batch"]),
    (_no_kl, ["KL term is missing"]),
    (_kl_entry_negative, ["'kl' is the KL itself"]),
    (_logvar_sign, ["log-variance term has the wrong sign"]),
    (_mutates_logits, ["in place"]),
]


MISTAKES = {"cvae_forward": FORWARD_MISTAKES, "cvae_loss": LOSS_MISTAKES}


@pytest.mark.parametrize("wrong, words", LOSS_MISTAKES, ids=lambda v: getattr(v, "__name__", ""))
def test_cvae_loss_checker_rejects(wrong, words):
    assert_rejects(checks.cvae_loss, wrong, words)


def _package_loss(x, y, out):
    return course_vae.vae_loss(x, out)


def _distributions(x, y, out):
    q = torch.distributions.Normal(out.mu, (0.5 * out.logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(out.mu), torch.ones_like(out.mu))
    kl = torch.distributions.kl_divergence(q, p).sum(-1)
    recon = -torch.distributions.Bernoulli(logits=out.logits, validate_args=False).log_prob(x).sum((1, 2, 3))
    return {"loss": torch.mean(recon + kl), "recon": recon.mean(), "kl": kl.mean()}


def _elbo_terms(x, y, out):
    terms = course_vae.elbo(x, out)
    return {"loss": -terms.elbo.mean(), "recon": terms.recon.mean(), "kl": terms.kl.mean()}


def _softplus_form(x, y, out):
    l = out.logits
    recon = (F.softplus(l) - x * l).flatten(1).sum(1)
    kl = -0.5 * torch.sum(1 + out.logvar - out.mu ** 2 - out.logvar.exp(), dim=1)
    return {"loss": recon.mean() + kl.mean(), "recon": recon.mean(), "kl": kl.mean()}


@pytest.mark.parametrize("right", [_package_loss, _distributions, _elbo_terms, _softplus_form])
def test_cvae_loss_checker_accepts_right_answers(right):
    assert_accepts(checks.cvae_loss, right)


# ---- the notebooks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(checks.EXERCISES))
def test_checkers_accept_the_solution_and_reject_the_exercise_stub(name):
    checker = checks.EXERCISES[name]
    assert_accepts(checker, definitions(ROOT / "solutions" / "07_cvae.ipynb")[name])
    assert_rejects(checker, definitions(ROOT / "exercises" / "07_cvae.ipynb")[name], ["not implemented yet"])
