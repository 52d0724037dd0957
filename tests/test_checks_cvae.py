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


def _fwd(encoder, decoder, x, c_enc, c_dec=None, sample=_sample):
    """The right layout, with the encoder's code ``c_enc``, the decoder's ``c_dec`` and a sampler to vary."""
    c_dec = c_enc if c_dec is None else c_dec
    mu, logvar = encoder(torch.cat([x.flatten(1), c_enc], 1))
    z = sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([z, c_dec], 1)), mu=mu, logvar=logvar, z=z)


def _one_hot_hard_coded_10(encoder, decoder, x, y, num_classes):
    return _fwd(encoder, decoder, x, F.one_hot(y.long(), 10).to(x.dtype))


def _one_hot_num_classes_minus_one(encoder, decoder, x, y, num_classes):
    return _fwd(encoder, decoder, x, F.one_hot(y.long(), num_classes - 1).to(x.dtype))


def _one_hot_of_float_labels(encoder, decoder, x, y, num_classes):
    return _fwd(encoder, decoder, x, F.one_hot(y.float(), num_classes).to(x.dtype))


def _stack_not_cat(encoder, decoder, x, y, num_classes):
    c = _code(y, num_classes, x)
    mu, logvar = encoder(torch.stack([x.flatten(1), c], 1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.stack([z, c], 1)), mu=mu, logvar=logvar, z=z)


def _raw_label_only_in_decoder(encoder, decoder, x, y, num_classes):
    return _fwd(encoder, decoder, x, _code(y, num_classes, x), y.to(x.dtype)[:, None])


def _label_divided_by_k(encoder, decoder, x, y, num_classes):
    c = (y.to(x.dtype) / num_classes)[:, None]
    return _fwd(encoder, decoder, x, c)


def _plain_vae(encoder, decoder, x, y, num_classes):
    mu, logvar = encoder(x.flatten(1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(z), mu=mu, logvar=logvar, z=z)


def _first_label_for_all(encoder, decoder, x, y, num_classes):
    c = F.one_hot(y[:1].long().expand(len(y)), num_classes).to(x.dtype)
    return _fwd(encoder, decoder, x, c)


def _binarized_x(encoder, decoder, x, y, num_classes):
    return _fwd(encoder, decoder, (x > 0.5).to(x.dtype), _code(y, num_classes, x))


def _sigma_is_logvar(encoder, decoder, x, y, num_classes):
    return _fwd(encoder, decoder, x, _code(y, num_classes, x), sample=lambda m, lv: m + lv * torch.randn_like(m))


def _sigma_half_exp(encoder, decoder, x, y, num_classes):  # torch.exp(logvar) / 2: the brackets misplaced
    return _fwd(encoder, decoder, x, _code(y, num_classes, x),
                sample=lambda m, lv: m + torch.exp(lv) / 2 * torch.randn_like(m))


def _sigma_sqrt_logvar(encoder, decoder, x, y, num_classes):
    return _fwd(encoder, decoder, x, _code(y, num_classes, x),
                sample=lambda m, lv: m + lv.sqrt() * torch.randn_like(m))


def _sigma_softplus(encoder, decoder, x, y, num_classes):
    return _fwd(encoder, decoder, x, _code(y, num_classes, x),
                sample=lambda m, lv: m + F.softplus(lv) * torch.randn_like(m))


def _no_sigma(encoder, decoder, x, y, num_classes):
    return _fwd(encoder, decoder, x, _code(y, num_classes, x), sample=lambda m, lv: m + torch.randn_like(m))


def _z_from_prior(encoder, decoder, x, y, num_classes):
    return _fwd(encoder, decoder, x, _code(y, num_classes, x), sample=lambda m, lv: torch.randn_like(m))


def _distribution_sample(encoder, decoder, x, y, num_classes):  # .sample() cuts the gradient
    return _fwd(encoder, decoder, x, _code(y, num_classes, x),
                sample=lambda m, lv: torch.distributions.Normal(m, (0.5 * lv).exp()).sample())


def _z_detached(encoder, decoder, x, y, num_classes):
    return _fwd(encoder, decoder, x, _code(y, num_classes, x), sample=lambda m, lv: _sample(m, lv).detach())


def _noise_shared_by_the_batch(encoder, decoder, x, y, num_classes):
    return _fwd(encoder, decoder, x, _code(y, num_classes, x),
                sample=lambda m, lv: m + (0.5 * lv).exp() * torch.randn(m.shape[1], dtype=m.dtype))


def _one_noise_per_example(encoder, decoder, x, y, num_classes):
    return _fwd(encoder, decoder, x, _code(y, num_classes, x),
                sample=lambda m, lv: m + (0.5 * lv).exp() * torch.randn(len(m), 1, dtype=m.dtype))


def _epsilon_std_small(encoder, decoder, x, y, num_classes):  # Keras examples' epsilon_std = 0.1
    return _fwd(encoder, decoder, x, _code(y, num_classes, x),
                sample=lambda m, lv: m + (0.5 * lv).exp() * 0.1 * torch.randn_like(m))


def _seeded_inside(encoder, decoder, x, y, num_classes):
    torch.manual_seed(0)  # "for reproducibility": the same eps at every training step
    return _fwd(encoder, decoder, x, _code(y, num_classes, x))


def _own_generator(encoder, decoder, x, y, num_classes):
    g = torch.Generator().manual_seed(1234)
    return _fwd(encoder, decoder, x, _code(y, num_classes, x),
                sample=lambda m, lv: m + (0.5 * lv).exp() * torch.randn(m.shape, generator=g, dtype=m.dtype))


def _flat_logits(encoder, decoder, x, y, num_classes):
    out = _fwd(encoder, decoder, x, _code(y, num_classes, x))
    return VAEOutput(logits=out.logits.flatten(1), mu=out.mu, logvar=out.logvar, z=out.z)


def _encoder_output_chunked(encoder, decoder, x, y, num_classes):
    c = _code(y, num_classes, x)
    h = encoder(torch.cat([x.flatten(1), c], 1))
    mu, logvar = h.chunk(2, dim=1)
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([z, c], 1)), mu=mu, logvar=logvar, z=z)


