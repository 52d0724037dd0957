"""A small MNIST classifier, the measuring instrument of chapter 9.

Chapter 9 compares generated digits with real ones in the feature space of a classifier
trained in the chapter (nothing downloaded): the Frechet distance between the
penultimate-layer features of real and generated digits
(:func:`course_vae.metrics.frechet_distance`) and the classifier's confidence on
generated digits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .nets import mlp
from .history import History
from .seeding import seed_everything
from .training import fit


class DigitClassifier(nn.Module):
    """An MLP ``x (B, C, H, W) -> logits (B, K)`` with a readable penultimate layer.

    ``DigitClassifier()`` is ``Flatten, mlp([784, 256, 64]), ReLU`` (the features, ``F =
    64``) and ``Linear(64, 10)`` (the logits). Taught in chapter 9.

    Args:
        sizes: input size then hidden widths; the last one is the feature width ``F``.
        num_classes: ``K``.
        activation: the activation module class.
    """

    def __init__(self, sizes: Sequence[int] = (784, 256, 64), num_classes: int = 10,
                 activation: Callable[[], nn.Module] = nn.ReLU) -> None:
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"DigitClassifier needs the input size and at least one hidden width, got sizes {sizes}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        self.body = nn.Sequential(nn.Flatten(), mlp(sizes, activation), activation())
        self.head = nn.Linear(sizes[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, C, H, W) -> logits (B, K)``."""
        return self.head(self.body(x))

    @torch.no_grad()
    def features_and_probs(self, x: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """Penultimate-layer features ``(N, F)`` and class probabilities ``(N, K)`` of ``x (N, C, H, W)``.

        In eval mode, without gradients, in batches of ``batch_size``.
        """
        was_training = self.training
        self.eval()
        try:
            feats, probs = [], []
            for start in range(0, len(x), batch_size):
                h = self.body(x[start : start + batch_size])
                feats.append(h)
                probs.append(F.softmax(self.head(h), dim=1))
            return torch.cat(feats), torch.cat(probs)
        finally:
            self.train(was_training)

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """Fraction of ``x (N, C, H, W)`` whose most probable class is the label ``y (N,)``."""
        _, probs = self.features_and_probs(x)
        return (probs.argmax(1) == y).float().mean().item()


def classifier_loss(model: DigitClassifier, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Cross-entropy of a batch ``(images (B, C, H, W), labels (B,))`` and its accuracy, for :func:`fit`."""
    x, y = batch
    logits = model(x)
    return {"loss": F.cross_entropy(logits, y), "accuracy": (logits.argmax(1) == y).float().mean()}


def train_classifier(images: torch.Tensor, labels: torch.Tensor, *, epochs: int = 8, batch_size: int = 64,
                     lr: float = 1e-3, seed: int = 0, progress: bool = False,
                     model: DigitClassifier | None = None) -> tuple[DigitClassifier, History]:
    """Train a :class:`DigitClassifier` with :func:`course_vae.fit` on ``(images, labels)``.

    With the defaults, the 4,000 bundled training digits take a few CPU seconds.
    The default model is built after seeding with ``seed``, so its initial weights, and
    hence the result, repeat exactly. Returns the trained model (in eval mode) and its
    :class:`History`. Chapter 9.
    """
    if model is None:
        seed_everything(seed)
        model = DigitClassifier()
    history = fit(model, classifier_loss, (images, labels), epochs=epochs, batch_size=batch_size, lr=lr,
                  seed=seed, progress=progress)
    return model.eval(), history
