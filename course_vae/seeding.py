"""Reproducibility: one call seeds every random number generator the course uses."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch, ask for deterministic algorithms, use one thread.

    Every chapter calls this once at the top, and :func:`course_vae.fit` calls it at
    the start of training, so the same seed gives the same numbers on every run. It
    also sets PyTorch to one CPU thread (``torch.set_num_threads(1)``): with several
    threads, a sum is split differently on a machine with a different number of cores,
    and the last digits of the chapters' numbers (and, through training, their later
    digits) would depend on the reader's laptop. The course's small models lose little
    speed on one thread, and CI runs notebooks side by side, one thread each. Call
    ``torch.set_num_threads(n)`` afterwards to use more. Taught in: the introduction
    (how to run the course).

    Args:
        seed: a non-negative integer below 2**32.

    Returns:
        A fresh ``torch.Generator`` seeded with ``seed``, for code that prefers an
        explicit generator to the global one.

    Raises:
        ValueError: if ``seed`` is not an integer in [0, 2**32).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r} ({type(seed).__name__})")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device, should there be one
    # Deterministic kernels where PyTorch has them; warn (not fail) where it has none.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.set_num_threads(1)  # the same summation order on every machine (see above)
    return torch.Generator().manual_seed(seed)
