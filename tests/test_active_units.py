"""Chapter 6: the activity of latent units and the count of active units (Burda et al. 2016)."""

from __future__ import annotations

import pytest
import torch

from course_vae.active_units import active_units, unit_activity

D64 = torch.float64


def test_activity_is_the_variance_over_examples_of_each_posterior_mean():
    g = torch.Generator().manual_seed(0)
    scales = torch.tensor([0.0, 0.05, 0.2, 1.0, 3.0], dtype=D64)
    mu = torch.randn(4000, 5, generator=g, dtype=D64) * scales + 7.0  # an offset changes no variance
    activity = unit_activity(mu)
    assert activity.shape == (5,) and activity.dtype == D64
    centred = mu - mu.mean(dim=0)
    torch.testing.assert_close(activity, centred.pow(2).mean(dim=0))  # population variance
    torch.testing.assert_close(activity, scales.pow(2), rtol=0.1, atol=1e-12)
    assert activity[0] == 0


def test_active_units_counts_activities_strictly_above_the_threshold():
    # Column u takes the values +-a_u, so its population variance is exactly a_u^2.
    a = torch.tensor([0.0, 0.05, 0.1, 0.5, 2.0], dtype=D64)
    mu = torch.stack([a, -a]).repeat(10, 1)
    torch.testing.assert_close(unit_activity(mu), a.pow(2))
    assert active_units(mu) == 3  # 0.1^2 rounds to just above 0.01 in float64
    at = unit_activity(mu)[2].item()
    assert active_units(mu, threshold=at) == 2  # an activity equal to the threshold is not active
    assert active_units(mu, threshold=torch.nextafter(torch.tensor(at, dtype=D64), torch.tensor(0.0, dtype=D64)).item()) == 3
    assert active_units(mu, threshold=0.0) == 4
    assert active_units(mu, threshold=10.0) == 0
    assert isinstance(active_units(mu), int)


def test_a_unit_that_ignores_the_input_is_inactive_whatever_its_scale():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(500, 1, generator=g)
    mu = torch.cat([x, torch.full_like(x, 3.0), 0.001 * x], dim=1)
    assert active_units(mu) == 1


@pytest.mark.parametrize("mu, match", [
    (torch.zeros(5), r"shape \(N, d\)"),
    (torch.zeros(2, 3, 4), r"shape \(N, d\)"),
    ([[0.0, 1.0]], r"shape \(N, d\)"),
    (torch.zeros(1, 3), "N >= 2"),
])
def test_bad_means_are_rejected(mu, match):
    with pytest.raises(ValueError, match=match):
        active_units(mu)
    with pytest.raises(ValueError, match=match):
        unit_activity(mu)


@pytest.mark.parametrize("threshold", [-0.01, float("nan"), float("inf"), "0.01", None, True])
def test_bad_thresholds_are_rejected(threshold):
    with pytest.raises(ValueError, match="threshold must be a finite number >= 0"):
        active_units(torch.zeros(3, 2), threshold=threshold)
