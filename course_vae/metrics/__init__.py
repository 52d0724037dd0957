"""Disentanglement metrics, one per file, each a pure function on arrays. Chapter 5."""

from .mig import MIGReport, discretize, factor_entropies, mig, mig_report, mutual_information_matrix

__all__ = ["MIGReport", "discretize", "factor_entropies", "mig", "mig_report", "mutual_information_matrix"]
