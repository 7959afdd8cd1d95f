"""Studies: samplers and pruners by name, storage, resume rules, counting retried trials."""
import sys

import pytest

from topnet.tune import PRUNERS, SAMPLERS, make_pruner, make_sampler, tune
from topnet.tune._optuna import import_optuna
from topnet.tune.study import finished_count, load_study, make_storage
from topnet.tune.worker import join_study

optuna = import_optuna()


@pytest.mark.parametrize("name, cls", [("random", "RandomSampler"), ("tpe", "TPESampler"), ("gp", "GPSampler"),
                                       ("cmaes", "CmaEsSampler"), ("nsga2", "NSGAIISampler")])
def test_samplers_by_name(name, cls):
    assert type(make_sampler(name, seed=0).sampler).__name__ == cls
    assert set(SAMPLERS) == {"random", "tpe", "gp", "cmaes", "nsga2"}


@pytest.mark.parametrize("name, cls", [("none", "NopPruner"), ("median", "MedianPruner"),
                                       ("asha", "SuccessiveHalvingPruner"), ("hyperband", "HyperbandPruner")])
def test_pruners_by_name(name, cls):
    assert type(make_pruner(name, epochs=9)).__name__ == cls
    assert set(PRUNERS) == {"none", "median", "asha", "hyperband"}


def test_objects_pass_through_and_unknown_names_list_the_valid_ones():
    sampler, pruner = optuna.samplers.RandomSampler(), optuna.pruners.NopPruner()
    assert make_sampler(sampler) is sampler and make_pruner(pruner) is pruner
    with pytest.raises(ValueError, match=r"unknown sampler 'cma'; expected one of \['cmaes', 'gp', 'nsga2', 'random', "
                                         r"'tpe'\]; did you mean 'cmaes'\?"):
        make_sampler("cma")
    with pytest.raises(ValueError, match="unknown pruner 'successive_halving'; expected one of"):
        make_pruner("successive_halving")


def test_storage_needs_a_url():
    with pytest.raises(ValueError, match="storage: got 'study.db'; expected a database URL"):
        make_storage("study.db")


def test_missing_optuna_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match="pip install optuna"):
        import_optuna()


def test_finished_count_counts_a_crashed_trial_and_its_retry_once():
    create, state = optuna.trial.create_trial, optuna.trial.TrialState
    for retry, expected in (({"state": state.WAITING}, 1), ({"value": 0.5}, 2)):
        study = optuna.create_study()
        study.add_trial(create(value=1.0, params={}, distributions={}))
        study.add_trial(create(state=state.FAIL, params={}, distributions={}))  # trial 1 crashed
        study.add_trial(create(params={}, distributions={}, system_attrs={"failed_trial": 1}, **retry))
        assert finished_count(study) == expected  # 1 while the retry waits; trial 1 once when it ran


def test_workers_need_a_study_made_from_a_dataset_spec(blobs, small_space, tmp_path):
    tune(small_space(), blobs, num_trials=2, max_trials=0, out=tmp_path, study_name="memory", verbose=0)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    with pytest.raises(ValueError, match="not from in-memory Splits"):
        join_study("memory", url, out=tmp_path / "w", verbose=0)
    with pytest.raises(ValueError, match="unknown study 'memroy'.*did you mean 'memory'"):
        load_study(make_storage(url), "memroy")
    optuna.create_study(storage=url, study_name="plain")
    with pytest.raises(ValueError, match="a study created by topnet tune"):
        load_study(make_storage(url), "plain")


def test_a_study_keeps_its_direction(blobs, small_space, tmp_path):
    tune(small_space(), blobs, num_trials=1, max_trials=0, out=tmp_path, verbose=0)
    with pytest.raises(ValueError, match="direction"):
        tune(small_space(), blobs, num_trials=1, max_trials=0, out=tmp_path, metric="val_loss", verbose=0)


def test_opening_a_study_logs_no_info_line_and_restores_optunas_verbosity(tmp_path):
    import logging

    from topnet.tune.study import open_study

    records = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    handler, logger = Collect(), logging.getLogger("optuna")
    logger.addHandler(handler)
    optuna.logging.set_verbosity(optuna.logging.INFO)
    try:
        study = open_study(make_storage(f"sqlite:///{tmp_path / 's.db'}"), "quiet", sampler=make_sampler("random"),
                           pruner=make_pruner("none"), direction="maximize", attrs={"topnet.space": "{}"})
        assert study.study_name == "quiet" and optuna.logging.get_verbosity() == optuna.logging.INFO
        optuna.create_study()  # Optuna's own call still logs, so the handler does see INFO lines
        assert not any("quiet" in message for message in records) and any("study created" in m for m in records)
    finally:
        logger.removeHandler(handler)
        optuna.logging.set_verbosity(optuna.logging.INFO)
