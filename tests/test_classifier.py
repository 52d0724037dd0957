"""The small MNIST classifier of chapter 9."""

from __future__ import annotations

import pytest
import torch

from course_vae import DigitClassifier, load_mnist, train_classifier


def test_features_and_probabilities_have_their_shapes():
    model = DigitClassifier(sizes=(784, 32, 16))
    feats, probs = model.features_and_probs(torch.rand(5, 1, 28, 28))
    assert feats.shape == (5, 16) and probs.shape == (5, 10)
    assert torch.allclose(probs.sum(1), torch.ones(5), atol=1e-6)
    assert torch.allclose(probs, torch.softmax(model.head(feats), 1))
    assert model.training  # restored


def test_trains_on_the_bundled_digits_quickly_and_deterministically():
    x, y = load_mnist("train")
    xt, yt = load_mnist("test")
    model, history = train_classifier(x[:2000], y[:2000], epochs=3, seed=0)
    again, _ = train_classifier(x[:2000], y[:2000], epochs=3, seed=0)
    assert model.accuracy(xt, yt) > 0.85
    assert torch.equal(model.head.weight, again.head.weight)
    assert len(history.train["accuracy"]) == 3


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="num_classes"):
        DigitClassifier(num_classes=1)
    with pytest.raises(ValueError, match="hidden width"):
        DigitClassifier(sizes=(784,))
