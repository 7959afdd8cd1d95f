"""Uncertainty: MC dropout predictions (``mc_predict``) and their masks (``sampled_dropout``)."""
from topnet.uncertainty.mc_dropout import MCResult, mc_predict, sampled_dropout

__all__ = ["MCResult", "mc_predict", "sampled_dropout"]
