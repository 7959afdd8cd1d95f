"""The shared monitor logic: direction, improvement, and the missing-monitor error."""
import math

import pytest

from topnet.callbacks._monitor import Monitor, get_monitor_value, resolve_mode


@pytest.mark.parametrize("name, mode", [
    ("loss", "min"), ("val_loss", "min"), ("price_loss", "min"), ("val_acc_head_loss", "min"),
    ("accuracy", "max"), ("val_accuracy", "max"), ("val_sparse_categorical_accuracy", "max"),
    ("val_acc", "max"), ("auc", "max"), ("val_precision", "max"), ("recall", "max"),
    ("f1_score", "max"), ("r2_score", "max"), ("mean_iou", "max"), ("top_5_accuracy", "max"),
    ("val_mae", "min"), ("mean_squared_error", "min"), ("val_rmse", "min"),
    ("categorical_crossentropy", "min"), ("val_ece", "min"), ("brier", "min"),
])
def test_auto_mode_follows_the_metric_name(name, mode):
    assert resolve_mode(name, "auto") == mode


def test_explicit_mode_wins_and_bad_modes_are_errors():
    assert resolve_mode("val_accuracy", "min") == "min"
    with pytest.raises(ValueError, match="unknown EarlyStopping mode 'maximum'.*did you mean 'max'"):
        resolve_mode("val_loss", "maximum", owner="EarlyStopping")
    with pytest.raises(ValueError, match="mode='max'"):
        resolve_mode("val_widgets", "auto")


def test_missing_monitor_names_what_is_there_and_the_nearest():
    logs = {"loss": 0.5, "val_loss": 0.6, "val_accuracy": 0.7}
    with pytest.raises(ValueError) as error:
        get_monitor_value(logs, "val_acc", owner="EarlyStopping")
    assert str(error.value) == ("EarlyStopping: monitor='val_acc' is not in the logs; available: "
                                "['loss', 'val_loss', 'val_accuracy']; did you mean 'val_accuracy'?")
    with pytest.raises(ValueError, match="validation data"):
        get_monitor_value({"loss": 0.5}, "val_zzz")
    assert get_monitor_value(logs, "val_loss") == 0.6


def test_improvement_is_strict_and_beyond_min_delta():
    # min_delta = 0.125 is exact in binary, so the boundary case is exact too.
    low = Monitor("val_loss", min_delta=-0.125)  # the sign of min_delta is ignored, as in Keras
    assert low.min_delta == 0.125
    assert low.is_improvement(1.0, None)
    assert not low.is_improvement(0.875, 1.0)      # an improvement of exactly min_delta does not count
    assert low.is_improvement(0.75, 1.0)
    high = Monitor("val_accuracy", min_delta=0.125)
    assert not high.is_improvement(0.625, 0.5) and high.is_improvement(0.75, 0.5)
    assert not low.is_improvement(math.nan, 1.0) and not low.is_improvement(math.nan, None)
    assert low.worst == math.inf and high.worst == -math.inf


def test_bad_arguments():
    with pytest.raises(TypeError):
        Monitor("")
    with pytest.raises(ValueError):
        Monitor("loss", min_delta=math.inf)
