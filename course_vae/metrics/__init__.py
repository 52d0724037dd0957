"""Metrics, one per file, each a pure function on arrays: disentanglement (chapter 5), code usage (chapter 8), sample quality (chapter 9)."""

from .code_usage import code_usage, dead_codes
from .frechet import frechet_distance, gaussian_frechet_distance, trace_sqrt_product
from .mig import MIGReport, discretize, factor_entropies, mig, mig_report, mutual_information_matrix
from .perplexity import perplexity
from .sharpness import laplacian, sharpness

__all__ = ["MIGReport", "code_usage", "dead_codes", "discretize", "factor_entropies", "frechet_distance", "gaussian_frechet_distance", "laplacian", "mig", "mig_report", "mutual_information_matrix", "perplexity", "sharpness", "trace_sqrt_product"]
