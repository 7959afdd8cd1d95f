"""`search = false` (B8's ablation arm): the search's time goes to retraining copies of the
baseline configuration, as many as fit, not to one long model."""
from __future__ import annotations

import json

import pytest

from topnet.pipeline import RunConfig, run


@pytest.mark.slow
def test_search_off_retrains_as_many_copies_of_the_baseline_as_fit(tmp_path, image_npz, quick_settings):
    out = tmp_path / "run"
    run(RunConfig(data=str(image_npz), out=str(out), **{**quick_settings, "budget": "30s", "search": False,
                                                        "ensemble_size": 3, "min_epochs": 2}))
    state = json.loads((out / "state.json").read_text())
    plans = state["retrain_plans"]
    assert state["retrain_planned"] >= 2, plans  # tiny data: three models of two epochs fit many times over
    assert all(plan["trial"] == -1 and plan["name"].endswith("-baseline") for plan in plans)
    assert len({plan["seed"] for plan in plans}) == len(plans)  # copies that differ by seed
    models = json.loads((out / "models.json").read_text())["models"]
    baseline = [m["name"] for m in models if m["name"].endswith("-baseline")]
    assert len(baseline) == len(plans) >= 2
    search = json.loads((out / "metrics.json").read_text())["phases"]["search"]
    assert search["status"] == "skipped" and search["elapsed_s"] == 0.0  # no trial ran
