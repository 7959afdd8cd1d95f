"""A small TPE search in a child process, for the kill-and-resume tests of tuning.

    python tune_script.py OUT [--kill-trial N] [--trials T]

With ``--kill-trial`` the process SIGKILLs itself after the first epoch of trial N (its
heartbeat then stops; the next run fails and retries it). Running it again resumes the study
in OUT/study.db. Everything is seeded: two runs without a kill record the same trials.
"""
import argparse
import os
import signal
import sys

import numpy as np

from topnet.data import Dataset, split, standardize
from topnet.tune import Categorical, Fixed, Float, Int, SearchSpace, tune
from topnet.callbacks.trial_pruning import PruningCallback


def kill_in_trial(number):
    report = PruningCallback.on_epoch_end

    def on_epoch_end(self, state):
        report(self, state)
        if self.trial.number == number:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    PruningCallback.on_epoch_end = on_epoch_end


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--kill-trial", type=int, default=None)
    parser.add_argument("--trials", type=int, default=12)
    args = parser.parse_args()
    if args.kill_trial is not None:
        kill_in_trial(args.kill_trial)
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 6)) * 1.5
    y = rng.integers(0, 3, 240)
    x = (centers[y] + rng.normal(size=(240, 6))).astype(np.float32)
    splits, _ = standardize(split(Dataset(x=x, y=y), valid=0.25, blend=0.0, test=0.0, seed=0))
    space = SearchSpace({"family": Fixed("mlp"), "depth": Int(1, 3), "width": Categorical([4, 8, 16]),
                         "lr": Float(1e-4, 1e-1, log=True), "batch_size": Fixed(32)})
    tune(space, splits, num_trials=args.trials, epochs=3, sampler="tpe", pruner="none", seed=7, out=args.out,
         plots=False, verbose=0, device="cpu", heartbeat_interval=1, grace_period=2)


if __name__ == "__main__":
    main()
