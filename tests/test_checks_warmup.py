"""The warm-up checker rejects the mistakes students make with per-example reductions."""

from __future__ import annotations

import pytest
import torch

from course_vae.checks import warmup

from .checker_harness import assert_rejects

MISTAKES = {
    "squared_error": [
        # (wrong implementation, words the checker's message must contain)
        (lambda x, x_hat: (x - x_hat).pow(2).flatten(1).mean(1), ["divided by the number of pixels"]),
        (lambda x, x_hat: (x - x_hat).pow(2).sum(), ["shape ()", "one value per example"]),
        (lambda x, x_hat: (x - x_hat).pow(2).flatten(1).sum(1).mean(), ["shape ()"]),
        (lambda x, x_hat: (x - x_hat).pow(2).sum(-1), ["returned shape"]),
        (lambda x, x_hat: (x - x_hat).abs().flatten(1).sum(1), ["wrong values"]),
        (lambda x, x_hat: (x - x_hat).flatten(1).norm(dim=1), ["square roots"]),
        (lambda x, x_hat: (x - x_hat).pow(2).flatten(1).sum(1).detach(), ["no gradient flows back to x_hat"]),
        (lambda x, x_hat: torch.tensor((x - x_hat).pow(2).flatten(1).sum(1).tolist()), ["no gradient"]),
        (lambda x, x_hat: (x - x_hat).pow(2).sum(0), ["returned shape"]),
        (lambda x, x_hat: (x - x_hat).pow(2).view(-1, 784).sum(1), ["raised RuntimeError"]),  # MNIST-only
    ],
}


@pytest.mark.parametrize("wrong, words", MISTAKES["squared_error"])
def test_squared_error_checker_rejects(wrong, words):
    assert_rejects(warmup.squared_error, wrong, words)


def test_squared_error_checker_accepts_equivalent_forms(capsys):
    warmup.squared_error(lambda x, x_hat: ((x_hat - x) ** 2).reshape(x.shape[0], -1).sum(-1))
    warmup.squared_error(lambda x, x_hat: torch.nn.functional.mse_loss(x_hat, x, reduction="none").flatten(1).sum(1))
    assert capsys.readouterr().out.count("✓") == 2


def test_a_crash_in_student_code_becomes_a_failed_check():
    def crashes(x, x_hat):
        raise KeyError("oops")

    assert_rejects(warmup.squared_error, crashes, ["raised KeyError", "oops"])
