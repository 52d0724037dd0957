"""Checker of the warm-up exercise (``solutions/00_warmup.ipynb``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .core import F32, F64, IMAGE_AXES, call, expect_shape, expect_tensor, expect_unchanged, expect_values_and_gradients, passed, snapshot


def _reference(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(x_hat.to(F64), x.to(F64), reduction="none").flatten(1).sum(dim=1)


def _axes(shape: tuple[int, ...]):
    return IMAGE_AXES if len(shape) == 4 else ("example", "entry")


def squared_error(fn) -> None:
    """Check ``fn(x, x_hat)``: the squared error summed over all but the batch dimension, ``(B,)``.

    Probes: ranks 2 and 4 (the chapters pass images ``(B, 1, 28, 28)``), one example,
    float64 and float32, and predictions outside [0, 1] (a linear decoder produces
    them), so that a clamp of ``x_hat`` shows.
    """
    __tracebackhide__ = True
    name = "squared_error"
    g = torch.Generator().manual_seed(0)
    cases = [  # (shape, dtype, low and high of x_hat, what the probe is about)
        ((5, 1, 28, 28), F64, 0.0, 1.0, "images in [0, 1]"),
        ((3, 7), F64, 0.0, 1.0, "vectors of 7 numbers"),
        ((4, 2, 3, 5), F64, 0.0, 1.0, "3-D examples"),
        ((1, 1, 28, 28), F64, 0.0, 1.0, "a batch of one image"),
        ((4, 1, 28, 28), F64, -1.5, 2.5, "predictions outside [0, 1], as a linear decoder gives"),
        ((6, 1, 28, 28), F32, -0.5, 1.5, "float32 images, as in the chapters"),
    ]
    for shape, dtype, low, high, probe in cases:
        x = torch.rand(shape, generator=g, dtype=F64).to(dtype)
        x_hat = (low + (high - low) * torch.rand(shape, generator=g, dtype=F64)).to(dtype).requires_grad_()
        args = (x.clone(), x_hat)
        copies = snapshot(*args)
        out = expect_tensor(call(fn, name, *args), name)
        expect_unchanged(args, copies, ["x", "x_hat"], name)
        batch = shape[0]
        expect_shape(out, (batch,), name, f"one value per example for inputs of shape {shape}")
        expected = _reference(x, x_hat)
        d = x[0].numel()
        clamped = _reference(x, x_hat.clamp(0, 1))
        expect_values_and_gradients(
            out,
            expected,
            [x_hat],
            ["x_hat"],
            name,
            g,
            known_mistakes=[
                (expected / d, "Your values are the reference divided by the number of pixels (entries) of an example: sum, don't average."),
                (expected.sqrt(), "Your values are the square roots of the reference: the error is squared, not its norm."),
                ((x_hat - x).abs().flatten(1).sum(1), "Your values are sums of absolute differences: square each difference instead."),
                (clamped, "Your function changes x_hat where it lies outside [0, 1] (a clamp?); a linear decoder's outputs "
                          "leave [0, 1], and the error must count them as they are."),
            ],
            dtype=dtype,
            probe=probe,
            axes=("example",),
            input_axes=[_axes(shape)],
        )
    passed(name, f"shapes, values and gradients match the reference on {len(cases)} probes (ranks 2 to 4, "
                 "float64 and float32, predictions outside [0, 1])")


EXERCISES = {"squared_error": squared_error}
