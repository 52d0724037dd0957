"""Reproducibility: one call seeds every random number generator the course uses."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch, and ask PyTorch for deterministic algorithms.

    Every chapter calls this once at the top, and :func:`course_vae.fit` calls it at
    the start of training, so the same seed gives the same numbers on every run on the
    same machine. Taught in: the introduction (how to run the course).

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
    return torch.Generator().manual_seed(seed)
