"""perplexity (course_vae.metrics.perplexity), chapter 8."""

from __future__ import annotations

import math

import pytest
import torch

from course_vae.metrics import perplexity
from course_vae.metrics.perplexity import perplexity_of_counts


def test_uniform_usage_gives_k():
    for k in (1, 2, 64, 128):
        indices = torch.arange(k).repeat(3)
        assert perplexity(indices, k) == pytest.approx(k, rel=1e-12)


def test_one_code_gives_one():
    assert perplexity(torch.full((4, 7, 7), 5), 64) == pytest.approx(1.0, abs=1e-12)


def test_equals_exp_entropy_and_ignores_unused_codes():
    indices = torch.tensor([0] * 6 + [1] * 3 + [3] * 1)  # p = (0.6, 0.3, 0, 0.1)
    p = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)
    expected = math.exp(-(p * p.log()).sum().item())
    assert perplexity(indices, 4) == pytest.approx(expected, rel=1e-12)
    assert perplexity(indices, 100) == pytest.approx(expected, rel=1e-12)  # unused codes add nothing
    # uniform over m of K codes: exactly m
    assert perplexity(torch.tensor([2, 7, 9, 2, 7, 9]), 16) == pytest.approx(3.0, rel=1e-12)


def test_tensor_version_matches_and_is_between_one_and_k():
    counts = torch.tensor([5.0, 0.0, 2.0, 9.0])
    value = perplexity_of_counts(counts)
    assert value.dim() == 0 and 1.0 <= value.item() <= 4.0
    indices = torch.repeat_interleave(torch.arange(4), counts.long())
    assert value.item() == pytest.approx(perplexity(indices, 4), rel=1e-6)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="integer"):
        perplexity(torch.rand(5), 4)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        perplexity(torch.tensor([4]), 4)
