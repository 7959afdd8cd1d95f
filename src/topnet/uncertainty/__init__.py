"""Uncertainty: MC dropout predictions (``mc_predict``) and their masks (``sampled_dropout``);
calibration metrics (ECE, NLL, Brier, reliability) and temperature scaling."""
from topnet.uncertainty.calibration import (
    TemperatureScaling,
    brier_score,
    calibration_metrics,
    expected_calibration_error,
    nll,
    reliability_diagram,
)
from topnet.uncertainty.mc_dropout import MCResult, mc_predict, sampled_dropout

__all__ = ["MCResult", "mc_predict", "sampled_dropout", "TemperatureScaling", "brier_score",
           "calibration_metrics", "expected_calibration_error", "nll", "reliability_diagram"]
