"""``topnet ensemble --run DIR``: ensemble a run's models with weights fitted on its blend split.

The command reloads the run's data exactly as the run split it (same data, fractions and seed,
from ``DIR/config.json``; the run's standardisation from ``DIR/standardizer.json``), takes every
model directory it finds (``DIR/trials/*/``, ``DIR/models/*/``, ``DIR/model/``), adds a
LightGBM member (and, with ``--linear``, a logistic/ridge member) trained on train, fits the
ensemble on blend, scores it once on test, and writes ``DIR/ensemble/``: the saved ensemble,
``metrics.json`` (blend scores, weights, test metrics of every member and of the ensemble,
diversity) and ``diversity.png``.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="topnet")
    >>> _ = add_ensemble_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["ensemble", "--run", "runs/search", "--no-lightgbm"])
    >>> args.run, args.combiner, args.lightgbm, args.blend_split
    ('runs/search', 'auto', False, 'blend')
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from topnet.errors import format_message

__all__ = ["add_ensemble_parser", "run_ensemble", "find_model_dirs"]


def add_ensemble_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``ensemble`` command to ``parser.add_subparsers()``'s result and return it."""
    parser = subparsers.add_parser("ensemble", help="ensemble a run's models, weights fitted on its blend split",
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--run", required=True, help="run directory holding the models (trials/*/, models/*/, model/)")
    parser.add_argument("--data", default=None, help="dataset name or path (default: the run's config.json)")
    parser.add_argument("--data-path", default=None, help="directory holding the named dataset's files")
    parser.add_argument("--target", default=None, help="target column (CSV files)")
    parser.add_argument("--combiner", default="auto", choices=["auto", "uniform", "weighted", "caruana", "stacking"],
                        help="auto: pick by cross-fitted blend log-loss (MSE for regression)")
    parser.add_argument("--lightgbm", action=argparse.BooleanOptionalAction, default=True, help="add a LightGBM member")
    parser.add_argument("--linear", action=argparse.BooleanOptionalAction, default=False,
                        help="add a logistic-regression (ridge) member")
    parser.add_argument("--temperature", action=argparse.BooleanOptionalAction, default=True,
                        help="temperature-scale the ensemble's probabilities (classification)")
    parser.add_argument("--select", default=None, choices=["diverse"], help="keep only diverse members (picked on valid)")
    parser.add_argument("--num-members", type=int, default=None, help="how many members --select diverse keeps")
    parser.add_argument("--blend-split", default="blend", choices=["blend", "valid"],
                        help="the split the weights are fitted on; 'valid' for runs made without a blend split")
    for name in ("valid", "blend", "test"):
        parser.add_argument(f"--{name}", type=float, default=None, help=f"{name} fraction (default: the run's)")
    parser.add_argument("--seed", type=int, default=None, help="split seed (default: the run's)")
    parser.add_argument("--device", default="auto", help="where the networks predict: auto, cpu or cuda")
    parser.add_argument("--out", default=None, help="output directory (default: RUN/ensemble)")
    return parser


def find_model_dirs(run: Path) -> list[Path]:
    """Model directories (holding ``config.json`` + ``weights.safetensors``) in a run, sorted."""
    candidates = [*sorted(run.glob("trials/*")), *sorted(run.glob("models/*")), run / "model"]
    return [p for p in candidates if (p / "config.json").is_file() and (p / "weights.safetensors").is_file()]


def _setting(args: argparse.Namespace, config: dict[str, Any], name: str, default: Any) -> Any:
    value = getattr(args, name)
    return value if value is not None else config.get(name, default)


def _splits(args: argparse.Namespace, run: Path, config: dict[str, Any]):
    from topnet.data import Splits, Standardizer, load, split, standardize

    data = _setting(args, config, "data", None)
    if data is None:
        raise ValueError(format_message("--data", None, "a dataset name or path",
                                        f"{run} has no config.json naming its data; pass --data"))
    if config.get("max_samples"):
        raise ValueError(format_message("max_samples", config["max_samples"], "a run on its whole training pool",
                                        "the run searched a subset, which this command cannot redraw exactly; "
                                        "retrain the chosen models on the full data first"))
    blend = _setting(args, config, "blend", 0.1 if not config else 0.0)
    if blend == 0 and args.blend_split == "blend":
        raise ValueError(format_message("blend fraction", blend, f"a blend split in the run {str(run)!r}",
                                        "its models may have trained on every row outside valid and test; pass "
                                        "--blend-split valid to fit the weights on valid (slightly optimistic: valid "
                                        "also chose the models), or --blend 0.1 if the models were trained without those rows"))
    splits = split(load(data, path=_setting(args, config, "data_path", None), target=_setting(args, config, "target", None)),
                   valid=_setting(args, config, "valid", 0.1), blend=blend, test=_setting(args, config, "test", 0.1),
                   seed=_setting(args, config, "seed", 0))
    saved = run / "standardizer.json"
    if saved.is_file():  # the run's own statistics (from its train split)
        scalers = {k: Standardizer().load_state_dict(v) for k, v in json.loads(saved.read_text(encoding="utf-8")).items()}
        splits = Splits(**{name: dataclasses.replace(d, x=_scaled(d.x, scalers)) for name, d in splits.items()})
    else:
        splits, _ = standardize(splits)
    if args.blend_split == "valid":
        splits = Splits(train=splits.train, valid=None, blend=splits.valid, test=splits.test)
    return splits


def _scaled(x: Any, scalers: dict[str, Any]) -> Any:
    if isinstance(x, dict):
        return {k: scalers[k].transform(v) if k in scalers else v for k, v in x.items()}
    return scalers["x"].transform(x) if "x" in scalers else x


def _members(args: argparse.Namespace, run: Path, splits: Any, seed: int) -> list:
    from topnet.ensemble.boosted import LightGBMMember
    from topnet.ensemble.features import categorical_sizes
    from topnet.ensemble.linear import LinearMember
    from topnet.ensemble.members import NetworkMember
    from topnet.io import read_config

    task, sizes = splits.blend.task, categorical_sizes(splits.train)
    members = []
    for path in find_model_dirs(run):
        flat = isinstance(splits.train.x, dict) and read_config(path).get("builder") != "wide_and_deep"
        members.append(NetworkMember.from_dir(path, name=str(path.relative_to(run)).replace("/", "-"), task=task,
                                              features="flat" if flat else "raw", categorical_sizes=sizes, device=args.device))
    if args.lightgbm:
        members.append(LightGBMMember(task=task, seed=seed))
    if args.linear:
        members.append(LinearMember(task=task))
    if not members:
        raise ValueError(format_message("members", [], "at least one model", f"no model directories in {str(run)!r}; "
                                        "train some (topnet train / tune) or pass --lightgbm"))
    return members


def run_ensemble(args: argparse.Namespace) -> int:
    """Run ``topnet ensemble`` (see the module docstring); prints a summary and returns 0."""
    from topnet.ensemble.diversity import plot_diversity
    from topnet.ensemble.ensemble import Ensemble
    from topnet.io import atomic_write_text

    run = Path(args.run)
    if not run.is_dir():
        raise FileNotFoundError(f"--run {str(run)!r} is not a directory; expected a run directory written by topnet")
    config = json.loads((run / "config.json").read_text(encoding="utf-8")) if (run / "config.json").is_file() else {}
    splits = _splits(args, run, config)
    classification, seed = splits.blend.task == "classification", _setting(args, config, "seed", 0)
    ensemble = Ensemble(_members(args, run, splits, seed), combiner=args.combiner, select=args.select,
                        temperature=args.temperature and classification, num_members=args.num_members, seed=seed)
    ensemble.fit(splits)
    out = Path(args.out) if args.out else run / "ensemble"
    ensemble.save(out)
    table = ensemble.diversity(splits.blend)
    plot_diversity(table, out / "diversity.png")
    report = {"combiner": ensemble.combiner_name_, "blend_scores": ensemble.scores_, "weights": ensemble.weights_,
              "temperature": ensemble.temperature_, "fitted_on": args.blend_split, "diversity": table.to_dict()}
    if splits.test is not None:
        report["test"] = _test_metrics(ensemble, splits.test, classification)
    atomic_write_text(out / "metrics.json", json.dumps(report, indent=2) + "\n")
    _print_summary(report)
    print(f"ensemble: {out}  (ensemble.json, members/, metrics.json, diversity.png)")
    return 0


def _test_metrics(ensemble: Any, test: Any, classification: bool) -> dict[str, dict[str, float]]:
    """Every member's and the ensemble's test metrics, the test split read this once."""
    results = ensemble.evaluate(test, split="test")
    if classification:  # the CLI sits above uncertainty/, so it may add ECE and Brier from there
        from topnet.uncertainty.calibration import calibration_metrics

        outputs = {m.name: m.predict_split("test", test) for m in ensemble.members_}
        outputs["ensemble"] = ensemble.combine(outputs)
        results = {name: calibration_metrics(p, np.asarray(test.y)) for name, p in outputs.items()}
    return results


def _print_summary(report: dict[str, Any]) -> None:
    print(f"combiner: {report['combiner']}  (cross-fitted blend loss: "
          + ", ".join(f"{k} {v:.4f}" for k, v in report["blend_scores"].items()) + ")")
    if report["weights"]:
        print("weights: " + ", ".join(f"{k} {v:.3f}" for k, v in report["weights"].items()))
    for name, values in report.get("test", {}).items():
        print(f"test {name:<20} " + "  ".join(f"{k}: {v:.4f}" for k, v in values.items()))