def _returns_dict(encoder, decoder, x, y, num_classes):
    out = _fwd(encoder, decoder, x, _code(y, num_classes, x))
    return {"logits": out.logits, "mu": out.mu, "logvar": out.logvar, "z": out.z}


def _positional_order(encoder, decoder, x, y, num_classes):
    out = _fwd(encoder, decoder, x, _code(y, num_classes, x))
    return VAEOutput(out.mu, out.logvar, out.z, out.logits)


def _logits_detached(encoder, decoder, x, y, num_classes):
    out = _fwd(encoder, decoder, x, _code(y, num_classes, x))
    return VAEOutput(logits=out.logits.detach(), mu=out.mu, logvar=out.logvar, z=out.z)


def _decoder_gets_detached_z(encoder, decoder, x, y, num_classes):
    c = _code(y, num_classes, x)
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    z = _sample(mu, logvar)
    return VAEOutput(logits=decoder(torch.cat([z.detach(), c], 1)), mu=mu, logvar=logvar, z=z)


def _sigmoid_twice_forward(encoder, decoder, x, y, num_classes):
    out = _fwd(encoder, decoder, x, _code(y, num_classes, x))
    return VAEOutput(logits=torch.sigmoid(torch.sigmoid(out.logits)), mu=out.mu, logvar=out.logvar, z=out.z)


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
    (_one_hot_hard_coded_10, ["width 10", "num_classes = 4"]),
    (_one_hot_num_classes_minus_one, ["width 9", "num_classes"]),
    (_one_hot_of_float_labels, ["y.long()"]),
    (_stack_not_cat, ["torch.stack", "dim=1"]),
    (_raw_label_only_in_decoder, ["decoder's input as one raw number"]),
    (_label_divided_by_k, ["one number per example", "one-hot code"]),
    (_plain_vae, ["the label never reaches the encoder"]),
    (_first_label_for_all, ["not the one-hot code of y"]),
    (_binarized_x, ["are not x"]),
    (_sigma_is_logvar, ["by logvar itself"]),
    (_sigma_half_exp, ["exp(logvar) / 2"]),
    (_sigma_sqrt_logvar, ["NaN", "exp(logvar / 2)"]),
    (_sigma_softplus, ["softplus(logvar)"]),
    (_no_sigma, ["does not depend on out.logvar"]),
    (_z_from_prior, ["differentiably"]),
    (_distribution_sample, ["differentiably"]),
    (_z_detached, ["differentiably"]),
    (_noise_shared_by_the_batch, ["every example got the same noise"]),
    (_one_noise_per_example, ["the d coordinates of each code got the same noise"]),
    (_epsilon_std_small, ["standard deviation 0.10", "no scale factor"]),
    (_seeded_inside, ["torch.manual_seed", "same eps at every training step"]),
    (_own_generator, ["torch.Generator", "same eps at every training step"]),
    (_flat_logits, ["logits returned shape (6, 784)", "(6, 1, 28, 28)"]),
    (_encoder_output_chunked, ["mu, logvar = encoder(...)"]),
    (_returns_dict, ["VAEOutput"]),
    (_positional_order, [".z returned shape"]),
    (_logits_detached, ["carry no gradient back to z"]),
    (_decoder_gets_detached_z, ["carry no gradient back to z"]),
    (_sigmoid_twice_forward, ["sigmoid (twice)"]),
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


