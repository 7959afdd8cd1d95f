"""Every figure function returns a PNG that decodes, from plain arrays; names are never read as maths."""
from __future__ import annotations

import base64

import numpy as np
import pytest

from topnet.report import plots

RNG = np.random.default_rng(0)
Y = np.arange(30) % 3
PROBA = np.eye(3)[Y] * 0.6 + 0.4 * RNG.dirichlet(np.ones(3), size=30)
NAMES = ["$x^2$ cost", "a\\b", "<script>alert(1)</script>"]  # maths-looking, a backslash, markup

FIGURES = {
    "learning_curves": lambda: plots.learning_curves({NAMES[0]: {"epoch": [0, 1], "loss": [1, .5], "val_loss": [1, .6],
                                                                 "accuracy": [.5, .7], "val_accuracy": [.5, .6]}}),
    "lr_finder_curve": lambda: plots.lr_finder_curve([1e-4, 1e-3, 1e-2], [2, 1.5, 9], [2, 1.6, 4], {"valley": 1e-3}, "valley"),
    "search_history": lambda: plots.search_history([0, 1, 2], [0.5, None, 0.7], ["COMPLETE", "FAIL", "COMPLETE"], True, NAMES[0]),
    "param_importances": lambda: plots.param_importances({NAMES[0]: 0.6, NAMES[1]: 0.4}),
    "ensemble_weights": lambda: plots.ensemble_weights({"a": 0.7, NAMES[2]: 0.3}),
    "diversity_heatmap": lambda: plots.diversity_heatmap(["a", "b"], {"error_correlation": [[1, None], [None, 1]]}),
    "confusion_matrix": lambda: plots.confusion_matrix(Y, PROBA.argmax(1), NAMES),
    "reliability_diagram": lambda: plots.reliability_diagram(Y, PROBA, PROBA ** 2 / (PROBA ** 2).sum(1, keepdims=True)),
    "least_sure_images": lambda: plots.least_sure_images([RNG.random((8, 8)), RNG.random((3, 8, 8)), RNG.random((8, 8, 1))],
                                                         NAMES, NAMES[::-1], [1.0, 0.5, 0.2]),
    "predicted_vs_true": lambda: plots.predicted_vs_true(RNG.normal(size=20), RNG.normal(size=20)),
}


def test_every_figure_function_is_covered():
    assert sorted(FIGURES) == sorted(plots.__all__)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_is_a_png(name, tools):
    png = FIGURES[name]()
    pixels = tools.decode_png("data:image/png;base64," + base64.b64encode(png).decode())
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100


def test_labels_escape_dollar_signs_and_cut_long_names():
    assert plots._label("$5 & $6") == r"\$5 & \$6"
    assert plots._label("x" * 40, 10) == "x" * 9 + "…"


def test_display_accepts_channel_first_and_last():
    assert plots._display(np.ones((3, 4, 5))).shape == (4, 5, 3)
    assert plots._display(np.ones((4, 5, 3))).shape == (4, 5, 3)
    assert plots._display(np.arange(4.0).reshape(2, 2)).max() == 1.0
