"""Loading a large table: topnet's pyarrow reader against pyarrow, pandas and the old row-by-row reader.

Writes one table (``rows`` rows: 20 float columns with 2% missing, 3 string columns of 10, 100
and 1000 values, a float target) as CSV and Parquet in a temporary folder, then times, side by
side and in alternating order, each loader in a fresh subprocess:

* ``pyarrow``: ``pyarrow.csv.read_csv`` alone (a pyarrow Table, no conversion to arrays);
* ``pandas``: ``pandas.read_csv`` (a DataFrame);
* ``legacy``: topnet's stdlib-csv ``read_csv`` before pyarrow (bench/_legacy_csv.py);
* ``read_csv``: topnet's ``read_csv`` of the CSV file;
* ``parquet``: topnet's ``read_table`` of the Parquet file.

Peak memory is the child's ``ru_maxrss`` minus that of a child that only imported the same
modules. A child's ``ru_maxrss`` starts at its parent's resident size (Linux records the
pre-``exec`` high-water mark), so the parent imports nothing heavy: the table is written and the
machine line made in children too; call `bench_tables` from a small process.

Printed per loader: median [min-max] seconds and peak MiB, and the size of what it returns; the
last line gives read_csv / pyarrow (time) and read_csv's peak / its final arrays.

    python bench/ingest_tables.py --rows 200000 --repeats 1     # smoke test
    python bench/ingest_tables.py                               # 1M rows, 3 repeats
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOADERS = ("pyarrow", "pandas", "legacy", "read_csv", "parquet")
MODULES = ("numpy", "pandas", "pyarrow", "pyarrow.csv", "pyarrow.parquet", "pyarrow.compute", "topnet.data.csv",
           "topnet.data.table", "_legacy_csv")


def write_table(folder: Path, rows: int, seed: int = 0) -> tuple[Path, Path]:
    """The benchmark table as ``folder/table.csv`` and ``folder/table.parquet``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    columns = {}
    for j in range(20):
        columns[f"x{j}"] = pa.array(np.round(rng.normal(size=rows), 4), mask=rng.random(rows) < 0.02)
    for j, size in enumerate((10, 100, 1000)):
        names = np.array([f"cat{j}_{i}" for i in range(size)])
        columns[f"c{j}"] = pa.array(names[rng.zipf(1.5, rows) % size])  # a few frequent values, a long tail
    columns["y"] = pa.array(np.round(rng.normal(size=rows), 4))
    table = pa.table(columns)
    pcsv.write_csv(table, folder / "table.csv")
    pq.write_table(table, folder / "table.parquet")
    return folder / "table.csv", folder / "table.parquet"


def _load(loader: str, folder: Path) -> int:
    """Run one loader; the bytes of what it returns."""
    csv, parquet = folder / "table.csv", folder / "table.parquet"
    if loader == "pyarrow":
        import pyarrow.csv
        return pyarrow.csv.read_csv(csv).nbytes
    if loader == "pandas":
        import pandas
        return int(pandas.read_csv(csv).memory_usage(deep=True).sum())
    if loader == "baseline":
        return 0
    if loader == "legacy":
        import _legacy_csv
        data = _legacy_csv.read_csv(csv, target="y")
    elif loader == "read_csv":
        from topnet.data.csv import read_csv
        data = read_csv(csv, target="y")
    else:
        from topnet.data.table import read_table
        data = read_table(parquet, target="y")
    return sum(array.nbytes for array in data.x.values()) + data.y.nbytes


def _child(loader: str, folder: Path) -> None:
    """In a fresh process: import MODULES, run ``loader`` once, print seconds, ru_maxrss and bytes as JSON."""
    import importlib

    for module in MODULES:
        importlib.import_module(module)
    start = time.perf_counter()
    nbytes = _load(loader, folder)
    seconds = time.perf_counter() - start
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({"seconds": seconds, "maxrss": maxrss, "nbytes": nbytes}))


def _run(*args: str) -> str:
    """The last line this script prints when run with ``args`` in a fresh process."""
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], capture_output=True, text=True,
                          check=True)
    return (done.stdout.splitlines() or [""])[-1]


def bench_tables(rows: int = 1_000_000, repeats: int = 3, workdir: str | None = None) -> list[dict]:
    """Time and peak memory of each loader, ``repeats`` runs each in alternating order.

    Returns:
        One dict per run: ``loader``, ``repeat``, ``seconds``, ``peak_bytes`` (ru_maxrss above
        the import-only baseline) and ``nbytes`` (the size of what the loader returns).
    """
    with tempfile.TemporaryDirectory(dir=workdir) as name:
        folder = Path(name)
        _run("--write", name, str(rows))
        results = []
        for repeat in range(repeats):
            order = LOADERS if repeat % 2 == 0 else LOADERS[::-1]
            baseline = json.loads(_run("--child", "baseline", name))["maxrss"]
            for loader in order:
                run = json.loads(_run("--child", loader, name))
                results.append({"loader": loader, "repeat": repeat, "seconds": run["seconds"],
                                "peak_bytes": run["maxrss"] - baseline, "nbytes": run["nbytes"]})
        return results


def _spread(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}-{max(values):{fmt}}]"


def summary(results: list[dict]) -> list[str]:
    """One line per loader, and the last line: the ratios the budget is stated in."""
    mib = 2 ** 20
    lines = []
    for loader in LOADERS:
        runs = [r for r in results if r["loader"] == loader]
        lines.append(f"{loader:>9}: {_spread([r['seconds'] for r in runs], '.2f')} s   peak "
                     f"{_spread([r['peak_bytes'] / mib for r in runs], '.0f')} MiB   returns "
                     f"{runs[0]['nbytes'] / mib:.0f} MiB")
    seconds = {loader: statistics.median(r["seconds"] for r in results if r["loader"] == loader) for loader in LOADERS}
    new = [r for r in results if r["loader"] == "read_csv"]
    memory = statistics.median(r["peak_bytes"] / r["nbytes"] for r in new)
    parquet = statistics.median(r["peak_bytes"] / r["nbytes"] for r in results if r["loader"] == "parquet")
    lines.append(f"read_csv / pyarrow time {seconds['read_csv'] / seconds['pyarrow']:.2f}x (budget 2); read_csv peak / "
                 f"final arrays {memory:.2f}x (budget 3); parquet peak / final arrays {parquet:.2f}x; legacy / "
                 f"read_csv time {seconds['legacy'] / seconds['read_csv']:.1f}x")
    return lines


def _machine_line(extra: str) -> None:
    import numpy
    import pandas
    import pyarrow
    from _side_venv import machine_line

    print(machine_line("ingest_tables", f"pyarrow {pyarrow.__version__}, pandas {pandas.__version__}, "
                                        f"numpy {numpy.__version__}; {extra}"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write every run to this JSON file")
    parser.add_argument("--child", nargs=2, metavar=("LOADER", "FOLDER"), help=argparse.SUPPRESS)
    parser.add_argument("--write", nargs=2, metavar=("FOLDER", "ROWS"), help=argparse.SUPPRESS)
    parser.add_argument("--machine", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child[0], Path(args.child[1]))
    if args.write:
        write_table(Path(args.write[0]), int(args.write[1]))
        return None
    if args.machine:
        return _machine_line(args.machine)
    print(_run("--machine", f"{args.rows} rows x {args.repeats} repeats"))
    results = bench_tables(args.rows, args.repeats)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print("\n".join(summary(results)))


if __name__ == "__main__":
    main()
