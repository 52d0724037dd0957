"""code_usage and dead_codes (course_vae.metrics.code_usage), chapter 8."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_vae.metrics import code_usage, dead_codes


def test_counts_every_entry_of_any_shape():
    grid = torch.tensor([[[0, 2], [2, 2]], [[4, 0], [2, 4]]])  # (B=2, H=2, W=2)
    counts = code_usage(grid, 6)
    assert counts.dtype == torch.int64 and counts.tolist() == [2, 0, 4, 0, 2, 0]
    assert counts.sum() == grid.numel()
    assert dead_codes(grid, 6) == 3
    assert dead_codes(grid, 5) == 2


def test_all_used_and_one_used():
    assert dead_codes(torch.arange(10), 10) == 0
    assert dead_codes(torch.full((7, 7), 3), 128) == 127
    assert code_usage(np.array([1, 1, 0]), 2).tolist() == [1, 2]  # arrays work too


@pytest.mark.parametrize("indices, num_codes, match", [
    (torch.tensor([0.0, 1.0]), 4, "integer"),
    (torch.tensor([True, False]), 4, "integer"),
    (torch.tensor([0, 4]), 4, r"\[0, 4\)"),
    (torch.tensor([-1, 0]), 4, r"\[0, 4\)"),
    (torch.zeros(0, dtype=torch.long), 4, "empty"),
    (torch.tensor([0]), 0, "num_codes"),
    (torch.tensor([0]), 2.0, "num_codes"),
])
def test_bad_inputs_are_named(indices, num_codes, match):
    with pytest.raises(ValueError, match=match):
        code_usage(indices, num_codes)
    with pytest.raises(ValueError, match=match):
        dead_codes(indices, num_codes)