def _bool_one_hot(encoder, decoder, x, y, num_classes):
    return _fwd(encoder, decoder, x, y.long()[:, None] == torch.arange(num_classes))


def _index_put_one_hot(encoder, decoder, x, y, num_classes):
    c = torch.zeros(len(y), num_classes, dtype=x.dtype)
    c[torch.arange(len(y)), y.long()] = 1
    return _fwd(encoder, decoder, x, c)


def _column_stack_sqrt(encoder, decoder, x, y, num_classes):
    c = F.one_hot(y.long(), num_classes).to(x.dtype)
    mu, logvar = encoder(torch.column_stack([x.reshape(len(x), -1), c]))
    z = mu + logvar.exp().sqrt() * torch.empty_like(mu).normal_()
    return VAEOutput(logits=decoder(torch.column_stack([z, c])), mu=mu, logvar=logvar, z=z)


def _encoder_called_twice(encoder, decoder, x, y, num_classes):
    c = F.one_hot(y.long(), num_classes).to(x.dtype)
    inp = torch.concat([x.flatten(1), c], dim=-1)
    mu = encoder(inp)[0]
    logvar = encoder(inp)[1]
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    return VAEOutput(logits=decoder(torch.concat([z, c], dim=-1)), mu=mu, logvar=logvar, z=z)


def _loop_over_the_batch(encoder, decoder, x, y, num_classes):
    outs = []
    for xi, yi in zip(x, y):
        c = torch.zeros(1, num_classes, dtype=x.dtype)
        c[0, int(yi)] = 1.0
        mu, logvar = encoder(torch.cat([xi.reshape(1, -1), c], 1))
        z = mu + (logvar / 2).exp() * torch.randn_like(mu)
        outs.append((decoder(torch.cat([z, c], 1)), mu, logvar, z))
    logits, mu, logvar, z = (torch.cat(t) for t in zip(*outs))
    return VAEOutput(logits=logits, mu=mu, logvar=logvar, z=z)


def _independent_rsample_float32_noise(encoder, decoder, x, y, num_classes):
    c = torch.eye(num_classes)[y.long()]  # float32, promoted by torch.cat
    mu, logvar = encoder(torch.cat([x.flatten(1), c], 1))
    q = torch.distributions.Independent(torch.distributions.Normal(mu, torch.exp(logvar * 0.5)), 1)
    z = q.rsample()
    return VAEOutput(logits=decoder(torch.cat([z, c.to(z.dtype)], 1)), mu=mu, logvar=logvar, z=z)


@pytest.mark.parametrize("right", [_package_reparameterize, _eye_rows_and_hstack, _scatter_loop, _python_loop_one_hot,
                                   _int_one_hot_promoted, _package_cvae_condition, _bool_one_hot, _index_put_one_hot,
                                   _column_stack_sqrt, _encoder_called_twice,
                                   _loop_over_the_batch, _independent_rsample_float32_noise])
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


def _mse_on_probabilities(x, y, out):
    recon, kl = _parts(x, out)
    mse = F.mse_loss(torch.sigmoid(out.logits), x, reduction="none").flatten(1).sum(1)
    return _terms(recon, kl, (mse + kl).mean())


def _mse_on_logits(x, y, out):
    recon, kl = _parts(x, out)
    mse = F.mse_loss(out.logits, x, reduction="none").flatten(1).sum(1)
    return _terms(recon, kl, (mse + kl).mean())


def _sigmoid_then_bce_with_logits(x, y, out):
    _, kl = _parts(x, out)
    recon = F.binary_cross_entropy_with_logits(torch.sigmoid(out.logits), x, reduction="none").flatten(1).sum(1)
    return _terms(recon, kl, (recon + kl).mean())


def _sigmoid_twice(x, y, out):
    _, kl = _parts(x, out)
    recon = F.binary_cross_entropy(torch.sigmoid(torch.sigmoid(out.logits)), x, reduction="none").flatten(1).sum(1)
    return _terms(recon, kl, (recon + kl).mean())


def _bce_on_sigmoid(x, y, out):
    _, kl = _parts(x, out)
    recon = F.binary_cross_entropy(torch.sigmoid(out.logits), x, reduction="none").flatten(1).sum(1)
    return _terms(recon, kl, (recon + kl).mean())


