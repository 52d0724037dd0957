"""How much time does `course_vae.fit` add to a bare PyTorch training loop?

Trains the same MLP autoencoder on the bundled MNIST training split for the same number
of epochs three ways: a minimal hand-written loop, `fit(progress=False)` and
`fit(progress=True)`, and prints the seconds per epoch of each (best of --repeats).

    .venv/bin/python benchmarks/fit_overhead.py
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from course_vae import fit, load_mnist, mlp, seed_everything


def make_model() -> nn.Module:
    seed_everything(0)
    return nn.Sequential(nn.Flatten(), mlp([784, 256, 16, 256, 784]), nn.Unflatten(1, (1, 28, 28)))


def loss_fn(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"loss": (model(x) - x).pow(2).flatten(1).sum(1).mean()}


def bare_loop(x: torch.Tensor, epochs: int, batch_size: int) -> None:
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=generator).split(batch_size):
            loss = loss_fn(model, x[idx])["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def with_fit(x: torch.Tensor, epochs: int, batch_size: int, progress: bool) -> None:
    fit(make_model(), loss_fn, x, epochs=epochs, batch_size=batch_size, lr=1e-3, seed=0, progress=progress)


def best_time(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    x, _ = load_mnist("train")
    print(f"{len(x)} images, batch {args.batch_size}, {args.epochs} epochs, torch threads {torch.get_num_threads()}")
    runs = {
        "bare PyTorch loop": lambda: bare_loop(x, args.epochs, args.batch_size),
        "fit(progress=False)": lambda: with_fit(x, args.epochs, args.batch_size, progress=False),
        "fit(progress=True)": lambda: with_fit(x, args.epochs, args.batch_size, progress=True),
    }
    seconds = {name: best_time(run, args.repeats) / args.epochs for name, run in runs.items()}
    base = seconds["bare PyTorch loop"]
    for name, value in seconds.items():
        print(f"{name:22s} {value:6.3f} s/epoch  ({100 * (value / base - 1):+5.1f}% vs bare loop)")


if __name__ == "__main__":
    main()
