"""``build_report``: one self-contained ``report.html`` from a run directory.

The page makes no request: figures are PNGs inlined as ``data:`` URIs, the CSS is inline, there
is no script, and a Content-Security-Policy (``default-src 'none'; img-src data:``) makes the
browser refuse anything else. Every string that came from the run (class, column and model
names, config values, paths) is redacted (``redact_url``) and HTML-escaped. Sections, in order:
headline (with a table of every test score, the ensemble's beside the best single model's),
learning curves, LR finder, search, ensemble, confusion matrix (regression: predicted against
true), reliability, least-sure examples, every model, selection bias, configuration.
A part the run lacks gets a "not available in this run" note instead of its section's body.

Example:
    >>> import json, tempfile; d = Path(tempfile.mkdtemp())
    >>> _ = (d / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.9}}))
    >>> page = build_report(d).read_text()
    >>> "90.00%" in page and "not available in this run" in page
    True
"""
from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from topnet.io import atomic_write_text
from topnet.report import plots
from topnet.report.schema import PREDICTIONS, RunData, read_run, redact, redact_url

__all__ = ["build_report", "render_report", "SECTIONS"]

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1d232a;
 background:#f6f7f9;margin:0}
main{max-width:1100px;margin:0 auto;padding:16px 24px 48px;background:#fff}
h1{font-size:1.6em;margin:.4em 0 .2em}h2{border-bottom:2px solid #e3e6ea;padding-bottom:.2em;margin-top:1.6em}
nav{font-size:.9em}nav a{margin-right:.9em;color:#2563a8;text-decoration:none;white-space:nowrap}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}th,td{border:1px solid #dde1e6;padding:3px 9px;text-align:left}
th{background:#f0f2f5}td.n{text-align:right;font-variant-numeric:tabular-nums}tr.hl td{background:#fff7d6}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #dde1e6;border-radius:8px;padding:10px 16px;min-width:200px}
.big{font-size:1.9em;font-weight:600}.small{color:#5b6570;font-size:.88em}
.note{background:#fdf3e1;border-left:4px solid #e0a030;padding:6px 12px}
.honest{background:#e8f2fb;border-left:4px solid #2563a8;padding:6px 12px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:12px;align-items:start}
img{max-width:100%;height:auto}pre{background:#f6f7f9;padding:8px;overflow-x:auto;font-size:.85em}
"""
_HONEST = ("The test split was scored once, after every choice was made: hyperparameters and the models kept were "
           "chosen on <b>valid</b>; ensemble weights, the combiner and the temperature were fitted on <b>blend</b>; "
           "<b>test</b> was read only for the numbers in this report.")
_NUM_LEAST_SURE = 12


def _e(value: Any) -> str:
    """A value from the run as safe HTML text: passwords redacted, then escaped."""
    return html.escape(redact_url(str(value)), quote=True)


def _num(value: Any, metric: str = "") -> str:
    """A score as text: accuracy in percent, others to 4 significant digits, "–" when missing."""
    value = value.item() if isinstance(value, np.generic) else value
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if not isinstance(value, (int, float)):
        return _e(value)
    return f"{100 * value:.2f}%" if metric in ("accuracy", "val_accuracy") else f"{value:.4g}"


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "–"
    seconds = int(round(seconds))
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m" if seconds >= 3600 else (
        f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s")


def _img(png: bytes, alt: str) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" alt="{_e(alt)}">'


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset(),
           highlight: set[int] = frozenset()) -> str:
    """A table of already-safe HTML cells; ``numeric`` columns align right, ``highlight`` rows are marked."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(f'<tr{" class=hl" if i in highlight else ""}>'
                   + "".join(f'<td{" class=n" if j in numeric else ""}>{c}</td>' for j, c in enumerate(row)) + "</tr>"
                   for i, row in enumerate(rows))
    return f"<table><tr>{head}</tr>{body}</table>"


def _missing(run: RunData, what: str, *files: str) -> str:
    why = "; ".join(f"{_e(f)} {_e(run.notes.get(f, 'missing'))}" for f in files)
    return f'<p class="note">{_e(what)}: not available in this run ({why}).</p>'


def _scores(scores: Any) -> dict[str, Any]:
    """A metrics dict with ``rmse`` added from ``mse`` when only that was written."""
    scores = dict(scores) if isinstance(scores, dict) else {}
    if "rmse" not in scores and isinstance(scores.get("mse"), (int, float)):
        scores["rmse"] = math.sqrt(scores["mse"])
    return scores


def _card(title: str, value: str, detail: str) -> str:
    return (f'<div class="card"><div class="small">{title}</div><div class="big">{value}</div>'
            f'<div class="small">{detail}</div></div>')


def _images_line(images: Any) -> str:
    """`` · images from DIR, resized to HxW (pad) · 2 unreadable files skipped`` for a folder of images."""
    if not isinstance(images, dict):
        return ""
    size = "x".join(str(n) for n in images.get("image_size") or [])
    line = f" · images from {_e(images.get('source', '?'))}, resized to {_e(size)} ({_e(images.get('fit', '?'))})"
    skipped = images.get("skipped") or []
    if skipped:
        shown = ", ".join(_e(item.get("path", "?")) for item in skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        line += f' · <span class="note">{len(skipped)} unreadable file{"s" * (len(skipped) > 1)} skipped: {shown}</span>'
    return line


def _headline(run: RunData) -> str:
    data, metrics = run.dataset or {}, run.metrics
    rows = ", ".join(f"{_e(k)} {_e(v)}" for k, v in (data.get("num_rows") or {}).items())
    about = f'<p class="small">{_e(run.task)}{" on " + _e(data["kind"]) + " data" if data.get("kind") else ""}' \
            f'{" · rows: " + rows if rows else ""}{_images_line(data.get("images"))}</p>'
    if metrics is None:
        return about + _missing(run, "Test scores (the run did not finish)", "metrics.json")
    test, single = _scores(metrics.get("test")), _scores(metrics.get("best_single"))
    keys = ["rmse", "mae"] if run.task == "regression" else ["accuracy", "nll", "ece"]
    main = next((k for k in keys if k in test), next(iter(test), keys[0]))

    def detail(scores: dict[str, Any]) -> str:
        shown = [k for k in keys if k in scores and k != main]
        return " · ".join(f"{k.upper() if k != 'accuracy' else k} {_num(scores[k], k)}" for k in shown)

    combiner = (run.ensemble or {}).get("combiner")
    name = main if main == "accuracy" else _e(main.upper()) + " (lower is better)" * (main in ("rmse", "mae", "mse", "nll"))
    cards = [_card(f"Ensemble, test {name}", _num(test.get(main), main),
                   (f"combiner: {_e(combiner)} · " if combiner else "") + detail(test)),
             _card(f"Best single model, test {name}", _num(single.get(main), main),
                   (f"{_e(single['name'])} · " if single.get("name") else "") + detail(single) if single
                   else "not in metrics.json")]
    budget, elapsed = metrics.get("budget_s"), metrics.get("elapsed_s")
    share = f"{100 * elapsed / budget:.0f}% of the budget" if isinstance(budget, (int, float)) and budget and \
        isinstance(elapsed, (int, float)) else ""
    cards.append(_card("Time used", f"{_duration(elapsed)} <span class=small>of {_duration(budget)}</span>", share))
    phases = metrics.get("phases") or {}
    table = _table(["phase", "budget given", "used", "status"],
                   [[_e(k), _duration(p.get("budget_s")), _duration(p.get("elapsed_s")), _e(p.get("status", ""))]
                    for k, p in phases.items() if isinstance(p, dict)], numeric={1, 2}) if phases else ""
    return (f'{about}<div class="cards">{"".join(cards)}</div><p class="honest">{_HONEST}</p>'
            f'{_test_scores(run.task, test, single)}{table}')


_TEST_SCORES = {  # metrics.json's keys (`topnet.report.schema.Metrics`), in the order shown, with their labels
    "classification": [("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy"), ("f1_macro", "macro F1"),
                       ("roc_auc", "ROC AUC"), ("pr_auc", "PR AUC (average precision)"),
                       ("nll", "NLL (lower is better)"), ("ece", "ECE (lower is better)"),
                       ("brier", "Brier (lower is better)")],
    "regression": [("rmse", "RMSE (lower is better)"), ("mae", "MAE (lower is better)"), ("r2", "R²")]}


def _test_scores(task: str, test: dict[str, Any], single: dict[str, Any]) -> str:
    """Every test score of the ensemble beside the best single model's; an undefined one says why."""
    shown = [(key, label) for key, label in _TEST_SCORES[task] if key in test or key in single]
    if not shown:
        return ""
    reasons = {**(single.get("undefined") or {}), **(test.get("undefined") or {})}
    labels = dict(_TEST_SCORES[task])

    def cell(scores: dict[str, Any], key: str) -> str:
        if key in scores and scores[key] is None and key in (scores.get("undefined") or {}):
            return "undefined"
        return _num(scores.get(key), "accuracy" if key == "balanced_accuracy" else key)

    name = f" ({_e(single['name'])})" if single.get("name") else ""
    rows = [[label, cell(test, key), cell(single, key)] for key, label in shown]
    why = "".join(f"<li>{_e(labels.get(k, k))}: {_e(v)}</li>" for k, v in reasons.items() if isinstance(v, str))
    return (_table(["test score", "ensemble", f"best single model{name}"], rows, numeric={1, 2})
            + (f'<p class="small">Undefined on this test split:</p><ul class="small">{why}</ul>' if why else ""))


def _learning_curves(run: RunData) -> str:
    if not run.histories:
        return _missing(run, "Learning curves", "histories/")
    names = ", ".join(_e(n) for n in run.histories)
    return (_img(plots.learning_curves(run.histories), "learning curves") +
            f'<p class="small">Training (dashed) and validation (solid) per epoch for: {names}.</p>')


def _lr_finder(run: RunData) -> str:
    found = run.lr_find or {}
    if not found.get("lrs"):
        return _missing(run, "The learning-rate range test", "lr_find.json")
    suggestions, rule = found.get("suggestions") or {}, found.get("rule")
    smoothed = found.get("smoothed_losses") or found["losses"]
    png = plots.lr_finder_curve(found["lrs"], found["losses"], smoothed, suggestions, rule)
    rows = [[_e(k), f"{v:.3g}", "✓" if k == rule else ""] for k, v in suggestions.items()]
    diverged = "The sweep stopped early when the loss blew up. " if found.get("diverged") else ""
    return (_img(png, "loss against learning rate") + f'<p class="small">{diverged}Training loss while the learning rate '
            f"grew exponentially, one batch per rate (Smith 2015). Solid line: the suggestion used.</p>"
            + _table(["rule", "suggested learning rate", "used"], rows, numeric={1}))


def _search(run: RunData) -> str:
    tune = run.tune or {}
    trials = [t for t in tune.get("trials") or [] if isinstance(t, dict)]
    gain = (run.metrics or {}).get("search")
    blend = "accuracy" if "accuracy" in (run.metrics or {}).get("test", {}) else "rmse"  # the models table's score
    if not trials and isinstance(gain, dict) and gain.get("zero_shot"):
        return _zero_shot_gain(gain, blend)
    if not trials:
        return _missing(run, "The search history", "tune.json")
    maximize, metric = tune.get("direction", "maximize") != "minimize", tune.get("metric", "value")
    states = [str(t.get("state", "")) for t in trials]
    counts = ", ".join(f"{states.count(s)} {_e(s.lower())}" for s in dict.fromkeys(states))
    numbers, values = [t.get("number", i) for i, t in enumerate(trials)], [t.get("value") for t in trials]
    figures = [_img(plots.search_history(numbers, values, states, maximize, metric), "search history")]
    importances = tune.get("importances") or {}
    figures.append(_img(plots.param_importances(importances), "parameter importances") if importances
                   else _missing(run, "Parameter importances", "tune.json importances"))
    complete = [t for t in trials if t.get("state") == "COMPLETE" and isinstance(t.get("value"), (int, float))]
    best = (max if maximize else min)(complete, key=lambda t: t["value"]) if complete else None
    text = f'<p>{len(trials)} trials ({counts}); {_e(metric)} is {"maximised" if maximize else "minimised"}.</p>'
    if best:
        text += f'<p>Best: trial {_e(best.get("number"))}, {_e(metric)} {_num(best["value"], metric)}, with:</p>'
        text += _table(["parameter", "value"], [[_e(k), _e(v)] for k, v in (best.get("params") or {}).items()])
    return text + _search_gain(gain, metric, blend) + f'<div class="grid">{"".join(figures)}</div>'


def _search_gain(gain: Any, metric: str, blend: str) -> str:
    """What the search bought: the baseline trial against the best (valid, ``metric``), then the
    members retrained from each on blend (``blend``: the models table's score;
    ``metrics.json["search"]``). Said whenever the search ran, a search that finished no trial too."""
    if not isinstance(gain, dict):
        return ""
    if gain.get("zero_shot"):
        return _zero_shot_gain(gain, blend)
    text = "<p><b>What the search bought.</b> "
    if gain.get("scored_on") == "out-of-fold":
        text += "The trials were scored out of fold, over every pooled row (the run is bagged). "
    if not gain.get("trials"):
        return text + ("No trial finished in the search's time: retraining started from the baseline configuration "
                       "(a larger <code>--budget</code> gives the search room).</p>")
    if gain.get("baseline_trial") is None:
        text += f"The baseline was not among the finished trials; the best trial scored {_num(gain.get('best_valid'), metric)}."
    elif gain.get("best_is_baseline"):
        text += (f"No trial beat the baseline (trial {_e(gain['baseline_trial'])}, {_e(metric)} "
                 f"{_num(gain.get('baseline_valid'), metric)}).")
    else:
        text += (f"Best trial {_e(gain.get('best_trial'))}: {_e(metric)} {_num(gain.get('best_valid'), metric)}, against "
                 f"the baseline's {_num(gain.get('baseline_valid'), metric)} (trial {_e(gain['baseline_trial'])}).")
    base, found = gain.get("blend_baseline"), gain.get("blend_found")
    if isinstance(base, (int, float)) and isinstance(found, (int, float)):
        text += (f" On blend, members retrained from the search's configurations score {_num(found, blend)} on "
                 f"average, from the baseline's {_num(base, blend)}.")
    elif isinstance(found, (int, float)):
        text += (f" On blend, the members retrained from the search's configurations score {_num(found, blend)} "
                 "on average.")
    return text + "</p>"


def _zero_shot_gain(gain: dict[str, Any], blend: str) -> str:
    """A zero-shot run (no trials): the members retrained from the portfolio against the baseline's, on blend."""
    text = ("<p><b>No search trials.</b> At this budget (images, or a bagged table, on a CPU under 30 "
            "minutes) the portfolio's configurations were trained directly beside the baseline "
            "(<code>search = \"auto\"</code>; <code>--set search=true</code> searches).")
    base, found = gain.get("blend_baseline"), gain.get("blend_found")
    if isinstance(base, (int, float)) and isinstance(found, (int, float)):
        text += (f" On blend, members from the portfolio score {_num(found, blend)} on average, "
                 f"from the baseline {_num(base, blend)}.")
    return text + "</p>"


def _ensemble(run: RunData) -> str:
    summary = run.ensemble
    if not summary:
        return _missing(run, "The ensemble", "ensemble.json")
    chosen, losses = summary.get("combiner"), summary.get("blend_loss") or {}
    members = ", ".join(_e(m) for m in summary.get("members") or [])
    out = f"<p>Members: {members}. Combiner chosen by cross-fitted blend loss: <b>{_e(chosen)}</b>.</p>"
    out += _table(["combiner", "blend loss"], [[_e(k), _num(v)] for k, v in losses.items()], numeric={1},
                  highlight={i for i, k in enumerate(losses) if k == chosen})
    weights = summary.get("weights")
    figures = [_img(plots.ensemble_weights(weights), "ensemble weights") if weights else
               f'<p class="note">No per-member weights: the chosen combiner ({_e(chosen)}) learns a model '
               "over the members.</p>"]
    diversity = summary.get("diversity") or {}
    figures.append(_img(plots.diversity_heatmap(diversity["names"], diversity["measures"]), "diversity heat map")
                   if diversity.get("measures") else _missing(run, "The diversity heat map", "ensemble.json diversity"))
    return out + f'<div class="grid">{"".join(figures)}</div><p class="small">Diversity on blend: members that err ' \
                 "together (error correlation near 1) add little to an average.</p>"


def _test_predictions(run: RunData) -> dict[str, np.ndarray] | None:
    """The test predictions, when they hold what the run's task needs."""
    arrays = run.predictions
    key = "y_pred" if run.task == "regression" else "proba"
    return arrays if arrays is not None and key in arrays else None


def _confusion(run: RunData) -> str:
    arrays = _test_predictions(run)
    if arrays is None:
        return _missing(run, "Test predictions", PREDICTIONS)
    if run.task == "regression":
        return ("<p>A regression run has no confusion matrix; each test row's prediction against its target:</p>"
                + _img(plots.predicted_vs_true(arrays["y_true"], arrays["y_pred"]), "predicted against true"))
    names = _class_names(run, arrays)
    png = plots.confusion_matrix(arrays["y_true"], arrays["proba"].argmax(axis=1), names)
    return _img(png, "confusion matrix") + '<p class="small">Counts on test; colour: share of the true class (row).</p>'


def _class_names(run: RunData, arrays: dict[str, np.ndarray]) -> list[str]:
    names = run.class_names
    count = max(arrays["proba"].shape[1], int(np.max(arrays["y_true"], initial=0)) + 1)
    return names + [str(i) for i in range(len(names), count)]


def _reliability(run: RunData) -> str:
    if run.task == "regression":
        return '<p class="note">Reliability diagrams are for classification; not available in this (regression) run.</p>'
    arrays = _test_predictions(run)
    if arrays is None:
        return _missing(run, "The reliability diagram", PREDICTIONS)
    from topnet.uncertainty.calibration import calibration_metrics

    before, after = arrays.get("proba_uncalibrated"), arrays["proba"]
    calibration = run.calibration or {}
    y_true, measured = arrays["y_true"], {}  # ECE/NLL/Brier from calibration.json, else measured here
    measured["before"] = calibration.get("before") or (calibration_metrics(before, y_true) if before is not None else {})
    measured["after"] = calibration.get("after") or calibration_metrics(after, y_true)
    labels = {"ece": "ECE", "nll": "NLL", "brier": "Brier"}
    rows = [[label] + [_num(measured[when].get(key)) for when in measured] for key, label in labels.items()]
    temperature = calibration.get("temperature")
    text = (f"<p>Temperature scaling, fitted on {_e(calibration.get('fitted_on', 'blend'))}: T = {_num(temperature)}.</p>"
            if temperature is not None else _missing(run, "The temperature", "calibration.json"))
    return (f'<div class="grid">{_img(plots.reliability_diagram(arrays["y_true"], after, before), "reliability diagram")}'
            f'<div>{text}{_table(["on test", "before", "after"], rows, numeric={1, 2})}</div></div>')


def _least_sure(run: RunData) -> str:
    arrays = _test_predictions(run)
    if arrays is None:
        return _missing(run, "Least-sure examples", PREDICTIONS)
    y_true = arrays["y_true"]
    if run.task == "regression":
        spread = arrays.get("y_std")
        score = spread if spread is not None else np.abs(arrays["y_pred"] - y_true)
        order = np.argsort(-score, kind="stable")[:_NUM_LEAST_SURE]
        header = ["test row", "true", "predicted", "std" if spread is not None else "|error|"]
        rows = [[str(i), _num(float(y_true[i])), _num(float(arrays["y_pred"][i])), _num(float(score[i]))] for i in order]
        intro = ("The rows with the widest predictive spread (std)." if spread is not None else
                 '<span class="note">No y_std in the predictions: showing the largest errors instead.</span>')
    else:
        proba = arrays["proba"]
        entropy = -np.sum(proba * np.log(np.clip(proba, 1e-12, 1.0)), axis=1)  # nats
        order = np.argsort(-entropy, kind="stable")[:_NUM_LEAST_SURE]
        names = _class_names(run, arrays)
        labels = [(names[int(y_true[i])], names[int(proba[i].argmax())]) for i in order]
        header = ["test row", "true", "predicted", "confidence", "entropy (nats)"]
        rows = [[str(i), _e(true), _e(predicted), _num(float(proba[i].max())), _num(float(entropy[i]))]
                for i, (true, predicted) in zip(order, labels)]
        intro = "The test rows whose predicted distribution has the highest entropy."
    images, features = _inputs(arrays, order)
    if images is not None and run.task != "regression":
        shown = [k for k, image in enumerate(images) if image is not None]
        png = plots.least_sure_images([images[k] for k in shown], [labels[k][0] for k in shown],
                                      [labels[k][1] for k in shown], [float(entropy[order[k]]) for k in shown])
        if "sample_path" in arrays:  # a folder of images: name each row's file
            where = {int(i): str(p) for i, p in zip(arrays["sample_index"], arrays["sample_path"])}
            header, rows = header + ["file"], [row + [_e(where.get(int(i), ""))] for i, row in zip(order, rows)]
        return f"<p>{intro} Wrong predictions in red.</p>" + _img(png, "least-sure examples") + _table(header, rows)
    if features is not None and features.dtype.kind == "U":  # texts: the start of each
        header, rows = header + ["text"], [row + [_e(str(features[k])[:200])] for k, row in enumerate(rows)]
        return f"<p>{intro}</p>" + _table(header, rows, numeric={0, 3, 4})
    if features is not None:
        columns = list((run.dataset or {}).get("feature_names") or [])
        columns += [f"x{j}" for j in range(len(columns), features.shape[1])]
        header += [_e(c) for c in columns[:8]]
        rows = [row + [_num(v) for v in features[k][:8]] for k, row in enumerate(rows)]
    return f"<p>{intro}</p>" + _table(header, rows, numeric=set(range(1, len(header))))


def _inputs(arrays: dict[str, np.ndarray], order: np.ndarray) -> tuple[list | None, np.ndarray | None]:
    """(image per chosen row or None, tabular feature rows) from ``x`` or ``x_sample``."""
    if "x" in arrays:
        chosen = [arrays["x"][i] for i in order]
    elif "x_sample" in arrays:
        where = {int(i): k for k, i in enumerate(arrays["sample_index"])}
        chosen = [arrays["x_sample"][where[i]] if i in where else None for i in order]
    else:
        return None, None
    if any(c is not None and np.ndim(c) >= 2 for c in chosen):
        return chosen, None
    return None, (np.stack(chosen) if all(c is not None for c in chosen) else None)


def _models(run: RunData) -> str:
    table = run.models or {}
    models = [m for m in table.get("models") or [] if isinstance(m, dict)]
    if not models:
        return _missing(run, "The table of models", "models.json")
    metric, members = table.get("metric", "score"), set((run.ensemble or {}).get("members") or [])
    splits = ["valid", "blend"] + (["oof"] if any("oof" in m for m in models) else []) + ["test"]
    rows = [[_e(m.get("name")) + (" ★" if m.get("name") in members else ""), _e(m.get("family", "")),
             f"{m['num_params']:,}" if isinstance(m.get("num_params"), int) else "–"]
            + [_num(m.get(split), metric) for split in splits] for m in models]
    test = _scores((run.metrics or {}).get("test"))
    if metric in test:
        combiner = _e((run.ensemble or {}).get("combiner", ""))
        oof = [_num((table.get("ensemble") or {}).get("oof"), metric)] if "oof" in splits else []
        rows.append([f"ensemble ({combiner})", "", "", "–", "–", *oof, _num(test[metric], metric)])
    selected = _selected(table, models)
    note = (" out-of-fold: every row of train, valid and blend, scored by fold models that never trained on it "
            "(a bagged run; valid and blend are out-of-fold too)." if "oof" in splits else "")
    headers = ["model", "family", "parameters", *splits[:2], *(["out-of-fold"] if "oof" in splits else []), "test"]
    return (f'<p>Scores are {_e(metric)}. ★: an ensemble member; highlighted: the model selection picked on valid.'
            f'{note}</p>'
            + _table(headers, rows, numeric=set(range(2, len(headers))),
                     highlight={i for i, m in enumerate(models) if selected is m}))


def _selected(table: dict[str, Any], models: list[dict[str, Any]]) -> dict[str, Any] | None:
    named = [m for m in models if m.get("name") == table.get("selected")]
    scored = [m for m in models if isinstance(m.get("valid"), (int, float))]
    if named or not scored:
        return named[0] if named else None
    return (max if table.get("greater_is_better", True) else min)(scored, key=lambda m: m["valid"])


def _selection_bias(run: RunData) -> str:
    table = run.models or {}
    chosen = _selected(table, [m for m in table.get("models") or [] if isinstance(m, dict)])
    if chosen is None:
        return _missing(run, "The selection-bias check", "models.json")
    metric, valid, blend = table.get("metric", "score"), chosen.get("valid"), chosen.get("blend")
    if not isinstance(blend, (int, float)) or not isinstance(valid, (int, float)):
        return f'<p class="note">{_e(chosen.get("name"))} has no blend score: not available in this run.</p>'
    gap = f"{100 * (valid - blend):.2f} points" if metric == "accuracy" else _num(valid - blend)
    return (f"<p>The model picked on valid, <b>{_e(chosen.get('name'))}</b>, scored {_e(metric)} {_num(valid, metric)} on "
            f"valid and {_num(blend, metric)} on blend, data no choice was made on: a gap of {gap}. "
            "Part of any model's lead on valid is luck on that split; the blend score is the fairer estimate.</p>")


def _configuration(run: RunData) -> str:
    out = (f"<h3>Resolved configuration</h3><pre>{_e(json.dumps(redact(run.config), indent=2, default=str))}</pre>"
           if run.config is not None else _missing(run, "The configuration", "config.json"))
    environment = run.environment
    out += _table(["environment", ""], [[_e(k), _e(v)] for k, v in redact(environment).items()]) if environment \
        else _missing(run, "The environment", "environment.json")
    return out


SECTIONS: list[tuple[str, str, Callable[[RunData], str]]] = [
    ("headline", "Headline", _headline), ("learning-curves", "Learning curves", _learning_curves),
    ("lr-finder", "Learning-rate finder", _lr_finder), ("search", "Search history", _search),
    ("ensemble", "Ensemble", _ensemble), ("confusion", "Confusion matrix", _confusion),
    ("reliability", "Reliability", _reliability), ("least-sure", "Least-sure examples", _least_sure),
    ("models", "Every model", _models), ("selection-bias", "Selection bias", _selection_bias),
    ("configuration", "Configuration", _configuration)]


def render_report(run: RunData) -> str:
    """The report page for ``run`` (see the module docstring for its sections)."""
    title = _e((run.dataset or {}).get("name") or (run.config or {}).get("data") or run.path.name)
    nav = " ".join(f'<a href="#{key}">{heading}</a>' for key, heading, _ in SECTIONS)
    parts = []
    for key, heading, section in SECTIONS:
        try:
            body = section(run)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:  # a damaged part
            body = f'<p class="note">This section could not be drawn from the run\'s files ({_e(error)}).</p>'
        parts.append(f'<section id="{key}"><h2>{heading}</h2>{body}</section>')
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>topnet run: {title}</title><style>{_CSS}</style></head>"
            f"<body><main><h1>topnet run: {title}</h1><nav>{nav}</nav>{''.join(parts)}</main></body></html>\n")


def build_report(run_dir: str | Path) -> Path:
    """Read ``run_dir`` and write ``run_dir/report.html`` atomically; return its path.

    Raises:
        FileNotFoundError: ``run_dir`` does not exist.
        ValueError: it holds none of the run files.
    """
    run = read_run(run_dir)
    target = Path(run_dir) / "report.html"
    atomic_write_text(target, render_report(run))
    return target
