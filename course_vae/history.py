"""A record of training: per-epoch averages of every loss term, and a plot of them."""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

SPLITS = ("train", "val")


@dataclass
class History:
    """Per-epoch averages of the named terms that a loss function returns.

    ``history.train["loss"][e]`` is the average training loss in epoch ``e + 1`` (each
    batch weighted by its size); ``history.val`` holds the same for the validation data,
    when there are any. ``history.seconds[e]`` is the wall-clock time since the start of
    training at the end of epoch ``e + 1``. Returned by :func:`course_vae.fit`.
    """

    train: dict[str, list[float]] = field(default_factory=dict)
    val: dict[str, list[float]] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.seconds)

    def append(self, split: str, terms: dict[str, float]) -> None:
        """Add one epoch's averages for ``split`` (``"train"`` or ``"val"``)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        record = self.train if split == "train" else self.val
        for name, value in terms.items():
            record.setdefault(name, []).append(float(value))

    def last(self, split: str = "train") -> dict[str, float]:
        """The final epoch's averages of ``split``, e.g. ``{"loss": 101.2, "kl": 24.9}``."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        record = self.train if split == "train" else self.val
        return {name: values[-1] for name, values in record.items() if values}

    def plot(self, ax: Axes | None = None, terms: list[str] | None = None) -> Axes:
        """Plot the chosen terms (default: all) against the epoch.

        Training curves are solid, validation curves dashed in the same colour.

        Args:
            ax: axes to draw on; a new figure if None.
            terms: names of the terms to draw, e.g. ``["recon", "kl"]``.

        Returns:
            The axes drawn on.
        """
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        names = list(self.train) if terms is None else list(terms)
        unknown = [n for n in names if n not in self.train]
        if unknown:
            raise ValueError(f"unknown terms {unknown}; this history has {list(self.train)}")
        for i, name in enumerate(names):
            color = f"C{i}"
            epochs = range(1, len(self.train[name]) + 1)
            ax.plot(epochs, self.train[name], color=color, marker=".", label=f"train {name}")
            if name in self.val:
                ax.plot(epochs, self.val[name], color=color, ls="--", marker=".", label=f"validation {name}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("average per example")
        ax.set_title("Training history")
        ax.legend()
        return ax

    def __repr__(self) -> str:
        parts = [f"History({self.epochs} epochs"]
        for split in SPLITS:
            last = self.last(split)
            if last:
                parts.append(f"{split}: " + ", ".join(f"{k}={v:.4g}" for k, v in last.items()))
        return "; ".join(parts) + ")"
