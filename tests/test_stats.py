import math

import numpy as np
import pytest
import torch

from course_vae import mean_and_stderr


def test_mean_and_stderr_against_numpy():
    values = torch.randn(500, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3 + 1
    mean, stderr = mean_and_stderr(values)
    assert mean == pytest.approx(np.mean(values.numpy()), rel=1e-12)
    assert stderr == pytest.approx(np.std(values.numpy(), ddof=1) / math.sqrt(500), rel=1e-12)


def test_mean_and_stderr_takes_sequences_and_integers():
    assert mean_and_stderr([1, 2, 3, 4]) == pytest.approx((2.5, math.sqrt(5 / 3) / 2))


@pytest.mark.parametrize("bad", [torch.zeros(3, 2), torch.zeros(1), torch.tensor(1.0)])
def test_mean_and_stderr_rejects_bad_shapes(bad):
    with pytest.raises(ValueError, match="1-D with at least 2 entries"):
        mean_and_stderr(bad)
