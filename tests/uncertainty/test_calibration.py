"""Calibration metrics against hand computations; temperature scaling against a grid search."""
from __future__ import annotations

import math

import numpy as np
import pytest

from topnet.uncertainty.calibration import (TemperatureScaling, brier_score, calibration_metrics,
                                            expected_calibration_error, nll, reliability_diagram)

P = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3], [0.5, 0.45, 0.05]])
Y = np.array([0, 2, 0, 1])


def test_nll_by_hand():
    expected = -(math.log(0.7) + math.log(0.8) + math.log(0.3) + math.log(0.45)) / 4
    assert nll(P, Y) == pytest.approx(expected, abs=1e-12)


def test_nll_clips_a_zero_probability():
    assert nll(np.array([[1.0, 0.0]]), np.array([1])) == pytest.approx(-math.log(1e-15))


def test_brier_by_hand():
    rows = [0.3**2 + 0.2**2 + 0.1**2, 0.1**2 + 0.1**2 + 0.2**2, 0.7**2 + 0.4**2 + 0.3**2, 0.5**2 + 0.55**2 + 0.05**2]
    assert brier_score(P, Y) == pytest.approx(sum(rows) / 4, abs=1e-12)


def test_ece_by_hand_with_five_bins():
    # confidences 0.7, 0.8, 0.4, 0.5 -> bins (0.6,0.8]: {0.7 right, 0.8 right}; (0.2,0.4]: {0.4 wrong};
    # (0.4,0.6]: {0.5 wrong}. ECE = (2 * |1 - 0.75| + |0 - 0.4| + |0 - 0.5|) / 4
    assert expected_calibration_error(P, Y, num_bins=5) == pytest.approx((2 * 0.25 + 0.4 + 0.5) / 4, abs=1e-12)


def test_reliability_diagram_bins():
    diagram = reliability_diagram(P, Y, num_bins=5)
    assert diagram["count"].tolist() == [0, 1, 1, 2, 0]
    assert diagram["accuracy"][3] == 1.0 and diagram["confidence"][3] == pytest.approx(0.75)
    assert np.isnan(diagram["accuracy"][0]) and diagram["edges"].tolist() == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])


def test_perfectly_calibrated_buckets_give_zero_ece():
    p = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(p, np.array([0, 0, 0, 1])) == pytest.approx(0.0)


def test_calibration_metrics_bundle():
    metrics = calibration_metrics(P, Y, num_bins=5)
    assert metrics["accuracy"] == 0.5 and metrics["nll"] == pytest.approx(nll(P, Y))


@pytest.mark.parametrize("bad", [np.ones(3), np.ones((2, 2, 2))])
def test_bad_shapes_are_refused(bad):
    with pytest.raises(ValueError, match="probabilities"):
        nll(bad, np.array([0, 1]))


def test_labels_out_of_range_are_refused():
    with pytest.raises(ValueError, match=r"ids in \[0, 3\)"):
        brier_score(P, np.array([0, 1, 2, 3]))


def _miscalibrated(scale: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, 2000)
    logits = 2.0 * np.eye(4)[y] + rng.normal(size=(2000, 4))  # calibrated at temperature 1
    return scale * logits, y


@pytest.mark.parametrize("scale, above_one", [(4.0, True), (0.3, False)])
def test_temperature_scaling_lowers_nll(scale, above_one):
    logits, y = _miscalibrated(scale)
    scaler = TemperatureScaling().fit(logits, y)
    assert (scaler.temperature_ > 1.0) == above_one
    before = nll(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), y)
    after = nll(scaler.transform(logits), y)
    assert after < before - 0.01 and scaler.nll_after_ == pytest.approx(after, abs=1e-9)
    assert (scaler.transform(logits).argmax(1) == logits.argmax(1)).all()  # the class never changes


def test_temperature_matches_a_grid_search():
    logits, y = _miscalibrated(3.0)
    temperatures = np.linspace(0.5, 6.0, 1101)  # step 0.005
    best = temperatures[int(np.argmin([nll(_scaled(logits, t), y) for t in temperatures]))]
    assert TemperatureScaling().fit(logits, y).temperature_ == pytest.approx(best, abs=5e-3)


def _scaled(logits, temperature):
    z = logits / temperature
    z = z - z.max(1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(1, keepdims=True)


def test_temperature_needs_fit_and_valid_bounds():
    with pytest.raises(ValueError, match="not fitted"):
        TemperatureScaling().transform(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="bounds"):
        TemperatureScaling(bounds=(2.0, 1.0)).fit(np.zeros((2, 2)), np.array([0, 1]))
