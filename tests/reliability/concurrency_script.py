"""One of many processes that create the same study at once and run trials on it.

    python concurrency_script.py STORAGE STUDY GO_FILE --trials N --target T

Waits until GO_FILE exists (so every process starts together), opens the storage (creating its
tables if needed) and creates-or-loads the study the way ``topnet tune`` does (`open_study`), runs N short trials through topnet's runner
(`run_trials`: sampling from a `SearchSpace` with a per-trial seeded sampler, heartbeats on),
and prints the numbers of the trials it finished as JSON.
"""
import argparse
import json
import os
import time

from topnet.tune import Float, Int, SearchSpace
from topnet.configs.settings import FitSettings
from topnet.tune.runner import run_trials
from topnet.tune.study import make_pruner, make_sampler, make_storage, open_study, study_attrs

SPACE = SearchSpace({"lr": Float(1e-4, 1e-1, log=True), "depth": Int(1, 4)})


def objective(trial):
    config = SPACE.sample(trial)
    trial.set_user_attr("pid", os.getpid())
    return config["lr"] * config["depth"]  # a trivial score: the test is about the bookkeeping


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("storage")
    parser.add_argument("study")
    parser.add_argument("go")
    parser.add_argument("--trials", type=int, required=True)
    parser.add_argument("--target", type=int, required=True)
    args = parser.parse_args()
    settings = FitSettings(epochs=1, metric="val_accuracy", num_trials=args.target)
    while not os.path.exists(args.go):
        time.sleep(0.01)
    storage = make_storage(args.storage, heartbeat_interval=5)  # a fresh database: all create its tables at once
    study = open_study(storage, args.study, sampler=make_sampler("tpe", seed=os.getpid()), pruner=make_pruner("none"),
                       direction="maximize", attrs=study_attrs(SPACE, None, settings))
    numbers = run_trials(study, objective, num_trials=args.target, max_trials=args.trials, verbose=0)
    print(json.dumps({"pid": os.getpid(), "trials": numbers}))


if __name__ == "__main__":
    main()
