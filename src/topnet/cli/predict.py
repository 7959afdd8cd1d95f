"""``topnet predict --run DIR INPUT``: the parser and the command (`topnet.pipeline.predict`).

Errors propagate to `topnet.cli.main`, which prints them and exits with code 2.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="topnet")
    >>> _ = add_predict_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["predict", "--run", "runs/fm", "images.npz", "--mc-samples", "30"])
    >>> args.run, args.input, args.mc_samples, args.out
    ('runs/fm', 'images.npz', 30, None)
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_predict_parser", "run_predict"]

_EPILOG = """INPUT: a .csv / .tsv / .parquet of rows with the training columns (runs on a table; the target
column and other extra columns are ignored, unseen categories read as missing); for runs on a
folder of images, a folder (every image in it, recursively), a manifest (.csv / .parquet with a
path column) or one image file, resized as the run resized its images (unreadable files are
skipped with a note); or for image and vector runs a .npz (array x, else x_test, else its only
array), a .npy or an IDX file, shaped (rows, *input_shape) as in RUN/dataset.json; raw values,
as the run read its data.

Columns: classification: row, [path], class, class_name, confidence, entropy, [mc_std], p_<class>...;
regression: row, prediction, std, [mc_std]. mc_std (with --mc-samples N): the standard
deviation over N MC dropout samples of the ensemble's probability of the predicted class (of
its prediction, for regression); members without dropout stay deterministic.

examples:
  topnet predict --run runs/fm t10k-images-idx3-ubyte.gz --out preds.csv
  topnet predict --run runs/price new_houses.csv --mc-samples 30 --out preds.csv
  topnet predict --run runs/fm images.npz            print the first rows and a summary
  topnet predict --run runs/photos new_photos/ --out preds.csv   one row per image file
"""


def add_predict_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``predict`` command to ``parser.add_subparsers()``'s result and return it."""
    parser = subparsers.add_parser("predict", help="predict with a finished run's ensemble, with uncertainty",
                                   formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG,
                                   description="Class, probabilities and uncertainty (or value and spread) for each "
                                               "input row or image, from the ensemble of a finished `topnet run`.")
    parser.add_argument("input", metavar="INPUT", help="a table (table runs); a folder, manifest or image file (image-folder runs); "
                        "or a .npz, .npy or IDX file of inputs")
    parser.add_argument("--run", required=True, help="the run directory (topnet run's --out)")
    parser.add_argument("--mc-samples", type=int, default=0,
                        help="MC dropout samples for network members with dropout (default 0: none)")
    parser.add_argument("--out", default=None, help="write the predictions CSV here (default: print the first rows)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--batch-size", type=int, default=256, help="rows per forward pass (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="fixes the MC dropout masks (default 0)")
    return parser


def run_predict(args: argparse.Namespace) -> int:
    """Run ``topnet predict``: notes to stderr, the table (or where it went) to stdout; returns 0."""
    from topnet.pipeline.predict import predict_run

    predictions = predict_run(args.run, args.input, mc_samples=args.mc_samples, out=args.out, device=args.device,
                              batch_size=args.batch_size, seed=args.seed)
    for note in predictions.notes:
        print(f"note: {note}", file=sys.stderr)
    if predictions.path is None:
        print(predictions.format())
    else:
        print(f"{predictions.summary()}\npredictions: {predictions.path}")
    return 0
