from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from course_vae import mlp, seed_everything


def _draws():
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_seed_everything_repeats_every_generator():
    g1 = seed_everything(7)
    first = _draws() + (float(torch.rand((), generator=g1)),)
    g2 = seed_everything(7)
    second = _draws() + (float(torch.rand((), generator=g2)),)
    seed_everything(8)
    third = _draws()
    assert first == second
    assert all(a != b for a, b in zip(first, third))
    assert torch.are_deterministic_algorithms_enabled()


def test_seed_everything_uses_one_thread_so_sums_do_not_depend_on_the_cores():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        x = torch.randn(4096, 256, generator=torch.Generator().manual_seed(0))
        seed_everything(0)
        assert torch.get_num_threads() == 1
        one_thread = (x @ x.T).sum(dim=1)
        assert torch.equal(one_thread, (x @ x.T).sum(dim=1))  # the same on every call
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "0", None, True])
def test_seed_everything_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed must be an integer"):
        seed_everything(seed)


def test_mlp_layers_and_shapes():
    net = mlp([5, 7, 3])
    assert [type(m) for m in net] == [nn.Linear, nn.ReLU, nn.Linear]
    assert net(torch.zeros(4, 5)).shape == (4, 3)
    net = mlp([2, 3], activation=nn.Tanh, out_activation=nn.Sigmoid)
    assert [type(m) for m in net] == [nn.Linear, nn.Sigmoid]
    assert [type(m) for m in mlp([2, 4, 4, 1], activation=nn.Tanh)] == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]


@pytest.mark.parametrize("sizes", [[], [3], [3, 0], [3, -2], [3, 2.5]])
def test_mlp_rejects_bad_sizes(sizes):
    with pytest.raises(ValueError, match="mlp"):
        mlp(sizes)
