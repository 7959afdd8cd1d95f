"""The search portfolio: tried first and in order by a new study, never twice; its TOML form; the
measured default portfolios fit their default spaces."""
import json

import pytest

from topnet.tune import Categorical, Fixed, Float, Int, SearchSpace, image_space, tune, vector_space
from topnet.tune.defaults import signal_space
from topnet.tune.portfolio import default_portfolio, portfolio_entries

BASELINE = {"depth": 2, "width": 16, "lr": 0.01}
PORTFOLIO = ({"depth": 1, "width": 8, "lr": 0.003}, {"depth": 2, "width": 8})


def tiny_space(portfolio=PORTFOLIO) -> SearchSpace:
    params = {"family": Fixed("mlp"), "depth": Int(1, 2), "width": Categorical([8, 16]),
              "lr": Float(1e-3, 3e-2, log=True), "batch_size": Fixed(64)}
    return SearchSpace(params, baseline=BASELINE, portfolio=portfolio)


def enqueued(trial) -> dict | None:
    return trial.system_attrs.get("fixed_params")  # what Optuna's enqueue_trial fixed


@pytest.mark.slow
def test_a_new_study_tries_the_baseline_then_the_portfolio_in_order_then_samples(blobs, tmp_path):
    space = tiny_space(PORTFOLIO + ({"width": 32}, dict(BASELINE)))  # outside the space; a repeat
    result = tune(space, blobs, num_trials=5, epochs=1, out=tmp_path, plots=False, verbose=0)
    trials = sorted(result.study.trials, key=lambda t: t.number)
    assert [enqueued(t) for t in trials] == [BASELINE, *PORTFOLIO, None, None]
    for trial, wanted in zip(trials, [BASELINE, *PORTFOLIO]):
        assert {key: trial.params[key] for key in wanted} == wanted
    assert "lr" in trials[2].params  # a partial entry: the rest is sampled
    resumed = tune(space, blobs, num_trials=7, epochs=1, out=tmp_path, plots=False, verbose=0)
    trials = sorted(resumed.study.trials, key=lambda t: t.number)
    assert resumed.trials_run == 2 and len(trials) == 7
    assert [enqueued(t) is None for t in trials] == [False] * 3 + [True] * 4  # not enqueued again


def test_first_trials_keep_only_values_inside_the_space():
    params = {"family": Fixed("mlp"), "depth": Int(1, 5, step=2), "batch_norm": Categorical([True, False]),
              "width": Categorical([0, 1]), "lr": Float(1e-3, 1e-1, log=True), "dropout": Float(0.0, 0.5, step=0.1)}
    outside = [{"family": "resnet"}, {"depth": 2}, {"depth": 7}, {"batch_norm": 1}, {"width": True},
               {"lr": 0.5}, {"dropout": 0.25}, {"lr": "0.01"}]
    inside = [{"depth": 3, "batch_norm": True, "width": 1}, {"lr": 0.01, "dropout": 0.3}, {"family": "mlp"}]
    space = SearchSpace(params, baseline={"depth": 5, "lr": 1.0}, portfolio=outside + inside + inside[:1])
    assert space.first_trials() == [{"depth": 5}, *inside]  # the baseline's lr is left to the sampler
    assert SearchSpace(params, portfolio=inside[1:2]).first_trials() == inside[1:2]  # no baseline
    assert SearchSpace(params).first_trials() == []


def test_a_portfolio_entry_naming_an_unknown_key_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"portfolio\[1\]: unknown key\(s\).*'widht'"):
        tiny_space(({"width": 8}, {"widht": 8}))
    with pytest.raises(ValueError, match=r"portfolio\[0\].*a table of parameter values"):
        tiny_space(([("width", 8)],))
    with pytest.raises(ValueError, match=r"portfolio\[0\]: unknown key\(s\).*'dept'"):
        SearchSpace.from_toml('[params.depth]\nlow = 1\nhigh = 2\n\n[[portfolio]]\ndept = 2\n')


def test_the_portfolio_round_trips_through_toml_dict_and_json():
    space = SearchSpace.from_toml("""
[params.width]
choices = [8, 16]

[params.lr]
low = 1e-3
high = 3e-2
log = true

[baseline]
width = 16

[[portfolio]]
width = 8
lr = 0.003

[[portfolio]]
lr = 0.01
""")
    assert space.portfolio == ({"width": 8, "lr": 0.003}, {"lr": 0.01})
    assert SearchSpace.from_dict(space.to_dict()) == space
    assert SearchSpace.from_dict(json.loads(space.to_json())) == space
    old = {key: value for key, value in space.to_dict().items() if key != "portfolio"}  # a document from before
    assert SearchSpace.from_dict(old).portfolio == () and "portfolio" not in SearchSpace.from_dict(old).to_dict()


@pytest.mark.parametrize("kind, space", [("images", image_space()), ("signals", signal_space(length=40)),
                                         ("vectors", vector_space()), ("tabular", vector_space(wide_and_deep=True))])
def test_the_default_portfolios_are_measured_and_fit_their_default_spaces(kind, space):
    assert space.portfolio == default_portfolio(kind)
    assert space.first_trials() == [space.baseline, *default_portfolio(kind)]  # none left out, none repeated
    for entry in portfolio_entries(kind):
        assert entry["measured"].strip()
        space.config_from_params(entry["config"])  # a whole configuration: nothing left to the sampler


def test_measured_portfolios_exist_where_there_are_measurements():
    assert len(default_portfolio("images")) >= 2 and len(default_portfolio("signals")) >= 1
    with pytest.raises(ValueError, match="unknown data kind 'image'.*did you mean 'images'"):
        default_portfolio("image")
