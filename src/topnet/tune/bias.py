"""Selection bias made visible: the chosen trial re-scored on ``blend``, and seed noise.

The best of many trials on ``valid`` is optimistically biased: part of its lead is luck on
that split (Chollet 7.3.2 calls it validation-set overfitting). Re-scoring the chosen model on
``blend`` (data no trial was selected on) shows how large that part is; re-training the top
configurations with other seeds shows how much their values move by chance alone.
"""
from __future__ import annotations

import math
import statistics
from typing import Any

from topnet.configs.data_spec import TrialData
from topnet.configs.settings import FitSettings
from topnet.configs.training import train_config
from topnet.io import load_model
from topnet.seeding import derive_seed
from topnet.train import evaluate
from topnet.tune.checkpoints import TrialRecord

__all__ = ["blend_score", "seed_noise"]


def blend_score(record: TrialRecord, data: TrialData, settings: FitSettings) -> dict[str, Any]:
    """The trial's saved model scored on ``blend``, beside its ``valid`` value.

    Returns:
        ``{"trial", "metric", "valid", "blend", "gap"}`` (``gap = valid - blend``); ``blend`` is
        None with a ``"note"`` when there is no blend split or no checkpoint on this machine, or
        when the trials were scored out of fold (``settings.folds``: blend is part of their pool).
    """
    name = settings.metric.removeprefix("val_")
    result: dict[str, Any] = {"trial": record.number, "metric": name, "valid": record.value, "blend": None}
    if settings.folds:
        return {**result, "note": f"trials scored out of fold ({settings.folds} folds of train, valid and blend)"}
    splits = data.for_family(record.family or "mlp")
    if splits.blend is None:
        return {**result, "note": "no blend split (split with blend > 0 to measure selection bias)"}
    if record.checkpoint is None:
        return {**result, "note": "the trial's checkpoint is not on this machine"}
    model = load_model(record.checkpoint)
    scores = evaluate(model, splits.blend, loss=data.loss, metrics=data.metrics, device=settings.device)
    if name not in scores:
        return {**result, "note": f"{name!r} is not among the blend scores {sorted(scores)}"}
    blend = float(scores[name])
    return {**result, "blend": blend, "gap": None if record.value is None else record.value - blend}


def seed_noise(records: list[TrialRecord], data: TrialData, settings: FitSettings,
               num_seeds: int) -> list[dict[str, Any]]:
    """Re-train each record's configuration with ``num_seeds`` other seeds; the spread of the values.

    Returns:
        One ``{"trial", "value", "values", "mean", "std"}`` per record (``value`` is the search's).

    Example (not run here: it trains):
        seed_noise(result.top_k(3), TrialData(splits), settings, num_seeds=3)
    """
    rows = []
    for record in records:
        values = []
        for index in range(num_seeds):
            seed = derive_seed(settings.seed, "noise", record.number, index) % 2**31
            values.append(train_config(record.config, data, settings, seed=seed).value)
        finite = [v for v in values if not math.isnan(v)]
        rows.append({"trial": record.number, "value": record.value, "values": values,
                     "mean": statistics.fmean(finite) if finite else None,
                     "std": statistics.stdev(finite) if len(finite) > 1 else None})
    return rows
