"""Validation ELBO per CPU-second: the PyTorch example's VAE recipe against chapter 4's.

The chapter chose its recipe by looking at the 1,000 test digits, so the test digits are
not used here. The 4,000 bundled training digits are split once (a fixed permutation)
into 3,500 for training and 500 for validation. Every configuration is trained with
seeds 0, 1 and 2 (initialization, shuffling, noise) and evaluated on the validation
digits after every epoch: the ELBO per image with the Bernoulli likelihood on grey
levels, averaged over 10 draws of z per image with fixed noise. Four configurations,
all MLPs 784-400-20:

(a) reference: the widely used PyTorch VAE example (pytorch/examples, vae/main.py):
    ReLU, Adam with learning rate 1e-3, batch 128, constant learning rate; it trains
    until the budget is spent;
(b) reference + cosine: the same, with the learning rate decayed to 0 along a cosine
    over 120 epochs, as many optimizer steps as (c) takes;
(c) chapter 4: SiLU, Adam with learning rate 3e-3 decayed to 0 along a cosine over 60
    epochs, batch 64: the chapter's recipe;
(d) chapter 4, 30 epochs: the same with the cosine over 30 epochs, as the chapter's page
    trains it to stay within its time budget.

(b), (c) and (d) stop after their planned epochs even if budget is left (a cosine needs its
length in advance); the table flags a run that the budget cut short. Time is the CPU
time of this process (``time.process_time``) spent in training steps; evaluation is not
counted. Torch runs on one thread by default, so a CPU second is close to a wall-clock
second on an idle machine and other processes on a shared machine are not charged to a
configuration (they still slow it somewhat, through shared caches and memory).

For each configuration the script prints the final and the best validation ELBO (mean
and standard deviation over the seeds), the CPU seconds to the best, and the CPU
seconds to reach the best value of the reference (a) with the same seed.

    .venv/bin/python benchmarks/vae_quality_per_second.py --budget 60
    .venv/bin/python benchmarks/vae_quality_per_second.py --budget 60 --only a d
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from course_vae import VAE, elbo_estimate, load_mnist, seed_everything, train_epoch, vae_loss
from course_vae.training import DivergenceGuard

EVAL_SAMPLES = 10  # z draws per validation image
VALIDATION_SIZE = 500


@dataclass
class Config:
    name: str
    lr: float
    batch_size: int
    cosine_epochs: int | None  # None: constant learning rate until the budget is spent
    activation: type[nn.Module]


@dataclass
class Run:
    curve: list[tuple[float, float]]  # (CPU seconds of training so far, validation ELBO) after each epoch
    planned: int | None

    @property
    def final(self) -> float:
        return self.curve[-1][1]

    @property
    def best(self) -> float:
        return max(value for _, value in self.curve)

    @property
    def seconds_to_best(self) -> float:
        return max(self.curve, key=lambda point: point[1])[0]

    @property
    def cut_short(self) -> bool:
        return self.planned is not None and len(self.curve) < self.planned

    def seconds_to_reach(self, target: float) -> float | None:
        return next((seconds for seconds, value in self.curve if value >= target), None)


def validation_split(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(training, validation) images: a fixed permutation of the training digits."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    return x[order[VALIDATION_SIZE:]], x[order[:VALIDATION_SIZE]]


def validation_elbo(model: VAE, x: torch.Tensor) -> float:
    """Average ELBO per image (nats), over EVAL_SAMPLES draws with fixed noise."""
    return elbo_estimate(model, x, draws=EVAL_SAMPLES, seed=1234).mean().item()


def plain_loss(model, x):
    return vae_loss(x, model(x))


def train(config: Config, seed: int, x: torch.Tensor, x_val: torch.Tensor, budget: float) -> Run:
    """Train until the CPU budget is spent or the planned epochs are done."""
    seed_everything(seed)
    model = VAE(latent_dim=20, hidden=(400,), activation=config.activation)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    steps = math.ceil(len(x) / config.batch_size)
    scheduler = None
    if config.cosine_epochs:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.cosine_epochs * steps)
    generator, guard = torch.Generator().manual_seed(seed), DivergenceGuard()
    curve, seconds, epoch = [], 0.0, 0
    while seconds < budget and (config.cosine_epochs is None or epoch < config.cosine_epochs):
        epoch += 1
        start = time.process_time()
        train_epoch(model, plain_loss, x, optimizer, config.batch_size, generator, epoch, guard=guard,
                    scheduler=scheduler)
        seconds += time.process_time() - start
        curve.append((seconds, validation_elbo(model, x_val)))
    return Run(curve, config.cosine_epochs)


def mean_sd(values: list[float]) -> str:
    return f"{statistics.mean(values):8.2f} +- {statistics.stdev(values):4.2f}" if len(values) > 1 else f"{values[0]:8.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=60.0, help="CPU seconds of training per run")
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (0, 1, ...)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--only", nargs="+", choices="abcd", default=list("abcd"),
                        help="run only these configurations (a is always run: the others are compared with it)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x, x_val = validation_split(load_mnist("train")[0])
    configs = [
        Config("(a) reference", 1e-3, 128, None, nn.ReLU),
        Config("(b) reference + cosine", 1e-3, 128, 120, nn.ReLU),
        Config("(c) chapter 4", 3e-3, 64, 60, nn.SiLU),
        Config("(d) chapter 4, 30 epochs", 3e-3, 64, 30, nn.SiLU),
    ]
    configs = [c for c in configs if c.name[1] == "a" or c.name[1] in args.only]
    print(f"{len(x)} training and {len(x_val)} validation digits; budget {args.budget:.0f} CPU s per run; "
          f"torch threads {torch.get_num_threads()}; seeds 0..{args.seeds - 1}")
    runs: dict[str, list[Run]] = {c.name: [] for c in configs}
    print(f"\n{'run':24s} {'seed':>4s} {'epochs':>6s} {'CPU s':>6s} {'final':>8s} {'best':>8s} {'at s':>6s}")
    for seed in range(args.seeds):
        for config in configs:
            run = train(config, seed, x, x_val, args.budget)
            runs[config.name].append(run)
            flag = " (budget cut the schedule short)" if run.cut_short else ""
            print(f"{config.name:24s} {seed:4d} {len(run.curve):6d} {run.curve[-1][0]:6.1f} {run.final:8.2f} "
                  f"{run.best:8.2f} {run.seconds_to_best:6.1f}{flag}", flush=True)

    reference = runs[configs[0].name]
    print(f"\nvalidation ELBO (nats per image), mean +- sd over {args.seeds} seeds; CPU seconds of training")
    print(f"{'run':24s} {'final':>16s} {'best':>16s} {'s to best':>9s} {'s to reach (a) best':>20s}")
    for config in configs:
        rs = runs[config.name]
        reached = [r.seconds_to_reach(ref.best) for r, ref in zip(rs, reference)]
        shown = (mean_sd([s for s in reached if s is not None]) if all(s is not None for s in reached)
                 else f"{sum(s is not None for s in reached)} of {len(rs)} runs")
        print(f"{config.name:24s} {mean_sd([r.final for r in rs]):>16s} {mean_sd([r.best for r in rs]):>16s} "
              f"{statistics.mean(r.seconds_to_best for r in rs):9.1f} {shown:>20s}")
    for config in configs[1:]:
        differences = [r.best - ref.best for r, ref in zip(runs[config.name], reference)]
        print(f"{config.name} best minus (a) best, same seed: {mean_sd(differences).strip()} nats")


if __name__ == "__main__":
    main()
