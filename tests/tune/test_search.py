"""tune(): a tiny study finishes, writes its files, resumes, keeps the test split out, obeys budgets."""
import json

import numpy as np
import pytest

from topnet.data import Dataset, Splits
from topnet.io import load_model, read_config
from topnet.tune import PRUNERS, SAMPLERS, Categorical, DataSpec, Fixed, SearchSpace, tune
from topnet.tune.runner import MAX_CONSECUTIVE_FAILURES


def test_a_small_study_finishes_and_writes_its_results(blobs, small_space, tmp_path):
    result = tune(small_space(), blobs, num_trials=5, epochs=2, out=tmp_path, keep_top_k=2, verbose=0)
    document = json.loads((tmp_path / "tune.json").read_text())
    assert (tmp_path / "study.db").is_file() and document["storage"].startswith("sqlite:///")
    assert sum(document["counts"].values()) == 5 and document["trials_run"] == 5
    assert document["best_value"] == result.best_value > 0.5 and document["best_params"] == result.best_params
    assert document["time_used"] > 0 and document["budget"] == {"seconds": None, "trials": 5}
    assert set(result.plots) == {"history", "importances"}
    assert all((tmp_path / f"{name}.png").is_file() for name in result.plots)
    bias = document["selection_bias"]
    assert bias["trial"] == result.best_trial and bias["valid"] == result.best_value and 0 <= bias["blend"] <= 1
    # each finished trial keeps its params, config and validation curve; only the top-k keep weights
    for record in result.records:
        assert record.config["family"] == "mlp" and record.config["epochs"] == 2 and record.params
        assert len(record.curve["val_accuracy"]) >= 1
    kept = {int(p.name) for p in (tmp_path / "trials").iterdir()}
    assert kept == {r.number for r in result.top_k(2, diverse=False)} and len(kept) == 2
    best = next(r for r in result.records if r.number == result.best_trial)
    assert read_config(best.checkpoint)["metadata"]["config"] == best.config
    assert load_model(best.checkpoint)(torch_input(blobs)).shape == (5, 3)


def torch_input(splits):
    import torch

    return torch.as_tensor(splits.valid.x[:5])


def test_rerunning_resumes_the_same_study(blobs, small_space, tmp_path):
    first = tune(small_space(), blobs, num_trials=3, epochs=1, out=tmp_path, plots=False, verbose=0)
    second = tune(small_space(), blobs, num_trials=5, epochs=1, out=tmp_path, plots=False, verbose=0)
    third = tune(small_space(), blobs, num_trials=5, epochs=1, out=tmp_path, plots=False, verbose=0)
    assert (first.trials_run, second.trials_run, third.trials_run) == (3, 2, 0)
    assert [r.number for r in third.records] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="another search space"):
        tune(small_space(depth=1), blobs, num_trials=6, out=tmp_path, plots=False, verbose=0)


class Untouchable(Dataset):
    """A Dataset whose arrays raise once sealed: proof that nothing reads the test split."""

    def __getattribute__(self, name):
        if name in ("x", "y") and object.__getattribute__(self, "__dict__").get("sealed"):
            raise AssertionError("the test split was read")
        return object.__getattribute__(self, name)


def test_the_test_split_is_never_read(blobs, small_space, tmp_path):
    test = Untouchable(x=np.zeros((4, 8), np.float32), y=np.array([0, 1, 2, 0]))
    object.__setattr__(test, "sealed", True)
    with pytest.raises(AssertionError):
        test.x
    splits = Splits(train=blobs.train, valid=blobs.valid, blend=blobs.blend, test=test)
    result = tune(small_space(), splits, num_trials=2, epochs=1, out=tmp_path, noise_seeds=1, verbose=0)
    assert result.counts["COMPLETE"] == 2 and result.selection_bias["blend"] is not None
    assert [row["trial"] for row in result.noise] == [r.number for r in result.top_k(3, diverse=False)]
    assert all(len(row["values"]) == 1 and 0 <= row["mean"] <= 1 for row in result.noise)


def test_the_same_seed_gives_the_same_search(blobs, small_space, tmp_path):
    runs = [tune(small_space(), blobs, num_trials=3, epochs=1, seed=7, out=tmp_path / str(i), plots=False, verbose=0)
            for i in range(2)]
    assert [r.params for r in runs[0].records] == [r.params for r in runs[1].records]
    assert [r.value for r in runs[0].records] == [r.value for r in runs[1].records]


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_runs_a_study(sampler, blobs, small_space, tmp_path):
    result = tune(small_space(), blobs, num_trials=3, epochs=1, sampler=sampler, pruner="none", out=tmp_path,
                  plots=False, verbose=0)
    assert result.counts["COMPLETE"] == 3


@pytest.mark.parametrize("pruner", PRUNERS)
def test_every_pruner_runs_a_study(pruner, blobs, small_space, tmp_path):
    result = tune(small_space(), blobs, num_trials=3, epochs=2, sampler="random", pruner=pruner, out=tmp_path,
                  plots=False, verbose=0)
    assert result.counts["COMPLETE"] + result.counts["PRUNED"] == 3


@pytest.mark.parametrize("what, name, valid", [("sampler", "tpee", "'tpe'"), ("pruner", "ASHA", "'asha'")])
def test_unknown_names_list_the_valid_ones(what, name, valid, blobs, tmp_path):
    with pytest.raises(ValueError, match=f"unknown {what} '{name}'; expected one of .*{valid}"):
        tune(None, blobs, num_trials=1, out=tmp_path, **{what: name})


def test_a_budget_is_required(blobs, tmp_path):
    with pytest.raises(ValueError, match="budget.*num_trials=20"):
        tune(None, blobs, out=tmp_path)