def _log_sigmoid_by_hand(x, y, out):
    _, kl = _parts(x, out)
    p = torch.sigmoid(out.logits)
    recon = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(1)
    return _terms(recon, kl, (recon + kl).mean())


def _log_with_epsilon(x, y, out):
    _, kl = _parts(x, out)
    p = torch.sigmoid(out.logits)
    recon = -(x * torch.log(p + 1e-8) + (1 - x) * torch.log(1 - p + 1e-8)).flatten(1).sum(1)
    return _terms(recon, kl, (recon + kl).mean())


def _bce_arguments_swapped(x, y, out):
    _, kl = _parts(x, out)
    recon = F.binary_cross_entropy_with_logits(x, torch.sigmoid(out.logits), reduction="none").flatten(1).sum(1)
    return _terms(recon, kl, (recon + kl).mean())


def _default_reduction(x, y, out):  # F.binary_cross_entropy_with_logits(logits, x) averages over every pixel
    recon, kl = _parts(x, out)
    return _terms(recon, kl, F.binary_cross_entropy_with_logits(out.logits, x) + kl.mean())


def _recon_summed_kl_averaged(x, y, out):
    recon, kl = _parts(x, out)
    return _terms(recon, kl, F.binary_cross_entropy_with_logits(out.logits, x, reduction="sum") + kl.mean())


def _divided_by_fixed_batch_size(x, y, out):
    recon, kl = _parts(x, out)
    return _terms(recon, kl, (recon + kl).sum() / 128)


def _kl_averaged_over_latents(x, y, out):
    recon, _ = _parts(x, out)
    kl = 0.5 * (out.logvar.exp() + out.mu.pow(2) - 1 - out.logvar).mean(1)
    return _terms(recon, kl, (recon + kl).mean())


def _kl_without_half(x, y, out):
    recon, _ = _parts(x, out)
    kl = (out.logvar.exp() + out.mu.pow(2) - 1 - out.logvar).sum(1)
    return _terms(recon, kl, (recon + kl).mean())


def _kl_logvar_as_log_sigma(x, y, out):
    recon, _ = _parts(x, out)
    kl = 0.5 * ((2 * out.logvar).exp() + out.mu.pow(2) - 1 - 2 * out.logvar).sum(1)
    return _terms(recon, kl, (recon + kl).mean())


def _loss_as_python_float(x, y, out):
    recon, kl = _parts(x, out)
    return _terms(recon, kl, (recon + kl).mean().item())


def _kl_detached(x, y, out):
    recon, _ = _parts(x, out)
    mu, logvar = out.mu.detach(), out.logvar.detach()
    kl = 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(1)
    return _terms(recon, kl, (recon + kl).mean())


def _clamps_logvar_in_place(x, y, out):
    out.logvar.clamp_(-10, 10)
    recon, kl = _parts(x, out)
    return _terms(recon, kl, (recon + kl).mean())


def _validated_bernoulli(x, y, out):
    _, kl = _parts(x, out)
    recon = -torch.distributions.Bernoulli(logits=out.logits, validate_args=True).log_prob(x).flatten(1).sum(1)
    return _terms(recon, kl, (recon + kl).mean())


def _kl_to_prior_scaled_by_num_classes(x, y, out):  # the prior N(0, I) per class count: KL weight 1 / K
    recon, kl = _parts(x, out)
    return _terms(recon, kl, (recon + kl / 10).mean())


def _y_one_hot_added_to_recon(x, y, out):  # the label's cross-entropy added, as if y were predicted
    recon, kl = _parts(x, out)
    return _terms(recon, kl, (recon + kl + y.to(x.dtype) * 0.01).mean())


