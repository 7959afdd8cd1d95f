"""Diversity measures against hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest

from topnet.ensemble import disagreement, diversity_table, error_correlation, plot_diversity, select_diverse, yules_q

Y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
A = np.eye(3)[[0, 1, 2, 0, 1, 0, 1, 1]]  # wrong on rows 5, 6
B = np.eye(3)[[0, 1, 2, 1, 1, 2, 1, 2]]  # wrong on rows 3, 6, 7


def test_disagreement_by_hand():
    # predicted A: 0 1 2 0 1 0 1 1 ; B: 0 1 2 1 1 2 1 2 -> they differ on rows 3, 5 and 7
    assert disagreement(A, B) == 3 / 8


def test_yules_q_by_hand():
    # right A: 1 1 1 1 1 0 0 1 ; right B: 1 1 1 0 1 1 0 0
    n11, n00, n10, n01 = 4, 1, 2, 1
    assert yules_q(A, B, Y) == pytest.approx((n11 * n00 - n01 * n10) / (n11 * n00 + n01 * n10))


def test_error_correlation_by_hand():
    ea, eb = np.array([0, 0, 0, 0, 0, 1, 1, 0.0]), np.array([0, 0, 0, 1, 0, 0, 1, 1.0])
    ma, mb = ea.mean(), eb.mean()
    expected = ((ea - ma) * (eb - mb)).sum() / math.sqrt(((ea - ma) ** 2).sum() * ((eb - mb) ** 2).sum())
    assert error_correlation(A, B, Y) == pytest.approx(expected)
    assert error_correlation(A, B, Y) == pytest.approx(np.corrcoef(ea, eb)[0, 1])


def test_regression_error_correlation_uses_residuals():
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    a, b = y + rng.normal(size=50), y + rng.normal(size=50)
    assert error_correlation(a, b, y, task="regression") == pytest.approx(np.corrcoef(a - y, b - y)[0, 1])


def test_undefined_measures_are_nan():
    perfect = np.eye(3)[Y]
    assert math.isnan(error_correlation(perfect, A, Y)) and math.isnan(yules_q(perfect, perfect, Y))


def test_table_is_symmetric_with_identity_diagonal():
    table = diversity_table({"a": A, "b": B, "c": 0.5 * A + 0.5 * B}, Y)
    for name, matrix in table.measures.items():
        np.testing.assert_allclose(matrix, matrix.T, err_msg=name)
    assert np.diag(table.measures["disagreement"]).tolist() == [0, 0, 0]
    np.testing.assert_allclose(np.diag(table.measures["error_correlation"]), 1.0)
    assert "yules_q" in table.to_text() and table.to_dict()["names"] == ["a", "b", "c"]


def test_regression_table_has_only_error_correlation():
    y = np.arange(5.0)
    table = diversity_table({"a": y + [0, 1, 0, 1, 0], "b": y + [1, 0, 1, 0, 2]}, y, task="regression")
    assert list(table.measures) == ["error_correlation"] and table.losses["a"] == pytest.approx(0.4)


def test_heat_map_is_a_png(tmp_path):
    path = plot_diversity(diversity_table({"a": A, "b": B}, Y), tmp_path / "diversity.png", measure="yules_q")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="measure"):
        plot_diversity(diversity_table({"a": A}, Y), tmp_path / "x.png", measure="kappa")


def test_select_diverse_skips_a_near_copy():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    base = 3.0 * np.eye(3)[y] + rng.normal(size=(300, 3))
    softmax = lambda z: np.exp(z) / np.exp(z).sum(1, keepdims=True)  # noqa: E731
    members = {"best": softmax(base), "copy": softmax(0.9 * base),  # the same errors, nearly as good
               "different": softmax(2.0 * np.eye(3)[y] + rng.normal(size=(300, 3)))}
    losses = diversity_table(members, y).losses
    assert losses["best"] < losses["copy"] < losses["different"]
    assert select_diverse(members, y, 2) == ["best", "different"]
    assert select_diverse(members, y, 2, tradeoff=0.0) == ["best", "copy"]  # by loss alone
    with pytest.raises(ValueError, match="num_members"):
        select_diverse(members, y, 4)
