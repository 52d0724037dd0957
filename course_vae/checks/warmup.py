"""Checker of the warm-up exercise (``solutions/00_warmup.ipynb``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .core import call, expect_close, expect_gradients, expect_shape, expect_tensor, gradient, passed


def _reference(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(x_hat, x, reduction="none").flatten(1).sum(dim=1)


def squared_error(fn) -> None:
    """Check ``fn(x, x_hat)``: the squared error summed over all but the batch dimension, ``(B,)``."""
    name = "squared_error"
    g = torch.Generator().manual_seed(0)
    cases = [(5, 1, 28, 28), (3, 7), (4, 2, 3, 5)]
    for shape in cases:
        x = torch.rand(shape, generator=g, dtype=torch.float64)
        x_hat = torch.rand(shape, generator=g, dtype=torch.float64).requires_grad_()
        out = expect_tensor(call(fn, name, x.clone(), x_hat), name)
        batch = shape[0]
        expect_shape(out, (batch,), name, f"one value per example for inputs of shape {shape}")
        expected = _reference(x, x_hat)
        per_dim = expected / x[0].numel()
        expect_close(
            out,
            expected.detach(),
            name,
            known_mistakes=[
                (per_dim.detach(), "Your values are the reference divided by the number of pixels: sum, don't average."),
                (expected.sqrt().detach(), "Your values are the square roots of the reference: the error is squared."),
            ],
        )
        weights = torch.rand(batch, generator=g, dtype=torch.float64)
        expect_gradients(gradient(out, [x_hat], weights), gradient(expected, [x_hat], weights), ["x_hat"], name)
    passed(name, f"shapes, values and gradients match the reference on {len(cases)} input shapes")


EXERCISES = {"squared_error": squared_error}
