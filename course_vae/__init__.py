"""course_vae: the companion package of an executable course on (variational) autoencoders.

The chapters in ``book/`` import from here; each public function says in its docstring
which chapter teaches it.
"""

from .data import binarize, load_mnist
from .history import History
from .nets import mlp
from .plotting import show_grid
from .seeding import seed_everything
from .training import TrainingDiverged, evaluate, fit, train_epoch

__all__ = [
    "History",
    "TrainingDiverged",
    "binarize",
    "evaluate",
    "fit",
    "load_mnist",
    "mlp",
    "seed_everything",
    "show_grid",
    "train_epoch",
]
