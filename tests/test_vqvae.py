"""VQVAE and vqvae_loss (course_vae.vqvae), chapter 8."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_vae import FSQ, VQVAE, QuantizerOutput, VectorQuantizer, VQVAEOutput, fit, vqvae_loss
from course_vae.likelihoods import bernoulli_log_likelihood


def _model(**kwargs):
    torch.manual_seed(0)
    return VQVAE(**{"num_codes": 16, "code_dim": 4, "channels": (8, 8), **kwargs})


def test_shapes():
    model = _model()
    x = torch.rand(3, 1, 28, 28)
    z_e = model.encode(x)
    assert z_e.shape == (3, 4, 7, 7) and model.grid == (7, 7)
    q = model.quantize(z_e)
    assert isinstance(q, QuantizerOutput) and q.indices.shape == (3, 7, 7)
    assert model.decode(q.z_q).shape == x.shape
    out = model(x)
    assert isinstance(out, VQVAEOutput) and out.logits.shape == x.shape
    torch.testing.assert_close(model.decode_indices(out.quantized.indices), out.logits)
    assert isinstance(model.quantizer, VectorQuantizer) and model.num_codes == 16


def test_loss_terms_in_per_image_units():
    model = _model(beta=0.5)
    x = (torch.rand(5, 1, 28, 28) > 0.5).float()
    out = model(x)
    terms = vqvae_loss(x, out)
    assert set(terms) == {"loss", "recon", "codebook", "commitment", "perplexity"}
    torch.testing.assert_close(terms["recon"], -bernoulli_log_likelihood(x, out.logits).mean())
    n = 4 * 7 * 7
    torch.testing.assert_close(terms["codebook"], n * out.quantized.codebook_loss)
    torch.testing.assert_close(terms["commitment"], n * out.quantized.commitment_loss)
    torch.testing.assert_close(terms["loss"], terms["recon"] + terms["codebook"] + 0.5 * terms["commitment"])
    # per image: the squared distances summed over the grid, averaged over the batch
    chosen = model.quantizer.codebook.detach()[out.quantized.indices].permute(0, 3, 1, 2)
    per_image = ((out.z_e.detach() - chosen) ** 2).flatten(1).sum(1).mean()
    torch.testing.assert_close(terms["codebook"], per_image)


def test_gradients_reach_encoder_decoder_and_codebook():
    model = _model()
    x = (torch.rand(4, 1, 28, 28) > 0.5).float()
    vqvae_loss(x, model(x))["loss"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_quantizer_kwargs_and_ready_quantizers():
    model = _model(ema_decay=0.99, dead_code_threshold=1.0)
    assert model.quantizer.ema_decay == 0.99 and model.quantizer.dead_code_threshold == 1.0
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.encoder)
    fsq_model = VQVAE(None, 3, channels=(8, 8), quantizer=FSQ((4, 4, 4)))
    assert fsq_model.num_codes == 64
    assert isinstance(fsq_model.encoder[-1], nn.BatchNorm2d)  # FSQ's fixed grid needs normalized inputs
    out = fsq_model(torch.rand(2, 1, 28, 28))
    assert torch.isin(out.quantized.z_q, torch.tensor([-1.0, -0.5, 0.0, 0.5])).all()
    torch.testing.assert_close(fsq_model.decode_indices(out.quantized.indices), out.logits)
    assert not isinstance(VQVAE(None, 3, channels=(8, 8), quantizer=FSQ((4, 4, 4)), encoder_norm=False).encoder[-1],
                          nn.BatchNorm2d)


def test_bad_arguments():
    with pytest.raises(ValueError, match="code_dim = 4 must equal"):
        VQVAE(None, 4, quantizer=FSQ((4, 4, 4)))
    with pytest.raises(ValueError, match="pass quantizer arguments"):
        VQVAE(None, 3, quantizer=FSQ((4, 4, 4)), beta=0.5)
    with pytest.raises(ValueError, match="divisible"):
        VQVAE(16, 4, image_shape=(1, 30, 30))
    with pytest.raises(ValueError, match="x must have shape"):
        _model()(torch.rand(2, 28, 28))
    with pytest.raises(ValueError, match="indices must"):
        _model().decode_indices(torch.zeros(2, 6, 7, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 16\)"):
        _model().decode_indices(torch.full((2, 7, 7), 16))


def test_trains_with_fit():
    torch.manual_seed(0)
    x = (torch.rand(64, 1, 28, 28) > 0.7).float()
    model = _model(ema_decay=0.9)
    history = fit(model, lambda m, b: vqvae_loss(b, m(b)), x, epochs=3, batch_size=32, lr=2e-3, seed=0, progress=False)
    assert history.train["recon"][-1] < history.train["recon"][0]
    assert 1.0 <= history.train["perplexity"][-1] <= 16.0
