"""The warm-up checker rejects the mistakes students make with per-example reductions,
and accepts correct solutions however they are written."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_vae.checks import warmup

from .checker_harness import assert_accepts, assert_rejects


def _float32_accumulator(x, x_hat):  # loops into torch.zeros(B), which is float32 whatever x is
    total = torch.zeros(x.shape[0])
    for i in range(x.shape[0]):
        total[i] += (x[i] - x_hat[i]).pow(2).sum()
    return total


def _in_place(x, x_hat):
    x_hat -= x
    return x_hat.pow(2).flatten(1).sum(1)


def _clamped(x, x_hat):  # "reconstructions live in [0, 1]"
    return (x - x_hat.clamp(0, 1)).pow(2).flatten(1).sum(1)


MISTAKES = {
    "squared_error": [
        # (wrong implementation, words the checker's message must contain)
        (lambda x, x_hat: (x - x_hat).pow(2).flatten(1).mean(1), ["divided by the number of pixels"]),
        (lambda x, x_hat: (x - x_hat).pow(2).sum(), ["shape ()", "one value per example"]),
        (lambda x, x_hat: (x - x_hat).pow(2).flatten(1).sum(1).mean(), ["shape ()"]),
        (lambda x, x_hat: (x - x_hat).pow(2).sum(-1), ["returned shape"]),
        (lambda x, x_hat: (x - x_hat).abs().flatten(1).sum(1), ["absolute differences"]),
        (lambda x, x_hat: (x - x_hat).flatten(1).norm(dim=1), ["square roots"]),
        (lambda x, x_hat: (x - x_hat).pow(2).flatten(1).sum(1).detach(), ["no gradient flows back to x_hat"]),
        (lambda x, x_hat: torch.tensor((x - x_hat).pow(2).flatten(1).sum(1).tolist()), ["no gradient"]),
        (lambda x, x_hat: (x - x_hat).pow(2).sum(0), ["returned shape"]),
        (lambda x, x_hat: (x - x_hat).pow(2).view(-1, 784).sum(1), ["raised RuntimeError"]),  # MNIST-only
        (lambda x, x_hat: (x - x_hat).pow(2).sum(dim=(1, 2, 3)), ["Dimension out of range", "shapes"]),  # rank 4 only
        (lambda x, x_hat: F.mse_loss(x_hat, x, reduction="sum"), ["shape ()"]),
        # new: inputs outside the comfortable range, dtypes, in-place operations
        (_clamped, ["outside [0, 1]", "clamp"]),
        (_float32_accumulator, ["float32 for float64 inputs", "compute in the input's dtype"]),
        (lambda x, x_hat: (x - x_hat).float().pow(2).flatten(1).sum(1), ["compute in the input's dtype"]),
        (lambda x, x_hat: (x.double() - x_hat.double()).pow(2).flatten(1).sum(1), ["float64 for float32 inputs"]),
        (_in_place, ["in-place"]),
        (lambda x, x_hat: (x - x_hat).pow(2).squeeze().flatten(1).sum(1), ["inputs of shape (1, 1, 28, 28)"]),  # squeeze drops B = 1
    ],
}

CORRECT = {
    "squared_error": [
        lambda x, x_hat: (x - x_hat).pow(2).flatten(start_dim=1).sum(dim=1),
        lambda x, x_hat: ((x_hat - x) ** 2).reshape(x.shape[0], -1).sum(-1),
        lambda x, x_hat: F.mse_loss(x_hat, x, reduction="none").flatten(1).sum(1),
        lambda x, x_hat: torch.stack([((a - b) ** 2).sum() for a, b in zip(x, x_hat)]),  # a loop over examples
        lambda x, x_hat: (x.double() - x_hat.double()).pow(2).flatten(1).sum(1).to(x.dtype),  # float64 inside
        lambda x, x_hat: (x - x_hat).pow(2).sum(dim=tuple(range(1, x.dim()))),
        lambda x, x_hat: torch.linalg.vector_norm((x - x_hat).flatten(1), dim=1) ** 2,
        lambda x, x_hat: torch.einsum("bi,bi->b", (x - x_hat).flatten(1), (x - x_hat).flatten(1)),
    ],
}


@pytest.mark.parametrize("wrong, words", MISTAKES["squared_error"])
def test_squared_error_checker_rejects(wrong, words):
    assert_rejects(warmup.squared_error, wrong, words)


@pytest.mark.parametrize("right", CORRECT["squared_error"])
def test_squared_error_checker_accepts_equivalent_forms(right):
    assert_accepts(warmup.squared_error, right)


def test_a_crash_in_student_code_becomes_a_failed_check():
    def crashes(x, x_hat):
        raise KeyError("oops")

    assert_rejects(warmup.squared_error, crashes, ["raised KeyError", "oops"])


def test_a_failing_gradient_hook_becomes_a_failed_check():
    def hooked(x, x_hat):
        out = (x - x_hat).pow(2).flatten(1).sum(1)
        out.register_hook(lambda grad: 1 / 0)
        return out

    assert_rejects(warmup.squared_error, hooked, ["gradient of your result cannot be computed", "ZeroDivisionError"])


def test_a_float64_result_with_float32_precision_is_told_to_compute_in_the_input_dtype():
    def float32_inside(x, x_hat):  # float32 arithmetic, cast back: right dtype, float32 precision
        return (x.float() - x_hat.float()).pow(2).flatten(1).sum(1).to(x.dtype)

    message = assert_rejects(warmup.squared_error, float32_inside, ["compute in the input's dtype", "float32 precision"])
    assert "wrong values" not in message and "wrong gradient" not in message
