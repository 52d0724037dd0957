"""Schedules for the weight of the KL term during training. Taught in chapter 6."""

from __future__ import annotations

import math
from numbers import Integral

KINDS = ("linear", "cyclical", "constant")


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def kl_weight(step: int, total_steps: int, kind: str = "linear", cycles: int = 4, ratio: float = 0.5) -> float:
    """The weight ``beta`` of the KL term at training step ``step``: a number in ``[0, 1]``.

    - ``"linear"`` (KL warm-up): ``beta`` rises linearly from 0 at step 0 to 1 at step
      ``ratio * total_steps`` and stays 1 afterwards:
      ``beta = min(1, step / (ratio * total_steps))``. Bowman et al. (2016) introduced
      KL annealing with a sigmoid-shaped rise; the linear ramp is the monotonic
      schedule of Fu et al. (2019), their cyclical schedule with one cycle.
    - ``"cyclical"`` (Fu et al. 2019): the steps are split into ``cycles`` cycles of
      (nearly) equal length; in each, ``beta`` rises linearly from 0 at the cycle's
      first step to 1 after a fraction ``ratio`` of the cycle, and stays 1 for the rest:
      ``beta = min(1, (step - start) / (ratio * length))``. Cycle ``c`` (0-based) holds
      the steps with ``floor(step * cycles / total_steps) == c``; when ``total_steps`` is
      a multiple of ``cycles`` every cycle has ``total_steps / cycles`` steps, as in Fu
      et al. ``"linear"`` is the cyclical schedule with one cycle.
    - ``"constant"``: ``beta = 1`` at every step (the ELBO).

    ``beta`` is exactly 0 at step 0 and (cyclical) at the first step of every cycle.
    :func:`course_vae.fit` passes ``step`` and ``total_steps`` to a loss function that
    asks for them. Taught in chapter 6.

    Args:
        step: the 0-based index of the training step, ``0 <= step < total_steps``.
        total_steps: the number of steps of the whole training run, ``>= 1``.
        kind: ``"linear"``, ``"cyclical"`` or ``"constant"``.
        cycles: the number of cycles ``M`` (cyclical only), ``1 <= cycles <= total_steps``.
        ratio: the fraction ``R`` of each cycle (or, for ``"linear"``, of all steps)
            spent rising, ``0 < ratio <= 1``.

    Returns:
        ``beta``, a Python float in ``[0, 1]``.

    Raises:
        ValueError: for an unknown ``kind``, a ``step`` outside ``[0, total_steps)``, a
            non-positive ``total_steps``, ``cycles`` outside ``[1, total_steps]`` or
            ``ratio`` outside ``(0, 1]``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    total_steps = _check_int("total_steps", total_steps, 1)
    step = _check_int("step", step, 0)
    if step >= total_steps:
        raise ValueError(f"step is 0-based and must be < total_steps = {total_steps}, got {step}")
    cycles = _check_int("cycles", cycles, 1)
    if cycles > total_steps:
        raise ValueError(f"cycles must be between 1 and total_steps = {total_steps} (each cycle needs a step), got {cycles}")
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not (math.isfinite(ratio) and 0 < ratio <= 1):
        raise ValueError(f"ratio must be a number in (0, 1] (the rising fraction of a cycle), got {ratio!r}")
    if kind == "constant":
        return 1.0
    if kind == "linear":
        cycles = 1
    cycle = step * cycles // total_steps
    start = -(-cycle * total_steps // cycles)  # ceil(cycle * total_steps / cycles): the cycle's first step
    end = -(-(cycle + 1) * total_steps // cycles)
    return min(1.0, (step - start) / (ratio * (end - start)))
