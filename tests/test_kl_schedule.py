"""Chapter 6: the KL weight schedules (linear warm-up, cyclical annealing of Fu et al. 2019)."""

from __future__ import annotations

import numpy as np
import pytest

from course_vae.kl_schedule import kl_weight


def _curve(total, **kwargs):
    return np.array([kl_weight(t, total, **kwargs) for t in range(total)])


def test_linear_warm_up_rises_over_the_first_ratio_of_all_steps():
    beta = _curve(100, kind="linear", ratio=0.5)
    np.testing.assert_allclose(beta[:51], np.arange(51) / 50)
    assert beta[0] == 0.0 and np.all(beta[50:] == 1.0)
    assert np.all(_curve(10, kind="linear", ratio=1.0) == np.arange(10) / 10)
    assert all(isinstance(kl_weight(t, 7), float) for t in range(7))


def test_cyclical_schedule_of_fu_et_al():
    # 400 steps, M = 4 cycles of 100 steps, R = 0.5: ramps 0 -> 1 over 50 steps, then 50 at 1.
    beta = _curve(400, kind="cyclical", cycles=4, ratio=0.5)
    one_cycle = np.minimum(1.0, np.arange(100) / 50)
    np.testing.assert_allclose(beta, np.tile(one_cycle, 4))
    assert [t for t in range(400) if beta[t] == 0.0] == [0, 100, 200, 300]
    assert beta.min() == 0.0 and beta.max() == 1.0
    # ratio 1: the whole cycle rises; one cycle is the linear warm-up
    np.testing.assert_allclose(_curve(12, kind="cyclical", cycles=3, ratio=1.0), np.tile(np.arange(4) / 4, 3))
    np.testing.assert_array_equal(_curve(37, kind="cyclical", cycles=1, ratio=0.3), _curve(37, kind="linear", ratio=0.3))


def test_cycles_of_unequal_length_each_start_at_zero():
    total, cycles = 10, 4  # cycles of 3, 2, 3, 2 steps (c = floor(t * 4 / 10))
    beta = _curve(total, kind="cyclical", cycles=cycles, ratio=0.5)
    assert [t for t in range(total) if beta[t] == 0.0] == [0, 3, 5, 8]
    np.testing.assert_allclose(beta, [0, 2 / 3, 1, 0, 1, 0, 2 / 3, 1, 0, 1])
    beta = _curve(101, kind="cyclical", cycles=4, ratio=0.5)
    assert int((beta == 0.0).sum()) == 4 and np.all((beta >= 0) & (beta <= 1))
    assert np.all(_curve(5, kind="cyclical", cycles=5) == 0.0)  # one step per cycle


def test_constant_is_the_elbo():
    assert np.all(_curve(9, kind="constant") == 1.0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(step=0, total_steps=10, kind="cosine"), r"kind must be one of \('linear', 'cyclical', 'constant'\)"),
    (dict(step=10, total_steps=10), "0-based and must be < total_steps = 10"),
    (dict(step=-1, total_steps=10), "step must be an integer >= 0"),
    (dict(step=1.5, total_steps=10), "step must be an integer >= 0"),
    (dict(step=0, total_steps=0), "total_steps must be an integer >= 1"),
    (dict(step=0, total_steps=10.0), "total_steps must be an integer >= 1"),
    (dict(step=0, total_steps=10, cycles=0), "cycles must be an integer >= 1"),
    (dict(step=0, total_steps=10, cycles=11), "cycles must be between 1 and total_steps = 10"),
    (dict(step=0, total_steps=10, ratio=0.0), r"ratio must be a number in \(0, 1\]"),
    (dict(step=0, total_steps=10, ratio=1.5), r"ratio must be a number in \(0, 1\]"),
    (dict(step=0, total_steps=10, ratio=float("nan")), r"ratio must be a number in \(0, 1\]"),
])
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kl_weight(**kwargs)


def test_numpy_integers_are_accepted():
    assert kl_weight(np.int64(25), np.int64(100)) == 0.5
