from __future__ import annotations

import pytest
import torch
from torch import nn

from course_vae import AEOutput, Autoencoder, image_decoder, image_encoder, squared_error


def test_autoencoder_encodes_decodes_and_returns_named_fields():
    torch.manual_seed(0)
    model = Autoencoder(image_encoder([784, 32, 4]), image_decoder([4, 32, 784], out_activation=nn.Sigmoid))
    x = torch.rand(5, 1, 28, 28)
    out = model(x)
    assert isinstance(out, AEOutput)
    assert out.z.shape == (5, 4) and out.x_hat.shape == x.shape
    assert torch.equal(out.z, model.encode(x)) and torch.equal(out.x_hat, model.decode(out.z))
    assert 0 < out.x_hat.min() and out.x_hat.max() < 1


def test_image_blocks_check_their_sizes():
    assert image_decoder([3, 12], image_shape=(3, 2, 2))(torch.zeros(2, 3)).shape == (2, 3, 2, 2)
    with pytest.raises(ValueError, match="must equal the 784 values"):
        image_decoder([4, 100])
    with pytest.raises(ValueError, match="mlp"):
        image_encoder([784])


def test_squared_error_sums_over_entries_per_example():
    x = torch.zeros(2, 1, 2, 2)
    x_hat = torch.tensor([1.0, 2.0]).view(2, 1, 1, 1).expand(2, 1, 2, 2)
    assert squared_error(x, x_hat).tolist() == [4.0, 16.0]
    with pytest.raises(ValueError, match="same shape"):
        squared_error(torch.zeros(2, 784), torch.zeros(2, 1, 28, 28))
