"""Trials' records and the top-k checkpoints kept on disk.

Every finished trial keeps its parameters, configuration, seed and validation curve in the
study (trial user attributes). Only the best trials keep their weights, to bound the disk:
``out/trials/NUMBER/`` (``topnet.io.save_model``: ``weights.safetensors`` + ``config.json``,
whose metadata holds the trial's configuration and curve) for the top-k trials by value and
the *diverse* top-k (the best of each architecture family first), so the ensemble step finds
different good models. A checkpoint that falls out of both is deleted.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from topnet.io import remove_tree, save_model

__all__ = ["TrialRecord", "trial_records", "select_top_k", "CheckpointKeeper"]


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the results show it.

    Attributes:
        number: Optuna's trial number.
        state: ``"COMPLETE"``, ``"PRUNED"``, ``"FAIL"``, ``"RUNNING"`` or ``"WAITING"``.
        value: the best validation value (None unless complete; pruned: the last reported).
        config: the full configuration (rebuilds the model and its training).
        params: the sampled parameters (``trial.params``).
        curve: per-epoch logs, e.g. ``{"val_accuracy": [...], "loss": [...]}``.
        checkpoint: the saved model's directory when it is on this machine, else None.
        seed: the trial's seed.
        worker: the ``host:pid`` that ran it.
    """

    number: int
    state: str
    value: float | None
    config: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    curve: dict[str, list[float]] = field(default_factory=dict)
    checkpoint: str | None = None
    seed: int | None = None
    worker: str | None = None

    @property
    def family(self) -> str | None:
        """The model family (builder name) of the configuration."""
        return self.config.get("family")


def trial_records(study: Any) -> list[TrialRecord]:
    """A `TrialRecord` per trial of an Optuna study, in trial order."""
    records = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        checkpoint = attrs.get("checkpoint")
        value = trial.value if trial.state.name == "COMPLETE" else (
            trial.intermediate_values[max(trial.intermediate_values)] if trial.intermediate_values else None)
        records.append(TrialRecord(number=trial.number, state=trial.state.name, value=value,
                                   config=dict(attrs.get("config", {})), params=dict(trial.params),
                                   curve=dict(attrs.get("curve", {})), seed=attrs.get("seed"),
                                   worker=attrs.get("worker"),
                                   checkpoint=checkpoint if checkpoint and os.path.isdir(checkpoint) else None))
    return records


def select_top_k(records: list[TrialRecord], k: int, *, maximize: bool = True,
                 diverse: bool = True) -> list[TrialRecord]:
    """The ``k`` best complete trials; with ``diverse``, the best of each family first.

    Example:
        >>> rs = [TrialRecord(0, "COMPLETE", 0.9, {"family": "a"}), TrialRecord(1, "COMPLETE", 0.8, {"family": "a"}),
        ...       TrialRecord(2, "COMPLETE", 0.7, {"family": "b"}), TrialRecord(3, "PRUNED", 0.95, {"family": "c"})]
        >>> [r.number for r in select_top_k(rs, 2)], [r.number for r in select_top_k(rs, 2, diverse=False)]
        ([0, 2], [0, 1])
    """
    done = [r for r in records if r.state == "COMPLETE" and r.value is not None and not math.isnan(r.value)]
    ranked = sorted(done, key=lambda r: (-r.value if maximize else r.value, r.number))
    if not diverse:
        return ranked[:k]
    firsts, seen = [], set()
    for record in ranked:
        if record.family not in seen:
            seen.add(record.family)
            firsts.append(record)
    rest = [r for r in ranked if r not in firsts]
    return (firsts + rest)[:k]


class CheckpointKeeper:
    """Saves a finished trial's model when it ranks in the top-k, and deletes the ones that no longer do.

    Args:
        directory: the search's output directory; checkpoints go to ``directory/trials/NUMBER``.
        keep_top_k: how many to keep (by value, plus as many by diverse rank).
        maximize: whether larger values are better.
    """

    def __init__(self, directory: str | os.PathLike, keep_top_k: int = 3, maximize: bool = True):
        self.directory = Path(directory) / "trials"
        self.keep_top_k = keep_top_k
        self.maximize = maximize

    def path(self, number: int) -> Path:
        """The checkpoint directory of trial ``number``."""
        return self.directory / str(number)

    def _keep(self, records: list[TrialRecord]) -> set[int]:
        k = self.keep_top_k
        return {r.number for diverse in (False, True)
                for r in select_top_k(records, k, maximize=self.maximize, diverse=diverse)}

    def offer(self, trial: Any, value: float, model: torch.nn.Module, config: dict[str, Any]) -> Path | None:
        """Save ``model`` for ``trial`` (still running, about to complete with ``value``) if it
        ranks in the top-k; then prune the others. Returns the directory, or None."""
        records = [r for r in trial_records(trial.study) if r.number != trial.number]
        records.append(TrialRecord(trial.number, "COMPLETE", value, config))
        keep = self._keep(records)
        saved = None
        if trial.number in keep:
            metadata = {"trial": trial.number, "value": value, "config": config,
                        "curve": trial.user_attrs.get("curve", {}), "seed": trial.user_attrs.get("seed")}
            saved = save_model(model, self.path(trial.number), metadata=metadata)
            trial.set_user_attr("checkpoint", str(saved.resolve()))
        self._remove_others(keep, records)
        return saved

    def prune(self, study: Any) -> None:
        """Delete the checkpoints of trials outside the top-k (e.g. after other workers finished)."""
        records = trial_records(study)
        self._remove_others(self._keep(records), records)

    def _remove_others(self, keep: set[int], records: list[TrialRecord]) -> None:
        # only finished trials: a trial of another process may be saving its checkpoint right now
        finished = {r.number for r in records if r.state in ("COMPLETE", "PRUNED", "FAIL")}
        if not self.directory.is_dir():
            return
        for entry in self.directory.iterdir():
            if entry.is_dir() and entry.name.isdigit() and int(entry.name) in finished - keep:
                remove_tree(entry)
