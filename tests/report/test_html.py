"""report.html: sections in order, inlined PNGs, escaping, redaction, notes for what a run lacks."""
from __future__ import annotations

import re

import pytest

from topnet.report.html import SECTIONS, build_report

SECTION_IDS = [key for key, _, _ in SECTIONS]


def _page(run) -> str:
    return (run / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("fixture", ["image_run", "regression_run", "partial_run"])
def test_sections_in_order_and_nothing_leaves_the_file(fixture, request, tools):
    page = _page(request.getfixturevalue(fixture))
    assert re.findall(r'<section id="([^"]+)"', page) == SECTION_IDS
    assert tools.external_references(page) == []
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "could not be drawn" not in page
    for uri in tools.image_sources(page):
        tools.decode_png(uri)


def test_image_classification_report(image_run, tools):
    page = _page(image_run)
    assert "not available in this run" not in page
    assert len(tools.image_sources(page)) == 9  # curves, LR, search, importances, weights, diversity, confusion, reliability, examples
    assert "93.33%" in page and "90.00%" in page and "9m 31s" in page and "10m 00s" in page
    assert "The test split was scored once, after every choice was made" in page
    for alt in ("confusion matrix", "reliability diagram", "least-sure examples", "diversity heat map"):
        assert f'alt="{alt}"' in page
    bought = page[page.index("What the search bought"):]
    assert bought.index("trial 3") < bought.index("92.00%") < bought.index("88.00%") < bought.index("89.50%")
    bias = page[page.index('id="selection-bias"'):]
    assert "92.00%" in bias and "90.00%" in bias and "2.00 points" in bias


def test_regression_report(regression_run, tools):
    page = _page(regression_run)
    assert "test RMSE" in page and "0.512" in page and "MAE 0.401" in page
    assert 'alt="confusion matrix"' not in page and "no confusion matrix" in page
    assert 'alt="predicted against true"' in page
    assert "not available in this run (lr_find.json missing)" in page
    assert "not available in this (regression) run" in page  # reliability
    assert "No per-member weights" in page  # stacking


def _test_scores_table(page: str) -> str:
    start = page.index("<th>test score</th>")
    return page[start:page.index("</table>", start)]


def test_every_test_score_is_in_the_headline_table(image_run, regression_run):
    table = _test_scores_table(_page(image_run))
    assert "best single model (resnet_a)" in table
    for label, ensemble, single in [("accuracy", "93.33%", "90.00%"), ("balanced accuracy", "92.11%", "88.99%"),
                                    ("macro F1", "0.9305", "0.895"), ("ROC AUC", "0.9871", "0.9702"),
                                    ("PR AUC (average precision)", "0.9712", "0.9433"), ("Brier", "0.1", "–")]:
        assert re.search(f"<td>{re.escape(label)}[^<]*</td><td class=n>{re.escape(ensemble)}</td>"
                         f"<td class=n>{re.escape(single)}</td>", table), label
    table = _test_scores_table(_page(regression_run))
    assert "<td>R²</td><td class=n>0.8312</td><td class=n>–</td>" in table  # best_single has no r2
    assert "<td>RMSE (lower is better)</td><td class=n>0.512</td><td class=n>0.6</td>" in table  # rmse from its mse


def test_an_undefined_test_score_says_why(tmp_path):
    import json

    why = "class 2 has no row in the split; ROC AUC needs a row of every class"
    scores = {"accuracy": 0.5, "roc_auc": None, "pr_auc": 0.7, "undefined": {"roc_auc": why}}
    (tmp_path / "metrics.json").write_text(json.dumps({"test": scores, "best_single": {"name": "m", **scores}}))
    page = build_report(tmp_path).read_text()
    assert "<td>ROC AUC</td><td class=n>undefined</td><td class=n>undefined</td>" in _test_scores_table(page)
    assert f"<li>ROC AUC: {why}</li>" in page


def test_partial_run_renders_with_notes(partial_run, tools):
    page = _page(partial_run)
    assert "80.00%" in page and len(tools.image_sources(page)) == 1  # the one learning curve
    for part in ("lr_find.json", "tune.json", "ensemble.json", "predictions/test.npz", "models.json"):
        assert f"{part} missing" in page
    assert page.count('class="note"') >= 8


def test_a_run_without_metrics_says_it_did_not_finish(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    page = build_report(tmp_path).read_text()
    assert "the run did not finish" in page and "metrics.json missing" in page


@pytest.mark.parametrize("fixture, evil", [("image_run", "EVIL_CLASS"), ("regression_run", "EVIL_COLUMN")])
def test_user_strings_are_escaped(fixture, evil, request, tools):
    page = _page(request.getfixturevalue(fixture))
    text = getattr(tools, evil)
    assert text not in page and "<script" not in page.lower()
    assert text.replace("<", "&lt;").replace(">", "&gt;") in page


@pytest.mark.parametrize("fixture", ["image_run", "regression_run", "partial_run"])
def test_storage_passwords_are_redacted(fixture, request, tools):
    page = _page(request.getfixturevalue(fixture))
    assert tools.PASSWORD not in page and "postgresql://alice:***@db.internal:5432/optuna" in page


def test_a_damaged_part_costs_only_its_section(tools, tmp_path):
    tools.write_partial_run(tmp_path)
    (tmp_path / "lr_find.json").write_text('{"lrs": [1, 2], "losses": "oops"}')
    page = build_report(tmp_path).read_text()
    lr = page[page.index('id="lr-finder"'):page.index('id="search"')]
    assert "could not be drawn" in lr and page.count("could not be drawn") == 1


def _poison(value, known: set[str]):
    """Every string value, and every key the schema does not name, with a script tag appended."""
    tag = "<script>alert(3)</script>"
    if isinstance(value, str):
        return value + tag
    if isinstance(value, dict):
        return {(k if k in known else k + tag): _poison(v, known) for k, v in value.items()}
    if isinstance(value, list):
        return [_poison(v, known) for v in value]
    return value


def test_no_string_from_the_run_reaches_the_page_unescaped(tools, tmp_path):
    import json
    import typing

    from topnet.report import schema

    known = {"name", "test"} | {k for t in (schema.DatasetInfo, schema.Metrics, schema.Phase, schema.LRFind, schema.Trial,
                                            schema.Tune, schema.ModelRow, schema.Models, schema.EnsembleSummary,
                                            schema.Calibration) for k in typing.get_type_hints(t)}
    known |= {"measures", "names", "losses", "lr_find", "search", "ensemble", "accuracy", "nll", "ece"}
    tools.write_image_run(tmp_path)
    for file in tmp_path.glob("*.json"):
        file.write_text(json.dumps(_poison(json.loads(file.read_text()), known)))
    text = (tmp_path / "histories" / "resnet_a.csv").read_text().replace("val_loss", "val_loss<script>x</script>", 1)
    (tmp_path / "histories" / "resnet_a<script>.csv").write_text(text)
    page = build_report(tmp_path).read_text()
    assert "<script" not in page.lower() and page.count("&lt;script&gt;") > 30
    assert tools.PASSWORD not in page


def test_reliability_is_measured_from_the_predictions_without_calibration_json(tools, tmp_path):
    from topnet.report.html import _reliability
    from topnet.report.schema import read_run
    from topnet.uncertainty.calibration import expected_calibration_error

    tools.write_image_run(tmp_path)
    (tmp_path / "calibration.json").unlink()
    run = read_run(tmp_path)
    section = _reliability(run)
    ece = expected_calibration_error(run.predictions["proba"], run.predictions["y_true"])
    assert "The temperature: not available in this run (calibration.json missing)" in section
    assert f"<td class=n>{ece:.4g}</td>" in section and 'alt="reliability diagram"' in section


def test_a_search_that_finished_no_trial_says_so_and_how_it_scored(tmp_path):
    """A short bagged run's search may finish no trial: the report still says how trials were
    scored and that retraining started from the baseline (it used to say nothing)."""
    import json

    tune = {"direction": "maximize", "metric": "accuracy",
            "trials": [{"number": 0, "state": "PRUNED", "value": None, "params": {"width": 32}}]}
    search = {"trials": 0, "zero_shot": False, "scored_on": "out-of-fold", "baseline_trial": None,
              "best_trial": None, "blend_baseline": 0.8, "blend_found": None}
    (tmp_path / "tune.json").write_text(json.dumps(tune))
    (tmp_path / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.8}, "search": search}))
    page = build_report(tmp_path).read_text()
    bought = page[page.index("What the search bought"):]
    assert "scored out of fold" in bought and "No trial finished in the search" in bought
    assert "1 trials (1 pruned)" in page
