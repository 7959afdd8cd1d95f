"""read_run tolerates missing and damaged parts; redact_url hides passwords."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from topnet.report.schema import JSON_FILES, read_run, redact, redact_url


@pytest.mark.parametrize("text, expected", [
    ("postgresql://user:pass@host/db", "postgresql://user:***@host/db"),
    ("postgresql+psycopg2://u:p%40ss@h:5432/db", "postgresql+psycopg2://u:***@h:5432/db"),
    ("mysql://:only-password@h/db", "mysql://:***@h/db"),
    ("redis://h:6379/0", "redis://h:6379/0"),  # a port is not a password
    ("sqlite:///runs/a/study.db", "sqlite:///runs/a/study.db"),
    ("postgresql://h/db?user=u&password=secret&sslmode=require", "postgresql://h/db?user=u&password=***&sslmode=require"),
    ("two: a://x:1@h and b://y:2@k", "two: a://x:***@h and b://y:***@k"),
])
def test_redact_url(text, expected):
    assert redact_url(text) == expected


def test_redact_walks_nested_values_and_keys():
    document = {"storage": "postgresql://u:p@h/db", "argv": ["--storage", "postgresql://u:p@h/db"],
                "postgresql://u:p@h/db": 1, "seed": 3}
    redacted = json.dumps(redact(document))
    assert ":p@" not in redacted and redacted.count("u:***@") == 3 and '"seed": 3' in redacted


def test_full_run_reads_every_part(tools, tmp_path):
    run = read_run(tools.write_image_run(tmp_path))
    assert not run.notes, run.notes
    assert sorted(run.histories) == ["resnet_a", "xception_b"]
    assert run.histories["resnet_a"]["val_loss"].shape == (6,)
    assert run.task == "classification" and run.class_names[1] == tools.EVIL_CLASS
    assert run.predictions["proba"].shape == (60, 3)


def test_missing_parts_become_notes(tools, tmp_path):
    run = read_run(tools.write_partial_run(tmp_path))
    assert run.config is not None and run.metrics is not None and list(run.histories) == ["base"]
    assert {run.notes[name] for name in JSON_FILES if name not in ("config.json", "metrics.json")} == {"missing"}
    assert run.notes["predictions/test.npz"] == "missing"
    assert run.class_names == []


def test_damaged_parts_become_notes(tools, tmp_path):
    tools.write_image_run(tmp_path)
    (tmp_path / "tune.json").write_text("{not json")
    (tmp_path / "models.json").write_text("[1, 2]")
    np.savez(tmp_path / "predictions" / "test.npz", y_true=np.zeros(5), proba=np.zeros((4, 3)))
    run = read_run(tmp_path)
    assert run.tune is None and "could not be read" in run.notes["tune.json"]
    assert run.models is None and "expected a JSON object" in run.notes["models.json"]
    assert run.predictions is None and "5 y_true rows" in run.notes["predictions/test.npz"]


def test_pickled_arrays_are_refused(tools, tmp_path):
    tools.write_partial_run(tmp_path)
    (tmp_path / "predictions").mkdir()
    np.savez(tmp_path / "predictions" / "test.npz", y_true=np.array([{"a": 1}], dtype=object))
    run = read_run(tmp_path)
    assert run.predictions is None and "pickle" in run.notes["predictions/test.npz"].lower()


def test_topnet_train_history_csv_and_na_cells(tmp_path):
    (tmp_path / "history.csv").write_text("epoch,loss,val_loss\n0,1.0,NA\n1,0.5,0.6\n")
    run = read_run(tmp_path)
    assert list(run.histories) == ["model"] and math.isnan(run.histories["model"]["val_loss"][0])


def test_regression_task_is_inferred_without_dataset_json(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"test": {"mse": 0.25, "mae": 0.4}}))
    assert read_run(tmp_path).task == "regression"


def test_not_a_run_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_run(tmp_path / "nope")
    with pytest.raises(ValueError, match="holds none of the run files"):
        read_run(tmp_path)
