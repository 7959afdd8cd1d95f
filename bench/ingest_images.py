"""How fast does `read_image_folder` ingest a folder of PNG files, first and cached?

Writes N Fashion-MNIST images (train, then test; Debian's files via ``load("fashion-mnist")``)
as 28x28 grayscale PNG files in one subfolder per class, then measures, side by side in one
run, over ``--repeats`` runs each:

1. plain loop: one process, ``Image.open(path).convert("L")`` and ``np.asarray`` into a
   preallocated ``(n, 1, 28, 28)`` array, the file list given (no listing, no cache);
2. first load: ``read_image_folder`` with an empty cache folder, on every core (lists the folder,
   reads headers, decodes into the cache);
3. cached load: ``read_image_folder`` again on that cache (stats the files, decodes nothing).

Also the JPEG draft gain: ``--jpegs`` large (1024x768) JPEG files decoded to 64x64 by
`decode_image` with and without ``Image.draft`` (one process). Printed: median images/s
[min-max] over repeats, a machine line, and the speed ratios. The files are read from the OS
page cache (just written), as on a second epoch of a real run; a cold disk is slower for both.

    python bench/ingest_images.py                              # 70000 images, 3 repeats
    python bench/ingest_images.py --images 2000 --repeats 1    # smoke test
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import PIL
from PIL import Image

from topnet.data import image_decode, load
from topnet.data.image_cache import cpu_count
from topnet.data.image_folder import read_image_folder


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=70_000, help="Fashion-MNIST images written as PNG (<= 70000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--jpegs", type=int, default=200, help="large JPEG files for the draft measurement (0: skip)")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--workdir", help="folder for the images and caches (default: a temporary folder)")
    return parser.parse_args()


def machine() -> str:
    model = "unknown CPU"
    if os.path.exists("/proc/cpuinfo"):
        model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                     model)
    return (f"machine: {datetime.datetime.now().isoformat(timespec='seconds')}; nproc {cpu_count()}; {model}; "
            f"Pillow {PIL.__version__}")


def write_pngs(root: Path, count: int) -> list[Path]:
    data = load("fashion-mnist")
    x = np.concatenate([data.train.x, data.test.x])[:count]  # (n, 1, 28, 28)
    y = np.concatenate([data.train.y, data.test.y])[:count]
    names = [name.replace("/", "-") for name in data.train.class_names]
    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (image, label) in enumerate(zip(x, y)):
        path = root / names[label] / f"{i:05d}.png"
        Image.fromarray(image[0]).save(path)
        paths.append(path)
    return paths


def plain_loop(paths: list[Path]) -> np.ndarray:
    pixels = np.empty((len(paths), 1, 28, 28), np.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            pixels[i, 0] = np.asarray(image.convert("L"))
    return pixels


def timed(function, *args, **kwargs) -> float:
    started = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - started


def summary(name: str, seconds: list[float], count: int) -> dict:
    rates = [count / s for s in seconds]
    print(f"{name:>28}: {statistics.median(rates):10.0f} images/s [{min(rates):.0f}-{max(rates):.0f}]  "
          f"({statistics.median(seconds):.2f} s)")
    return {"images_per_s": statistics.median(rates), "min": min(rates), "max": max(rates), "seconds": seconds}


def ingest(root: Path, work: Path, paths: list[Path], repeats: int) -> dict:
    times: dict[str, list[float]] = {"plain loop (1 process)": [], "first load (empty cache)": [],
                                     "cached load": []}
    for repeat in range(repeats):  # interleaved, so drift in the machine's speed hits all alike
        cache = work / f"cache-{repeat}"
        times["plain loop (1 process)"].append(timed(plain_loop, paths))
        times["first load (empty cache)"].append(timed(read_image_folder, root, cache_dir=cache))
        times["cached load"].append(timed(read_image_folder, root, cache_dir=cache))
        shutil.rmtree(cache)
    return {name: summary(name, seconds, len(paths)) for name, seconds in times.items()}


def jpeg_draft(work: Path, count: int, repeats: int) -> dict:
    folder = work / "jpegs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    base = np.asarray(Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).resize((1024, 768)))
    paths = []
    for i in range(count):
        paths.append(folder / f"{i}.jpg")
        Image.fromarray(np.roll(base, i, axis=1)).save(paths[-1], quality=90)
    draft = image_decode._draft

    def decode_all() -> None:
        for path in paths:
            image_decode.decode_image(path, 64, "pad", 3)

    times: dict[str, list[float]] = {"JPEG 1024x768 -> 64, draft": [], "JPEG 1024x768 -> 64, full": []}
    try:
        for _ in range(repeats):
            image_decode._draft = draft
            times["JPEG 1024x768 -> 64, draft"].append(timed(decode_all))
            image_decode._draft = lambda *args: None
            times["JPEG 1024x768 -> 64, full"].append(timed(decode_all))
    finally:
        image_decode._draft = draft
    return {name: summary(name, seconds, count) for name, seconds in times.items()}


def main() -> None:
    args = parse()
    print(machine())
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="ingest-images-"))
    work.mkdir(parents=True, exist_ok=True)
    root = work / "fashion"
    if root.exists():
        shutil.rmtree(root)
    started = time.perf_counter()
    paths = write_pngs(root, args.images)
    print(f"wrote {len(paths)} PNG files to {root} in {time.perf_counter() - started:.0f} s; "
          f"{args.repeats} repeats; read_image_folder on {cpu_count()} processes")
    results = ingest(root, work, paths, args.repeats)
    if args.jpegs:
        results.update(jpeg_draft(work, args.jpegs, args.repeats))
    rate = {name: result["images_per_s"] for name, result in results.items()}
    first = rate["first load (empty cache)"]
    line = (f"images/s ratios: plain-loop/first-load {rate['plain loop (1 process)'] / first:.2f}, "
            f"cached/first-load {rate['cached load'] / first:.1f}")
    if args.jpegs:
        line += f", JPEG draft/full {rate['JPEG 1024x768 -> 64, draft'] / rate['JPEG 1024x768 -> 64, full']:.1f}"
    print(line)
    if args.json:
        summary_json = {"machine": machine(), "images": len(paths), "results": results}
        Path(args.json).write_text(json.dumps(summary_json, indent=1))
    if not args.workdir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
