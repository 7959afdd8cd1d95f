"""`search = "auto"` on images on a CPU under half an hour: no trials, the portfolio's
configurations and the baseline retrained in turn (zero-shot); elsewhere the search runs."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from topnet.pipeline import RunConfig, run
from topnet.pipeline.run import _skip_reason, _zero_shot
from topnet.pipeline.search import zero_shot_records
from topnet.tune.defaults import image_space
from topnet.tune.space import Categorical, SearchSpace


@pytest.mark.slow
def test_a_short_image_run_retrains_the_portfolio_and_the_baseline_without_trials(tmp_path, image_npz, quick_settings):
    out = tmp_path / "run"
    settings = {**quick_settings, "budget": "30s", "ensemble_size": 3, "min_epochs": 2}
    del settings["search"]  # the default, "auto"
    run(RunConfig(data=str(image_npz), out=str(out), **settings))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["phases"]["search"]["status"] == "skipped" and metrics["phases"]["search"]["elapsed_s"] == 0.0
    assert "zero-shot" in metrics["phases"]["search"]["reason"]
    plans = json.loads((out / "state.json").read_text())["retrain_plans"]
    assert len(plans) >= 2, plans  # tiny data: several models of two epochs fit
    # in turn: the portfolio's entry first (number -2), then the baseline (-1), each with its own seed
    assert [p["trial"] for p in plans[:2]] == [-2, -1]
    assert plans[0]["name"].endswith("-portfolio0") and plans[1]["name"].endswith("-baseline")
    assert plans[0]["config"]["depth"] == 3 and plans[1]["config"]["depth"] == 2  # the images portfolio's d3 entry
    assert len({p["seed"] for p in plans}) == len(plans)
    gain = metrics["search"]
    assert gain["zero_shot"] is True and gain["trials"] == 0
    assert gain["members_from_search"] >= 1 and gain["members_from_baseline"] >= 1
    assert gain["blend_found"] is not None and gain["blend_baseline"] is not None
    report = (out / "report.html").read_text()
    assert "No search trials." in report and "members from the portfolio score" in report


def job(kind="images", budget="15m", search="auto", space=None, pool=None, device="cpu"):
    config = RunConfig(budget=budget, search=search, device=device)
    object.__setattr__(config, "space", space)  # a path the test does not write: the rule only asks whether one is set
    return SimpleNamespace(config=config, pool=pool, data=SimpleNamespace(kind=kind))


@pytest.mark.parametrize("case, expected", [
    (dict(), True),  # images, CPU, 15 minutes
    (dict(budget="5m"), True),
    (dict(budget="30m"), False),  # long enough for the search to act
    (dict(budget="1h"), False),
    (dict(kind="signals"), False),  # B8: the search earns +1.5 points on MNIST-1D at 5 minutes
    (dict(kind="tabular"), False),
    (dict(search=True), False),  # the user asked for the search
    (dict(search=False), False),  # the ablation: the baseline alone
    (dict(space="my_space.toml"), False),  # a user's space is searched
    (dict(kind="tabular", pool=object()), True),  # a bagged table: B8, the search never beat none at 1 and 5 minutes
    (dict(kind="tabular", pool=object(), budget="30m"), False),
    (dict(kind="tabular", pool=object(), search=True), False),
    (dict(kind="tabular", pool=object(), space="my_space.toml"), False),
])
def test_when_the_trials_are_skipped(case, expected):
    assert _zero_shot(job(**case), image_space(widths=(16, 32))) is expected


@pytest.mark.parametrize("search, bagged, words", [
    (False, False, "search = false"), (False, True, "search = false"),  # turned off, whatever the data
    ("auto", True, "a bagged table"), ("auto", False, "images"),
])
def test_the_skipped_search_says_why(search, bagged, words):
    assert words in _skip_reason(search, bagged=bagged)


def test_a_bagged_table_skips_its_trials_without_a_portfolio():
    """A bagged run's networks' phase draws untried configurations itself: no portfolio needed."""
    space = SearchSpace({"width": Categorical([16, 32])}, baseline={"width": 16})
    assert _zero_shot(job(kind="tabular", pool=object()), space) is True
    assert _zero_shot(job(kind="tabular"), space) is False


def test_a_space_without_a_portfolio_is_searched():
    space = SearchSpace({"family": Categorical(["mlp"]), "width": Categorical([8, 16])}, baseline={"family": "mlp", "width": 8})
    assert _zero_shot(job(), space) is False and zero_shot_records(space)[0].number == -1


def test_zero_shot_records_keep_only_entries_the_space_holds():
    wide = image_space(widths=(16, 32, 64))  # a GPU or a long run: the width-64 entry too
    assert [(r.number, r.config["width"], r.config["depth"]) for r in zero_shot_records(wide)] == \
        [(-2, 64, 2), (-3, 32, 3), (-1, 32, 2)]
    narrow = image_space(widths=(16, 32))  # a CPU under 4 hours leaves width 64 out
    records = zero_shot_records(narrow)
    assert [(r.number, r.state, r.config["depth"]) for r in records] == [(-2, "PORTFOLIO", 3), (-1, "COMPLETE", 2)]
    assert records[0].config["activation"] == "relu"  # the space's rules applied, as in a trial


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_a_bad_search_setting_names_the_value(value):
    with pytest.raises(ValueError, match=r"search.*'auto', true or false"):
        RunConfig(search=value)
