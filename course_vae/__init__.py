"""course_vae: the companion package of an executable course on (variational) autoencoders.

The chapters in ``book/`` import from here; each public function says in its docstring
which chapter teaches it.
"""

from .active_units import active_units, unit_activity
from .aggregate import RateSplit, aggregate_log_density, rate_split
from .autoencoder import AEOutput, Autoencoder
from .cavi import CAVIResult, cavi_gmm
from .classifier import DigitClassifier, classifier_loss, train_classifier
from .cvae import CVAE, ConditionedModel
from .data import binarize, load_mnist, moon_images, toy_2d
from .elbo import ELBOTerms, elbo, elbo_estimate, vae_loss
from .explorer import LatentExplorer, traversal_grid
from .fsq import FSQ
from .history import History
from .iwae import iwae_bound, log_weights, prior_estimate
from .kl import gaussian_kl, gaussian_kl_full, kl_per_dimension
from .kl_schedule import kl_weight
from .likelihoods import bernoulli_log_likelihood, gaussian_log_likelihood
from .linear_gaussian import LinearGaussian
from .losses import squared_error
from .made import MADEDecoder
from .metrics import mig, mig_report
from .nets import GaussianEncoder, conv_decoder, conv_encoder, image_decoder, image_encoder, mlp
from .pixelcnn import PixelCNNPrior
from .plotting import latent_grid, scatter_codes, show_decoded_grid, show_grid
from .priors import MixturePrior
from .quantizer import QuantizerOutput, VectorQuantizer
from .regularizers import contractive_penalty, sparsity_kl
from .renyi import renyi_bound
from .reparameterization import reparameterize
from .seeding import seed_everything
from .shapes import ShapesGrid, shapes_dataset
from .stats import mean_and_stderr
from .training import TrainingDiverged, evaluate, fit, train_epoch
from .vae import VAE, VAEOutput
from .vae_gan import VAEGAN, Discriminator, feature_nll, vae_gan_losses
from .vqvae import VQVAE, VQVAEOutput, vqvae_loss

__all__ = [
    "AEOutput",
    "Autoencoder",
    "CAVIResult",
    "CVAE",
    "ConditionedModel",
    "DigitClassifier",
    "Discriminator",
    "ELBOTerms",
    "FSQ",
    "GaussianEncoder",
    "History",
    "LatentExplorer",
    "LinearGaussian",
    "MADEDecoder",
    "MixturePrior",
    "PixelCNNPrior",
    "QuantizerOutput",
    "RateSplit",
    "ShapesGrid",
    "TrainingDiverged",
    "VAE",
    "VAEGAN",
    "VAEOutput",
    "VQVAE",
    "VQVAEOutput",
    "VectorQuantizer",
    "active_units",
    "aggregate_log_density",
    "bernoulli_log_likelihood",
    "binarize",
    "cavi_gmm",
    "classifier_loss",
    "contractive_penalty",
    "conv_decoder",
    "conv_encoder",
    "elbo",
    "elbo_estimate",
    "evaluate",
    "feature_nll",
    "fit",
    "gaussian_kl",
    "gaussian_kl_full",
    "gaussian_log_likelihood",
    "image_decoder",
    "image_encoder",
    "iwae_bound",
    "kl_per_dimension",
    "kl_weight",
    "latent_grid",
    "load_mnist",
    "log_weights",
    "mean_and_stderr",
    "mig",
    "mig_report",
    "mlp",
    "moon_images",
    "prior_estimate",
    "rate_split",
    "renyi_bound",
    "reparameterize",
    "scatter_codes",
    "seed_everything",
    "shapes_dataset",
    "show_decoded_grid",
    "show_grid",
    "sparsity_kl",
    "squared_error",
    "toy_2d",
    "train_classifier",
    "train_epoch",
    "traversal_grid",
    "unit_activity",
    "vae_gan_losses",
    "vae_loss",
    "vqvae_loss",
]
