"""Test ELBO per second of CPU: the PyTorch example's VAE recipe against chapter 4's.

Both train on the bundled MNIST training split for the same wall-clock budget and are
evaluated with the same likelihood (Bernoulli on grey levels) on the same 1,000 test
images, after every epoch (evaluation time is not counted):

(a) reference: the configuration of the widely used PyTorch VAE example
    (pytorch/examples, vae/main.py): MLP 784-400-20, Bernoulli likelihood on
    intensities, Adam with learning rate 1e-3, batch 128, constant learning rate;
(b) chapter 4: the same widths with SiLU activations, Adam with learning rate 3e-3
    decayed to 0 along a cosine over 60 epochs, batch 64: exactly what the chapter trains.
    It stops after its 60 epochs even if budget is left.

A cosine schedule needs its length in advance. Stretched over a longer run it keeps the
learning rate high for longer: try --chapter-epochs 120.

    .venv/bin/python benchmarks/vae_quality_per_second.py --budget 30
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn

from course_vae import VAE, elbo_estimate, load_mnist, seed_everything, train_epoch, vae_loss
from course_vae.training import DivergenceGuard

EVAL_SAMPLES = 10  # z draws per test image for the test ELBO


def test_elbo(model: VAE, x: torch.Tensor) -> float:
    """Average ELBO per test image (nats), averaged over EVAL_SAMPLES draws with fixed noise."""
    return elbo_estimate(model, x, draws=EVAL_SAMPLES, seed=1234).mean().item()


def plain_loss(model, x):
    return vae_loss(x, model(x))


def train(name: str, x: torch.Tensor, x_test: torch.Tensor, budget: float, lr: float, batch_size: int,
          loss_fn, cosine_epochs: int | None, activation=nn.ReLU) -> list[tuple[float, float]]:
    """Train until the budget is spent (or the planned epochs are done); (seconds, test ELBO) per epoch."""
    seed_everything(0)
    model = VAE(latent_dim=20, hidden=(400,), activation=activation)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = math.ceil(len(x) / batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cosine_epochs * steps) if cosine_epochs else None
    generator, guard = torch.Generator().manual_seed(0), DivergenceGuard()
    curve, seconds, epoch = [], 0.0, 0
    while seconds < budget and (cosine_epochs is None or epoch < cosine_epochs):
        epoch += 1
        start = time.perf_counter()
        train_epoch(model, loss_fn, x, optimizer, batch_size, generator, epoch, guard=guard, scheduler=scheduler)
        seconds += time.perf_counter() - start
        curve.append((seconds, test_elbo(model, x_test)))
    print(f"{name}: {epoch} epochs in {seconds:.1f} s, final test ELBO {curve[-1][1]:.2f} nats", flush=True)
    return curve


def time_to_reach(curve: list[tuple[float, float]], target: float) -> float | None:
    return next((seconds for seconds, value in curve if value >= target), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=30.0, help="training seconds per configuration")
    parser.add_argument("--chapter-epochs", type=int, default=60, help="planned epochs of the chapter recipe")
    args = parser.parse_args()
    x, _ = load_mnist("train")
    x_test, _ = load_mnist("test")
    print(f"budget {args.budget:.0f} s per configuration; torch threads {torch.get_num_threads()}")

    reference = train("(a) reference, PyTorch example", x, x_test, args.budget, 1e-3, 128, plain_loss, None)
    chapter = train(f"(b) chapter 4, {args.chapter_epochs} planned epochs", x, x_test, args.budget, 3e-3, 64,
                    plain_loss, args.chapter_epochs, activation=nn.SiLU)

    target = reference[-1][1]
    print()
    print(f"test ELBO after the budget: reference {reference[-1][1]:.2f}, chapter {chapter[-1][1]:.2f} nats per image")
    print(f"difference (chapter - reference): {chapter[-1][1] - reference[-1][1]:+.2f} nats per image")
    for name, curve in (("reference", reference), ("chapter", chapter)):
        reached = time_to_reach(curve, target)
        shown = f"{reached:.1f} s" if reached is not None else "not reached"
        print(f"time to reach the reference's final ELBO ({target:.2f}): {name} {shown}")


if __name__ == "__main__":
    main()
