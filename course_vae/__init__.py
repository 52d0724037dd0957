"""course_vae: the companion package of an executable course on (variational) autoencoders.

The chapters in ``book/`` import from here; each public function says in its docstring
which chapter teaches it.
"""

from .autoencoder import AEOutput, Autoencoder
from .data import binarize, load_mnist, toy_2d
from .history import History
from .kl import gaussian_kl, gaussian_kl_full
from .likelihoods import bernoulli_log_likelihood, gaussian_log_likelihood
from .linear_gaussian import LinearGaussian
from .losses import squared_error
from .nets import GaussianEncoder, image_decoder, image_encoder, mlp
from .plotting import latent_grid, scatter_codes, show_grid
from .regularizers import contractive_penalty, sparsity_kl
from .reparameterization import reparameterize
from .seeding import seed_everything
from .training import TrainingDiverged, evaluate, fit, train_epoch

__all__ = [
    "AEOutput",
    "Autoencoder",
    "GaussianEncoder",
    "History",
    "LinearGaussian",
    "TrainingDiverged",
    "bernoulli_log_likelihood",
    "binarize",
    "contractive_penalty",
    "evaluate",
    "fit",
    "gaussian_kl",
    "gaussian_kl_full",
    "gaussian_log_likelihood",
    "image_decoder",
    "image_encoder",
    "latent_grid",
    "load_mnist",
    "mlp",
    "reparameterize",
    "scatter_codes",
    "seed_everything",
    "show_grid",
    "sparsity_kl",
    "squared_error",
    "toy_2d",
    "train_epoch",
]