def _computed_in_float32(x, y, out):
    recon, kl = _parts(x.float(), VAEOutput(out.logits.float(), out.mu.float(), out.logvar.float(), out.z.float()))
    return _terms(recon, kl, (recon + kl).mean().to(x.dtype))


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
    (_mse_on_probabilities, ["squared error between sigmoid(logits) and x", "Bernoulli"]),
    (_mse_on_logits, ["squared error between the logits and x"]),
    (_sigmoid_then_bce_with_logits, ["went through a sigmoid"]),
    (_sigmoid_twice, ["went through a sigmoid"]),
    (_bce_on_sigmoid, ["clips that log at -100"]),
    (_log_sigmoid_by_hand, ["NaN or infinite", "F.binary_cross_entropy_with_logits"]),
    (_log_with_epsilon, ["An epsilon added for safety"]),
    (_bce_arguments_swapped, ["swapped", "logits come first"]),
    (_default_reduction, ["averaged over pixels"]),
    (_recon_summed_kl_averaged, ["summed over the batch (reduction='sum')"]),
    (_divided_by_fixed_batch_size, ["divided by 128", "len(x)"]),
    (_kl_averaged_over_latents, ["averaged over latent dimensions"]),
    (_kl_without_half, ["twice the reference"]),
    (_kl_logvar_as_log_sigma, ["log of the variance"]),
    (_loss_as_python_float, ["should return a torch.Tensor, got float"]),
    (_kl_detached, ["no gradient flows back to mu"]),
    (_clamps_logvar_in_place, ["in-place"]),
    (_validated_bernoulli, ["grey levels"]),
    (_kl_to_prior_scaled_by_num_classes, ["the KL is weighted by 0.1"]),
    (_y_one_hot_added_to_recon, ["changes when only y changes"]),
    (_computed_in_float32, ["float32 precision"]),
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


def _log_sigmoid_form(x, y, out):
    l = out.logits.flatten(1)
    t = x.flatten(1)
    recon = -(t * F.logsigmoid(l) + (1 - t) * F.logsigmoid(-l)).sum(-1)
    kl = 0.5 * torch.sum(torch.exp(out.logvar) + out.mu * out.mu - 1.0 - out.logvar, dim=-1)
    return {"loss": torch.mean(recon + kl), "recon": recon.mean(), "kl": kl.mean()}


def _sum_then_divide(x, y, out):
    n = x.size(0)
    recon = F.binary_cross_entropy_with_logits(out.logits, x, reduction="sum") / n
    kl = -0.5 * torch.sum(1 + out.logvar - out.mu.pow(2) - out.logvar.exp()) / n
    return {"loss": recon + kl, "recon": recon, "kl": kl}


def _loop_over_examples(x, y, out):
    recon, kl = [], []
    for i in range(len(x)):
        recon.append(F.binary_cross_entropy_with_logits(out.logits[i], x[i], reduction="sum"))
        kl.append(0.5 * (out.logvar[i].exp() + out.mu[i] ** 2 - 1 - out.logvar[i]).sum())
    recon, kl = torch.stack(recon), torch.stack(kl)
    return {"loss": (recon + kl).mean(), "recon": recon.mean(), "kl": kl.mean()}


def _independent_kl(x, y, out):
    D = torch.distributions
    q = D.Independent(D.Normal(out.mu, torch.exp(0.5 * out.logvar)), 1)
    p = D.Independent(D.Normal(torch.zeros_like(out.mu), torch.ones_like(out.mu)), 1)
    kl = D.kl_divergence(q, p)
    recon = F.binary_cross_entropy_with_logits(out.logits, x, reduction="none").sum(dim=(1, 2, 3))
    return {"loss": (recon + kl).mean(), "recon": recon.mean(), "kl": kl.mean()}


def _in_float64_cast_back(x, y, out):
    l, m, lv = out.logits.double(), out.mu.double(), out.logvar.double()
    recon = F.binary_cross_entropy_with_logits(l, x.double(), reduction="none").flatten(1).sum(1)
    kl = 0.5 * (lv.exp() + m ** 2 - 1 - lv).sum(1)
    return {k: v.mean().to(x.dtype) for k, v in (("loss", recon + kl), ("recon", recon), ("kl", kl))}


def _elbo_negated_with_y_ignored(x, y, out):
    del y  # the prior does not depend on the label
    log_px = -F.binary_cross_entropy_with_logits(out.logits, x, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (out.logvar.exp() + out.mu.square() - 1 - out.logvar).sum(1)
    elbo = log_px - kl
    return {"loss": -elbo.mean(), "recon": -log_px.mean(), "kl": kl.mean()}


@pytest.mark.parametrize("right", [_package_loss, _distributions, _elbo_terms, _softplus_form, _log_sigmoid_form, _sum_then_divide,
                                   _loop_over_examples, _independent_kl,
                                   _in_float64_cast_back, _elbo_negated_with_y_ignored])
def test_cvae_loss_checker_accepts_right_answers(right):
    assert_accepts(checks.cvae_loss, right)


# ---- the notebooks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(checks.EXERCISES))
def test_checkers_accept_the_solution_and_reject_the_exercise_stub(name):
    checker = checks.EXERCISES[name]
    assert_accepts(checker, definitions(ROOT / "solutions" / "07_cvae.ipynb")[name])
    assert_rejects(checker, definitions(ROOT / "exercises" / "07_cvae.ipynb")[name], ["not implemented yet"])
