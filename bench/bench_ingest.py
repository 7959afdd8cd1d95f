"""B7: getting the user's own data in — a folder of PNGs and a 1M-row table — side by side.

Images (``--images N``, 70,000 by default: all of Fashion-MNIST, from Debian's files, written
as PNGs in one subfolder per class in a temporary folder), median [min-max] over ``--repeats``:

* `ingest_images.py`: a plain single-process Pillow loop, `read_image_folder` with an empty
  cache (decoded on every core into the uint8 cache), and again (the cache: no image file is
  read), and the JPEG draft gain;
* Keras 3's ``image_dataset_from_directory``, one pass, in ``bench/.venv-keras`` (as B1);
* one training epoch of ``small_convnet`` from the memory-mapped cache against the same
  pixels in memory (`ingest_epoch.epoch_times`; goal: within 1.1x).

Tables: `ingest_tables.py` (1,000,000 rows: topnet's ``read_csv`` / ``read_table``
against pyarrow, pandas and the old row-by-row reader, time and peak memory).

    python bench/bench_ingest.py --images 2000 --rows 100000 --repeats 1 --epochs-on 2000   # smoke test
    python bench/bench_ingest.py                                                            # the full run

Each part prints its own lines; the last line gives first load / plain Pillow loop (time) and
epoch memmap / in-memory.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from _side_venv import machine_line  # noqa: E402
from ingest_epoch import describe, epoch_times, keras_first_load  # noqa: E402


def _script(name: str, *args: str) -> dict:
    """Run ``bench/NAME.py`` (its own process, as its memory figures need) and read its --json file."""
    with tempfile.NamedTemporaryFile(suffix=".json") as handle:
        done = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), *args, "--json", handle.name],
                              capture_output=True, text=True)
        print(done.stdout.rstrip(), flush=True)
        if done.returncode != 0:
            print(f"{name} failed: {done.stderr[-2000:]}", flush=True)
            return {}
        return json.loads(Path(handle.name).read_text() or "{}")


def bench_images(count: int, repeats: int, epochs_on: int, workdir: Path) -> tuple[dict, list[dict]]:
    """`ingest_images.py`'s loads, then Keras's loader and the epoch rows on the same folder."""
    from topnet.data import read_image_folder

    loads = _script("ingest_images", "--images", str(count), "--repeats", str(repeats), "--workdir", str(workdir))
    folder = workdir / "fashion"
    rows = [keras_first_load(folder, 28, 1, repeats)]
    train = read_image_folder(folder, cache_dir=workdir / "cache-epochs").train
    rows += epoch_times(train.x[:epochs_on], train.y[:epochs_on], repeats)
    return loads, rows


def _median(results: list[dict], prefix: str) -> float | None:
    row = next((r for r in results if r["name"].startswith(prefix) and r.get("seconds")), None)
    return statistics.median(row["seconds"]) if row else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=70_000, help="PNG files to write and load")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the table part (0: skip it)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs-on", type=int, default=60_000, help="images the epoch rows train on")
    parser.add_argument("--json", default=None, help="write every measurement here")
    args = parser.parse_args(argv)
    print(machine_line("B7 bench_ingest", f"{args.images} PNGs, {args.rows} table rows, {args.repeats} repeats"),
          flush=True)
    with tempfile.TemporaryDirectory(prefix="topnet-b7-") as work:
        loads, images = bench_images(args.images, args.repeats, args.epochs_on, Path(work))
    for row in images:
        print(describe(row), flush=True)
    tables = _script("ingest_tables", "--rows", str(args.rows), "--repeats", str(args.repeats)) if args.rows else {}
    if args.json:
        Path(args.json).write_text(json.dumps({"loads": loads, "images": images, "tables": tables}, indent=1))
    rate = {name: result["images_per_s"] for name, result in (loads.get("results") or {}).items()}
    if rate:
        print(f"ratios: first load / plain Pillow loop (time) "
              f"{rate['plain loop (1 process)'] / rate['first load (empty cache)']:.2f}", end="; ")
    disk = _median(images, "one epoch, small_convnet, from the memory")
    memory = _median(images, "one epoch, small_convnet, from the in-memory")
    print(f"epoch memmap / in-memory {disk / memory:.2f}")


if __name__ == "__main__":
    main()