def test_the_wall_time_budget_stops_the_running_trial(blobs, small_space, tmp_path):
    result = tune(small_space(batch_size=8), blobs, budget="1s", epochs=10_000, out=tmp_path, verbose=0)
    cut = result.records[-1]
    assert cut.state == "PRUNED" and result.study.trials[-1].user_attrs["stopped"] == "budget"
    assert result.budget == {"seconds": 1.0, "trials": None} and result.time_used >= 1.0


@pytest.mark.slow
def test_a_trial_past_trial_seconds_is_pruned_as_slow_and_the_search_goes_on(blobs, small_space, tmp_path):
    space = small_space(batch_size=8)
    first = tune(space, blobs, num_trials=1, epochs=2, trial_seconds=0.5, pruner="none", out=tmp_path, verbose=0)
    assert first.records[0].state == "COMPLETE"  # no limit before a trial has completed: it sets the scale
    scale = 2 * (first.study.trials[0].datetime_complete - first.study.trials[0].datetime_start).total_seconds()
    result = tune(space, blobs, num_trials=3, epochs=10_000, trial_seconds=0.5, pruner="none", out=tmp_path,
                  verbose=0)  # the same study resumed, with endless trials
    trials = sorted(result.study.trials, key=lambda t: t.number)
    assert [t.state.name for t in trials] == ["COMPLETE", "PRUNED", "PRUNED"]  # each cut, then the next one ran
    assert {t.user_attrs["stopped"] for t in trials[1:]} == {"slow"}
    took = [(t.datetime_complete - t.datetime_start).total_seconds() for t in trials[1:]]
    assert all(max(0.5, scale) <= s < 30 for s in took), (scale, took)  # stopped, not run to 10,000 epochs


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "10s"])
def test_trial_seconds_must_be_a_positive_number(bad, blobs, small_space, tmp_path):
    with pytest.raises(ValueError, match="trial_seconds"):
        tune(small_space(), blobs, num_trials=1, trial_seconds=bad, out=tmp_path, verbose=0)


def test_multi_fidelity_trains_the_first_epochs_on_a_subset(blobs, small_space, tmp_path):
    result = tune(small_space(), blobs, num_trials=2, epochs=3, subset=0.25, subset_epochs=1, pruner="none",
                  out=tmp_path, plots=False, verbose=0)
    assert all(len(r.curve["val_accuracy"]) == 3 and len(r.curve["loss"]) == 3 for r in result.records)


def test_top_k_is_diverse_across_families(blobs, tmp_path):
    space = SearchSpace({"family": Categorical(["mlp", "selu_mlp"]), "width": Fixed(8), "depth": Fixed(1),
                         "batch_size": Fixed(64)})
    result = tune(space, blobs, num_trials=6, epochs=1, sampler="random", pruner="none", out=tmp_path, plots=False,
                  verbose=0)
    families = {r.family for r in result.records}
    assert families == {"mlp", "selu_mlp"}
    assert {r.family for r in result.top_k(2, diverse=True)} == families
    by_value = result.top_k(5, diverse=False)
    assert [r.value for r in by_value] == sorted((r.value for r in by_value), reverse=True)


def test_the_default_space_starts_from_its_baseline_on_images(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 1, 8, 8)).astype(np.float32), rng.integers(0, 2, 60)
    splits = Splits(train=Dataset(x=x[:40], y=y[:40]), valid=Dataset(x=x[40:], y=y[40:]))
    result = tune(None, splits, num_trials=2, epochs=1, out=tmp_path, plots=False, verbose=0)
    assert result.records[0].config["family"] == "small_convnet" and result.records[0].config["lr"] == 1e-3
    assert result.selection_bias["blend"] is None and "no blend split" in result.selection_bias["note"]


def test_a_space_that_cannot_train_stops_with_its_error(blobs, tmp_path):
    space = SearchSpace({"family": Fixed("mlp"), "model.bogus": Fixed(1)})
    with pytest.raises(RuntimeError, match=f"{MAX_CONSECUTIVE_FAILURES} trials failed in a row.*bogus"):
        tune(space, blobs, num_trials=20, epochs=1, out=tmp_path, verbose=0)


@pytest.mark.slow
def test_csv_tables_search_mlps_and_wide_and_deep(tmp_path):
    rng = np.random.default_rng(0)
    color = rng.choice(["red", "green", "blue"], 200)
    a = rng.normal(size=200)
    lines = ["a,color,label"] + [f"{v:.4f},{c},{int(v + (c == 'red') > 0.5)}" for v, c in zip(a, color)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    result = tune(None, DataSpec(str(tmp_path / "t.csv"), target="label"), num_trials=6, epochs=1, sampler="random",
                  pruner="none", out=tmp_path / "out", plots=False, verbose=0)
    assert result.counts["COMPLETE"] == 6 and {"mlp", "wide_and_deep"} <= {r.family for r in result.records}
    assert (tmp_path / "out" / "standardizer.json").is_file() and result.selection_bias["blend"] is not None


@pytest.mark.filterwarnings("ignore:.*invalid loss:RuntimeWarning")
def test_a_diverged_trial_fails_with_the_reason_and_the_search_goes_on(blobs, small_space, tmp_path):
    space = small_space(optimizer="sgd", lr=1e30)  # the weights overflow at the first step
    result = tune(space, blobs, num_trials=6, epochs=2, metric="val_loss", out=tmp_path, plots=False, verbose=0)
    assert result.counts["FAIL"] == 6 and result.best_trial is None  # more than MAX_CONSECUTIVE_FAILURES, no stop
    assert {t.user_attrs["stopped"] for t in result.study.trials} == {"diverged"}
    assert all("val_loss is nan (the training diverged)" in t.user_attrs["error"] for t in result.study.trials)
