"""What a recipe returns: a `RecipeResult` table, and the helpers that fill and print it.

Every number in a recipe's table is a mean over seeds with its spread (the sample standard
deviation, ``±``), so a reader sees how much of a difference is noise. The table carries the
setting it was measured in (data, sizes, seeds, machine, date, torch version, threads), prints
as plain text or Markdown, and saves itself as ``table.md`` and ``result.json``.

Example:
    >>> result = RecipeResult("demo", "Two numbers", columns=["model", "accuracy"])
    >>> result.add_row("a", mean_spread([0.80, 0.84]))
    >>> result.rows
    [['a', '0.820 ± 0.028']]
    >>> print(result.to_markdown().splitlines()[2])
    | model | accuracy |
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

__all__ = ["RecipeResult", "mean_spread", "machine_setting"]


def mean_spread(values: Sequence[float], digits: int = 3, scale: float = 1.0) -> str:
    """``"mean ± sd"`` of ``values`` (times ``scale``); one value prints alone, none as ``"-"``.

    The spread is the sample standard deviation (``n - 1``), the seed-to-seed noise.

    Example:
        >>> mean_spread([0.1, 0.3]), mean_spread([2.0], digits=1), mean_spread([])
        ('0.200 ± 0.141', '2.0', '-')
    """
    values = [float(v) * scale for v in values]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def machine_setting(device: Any = "auto") -> dict[str, str]:
    """The machine a table was measured on: OS, CPU count, torch version and threads, device, date (UTC)."""
    from topnet.train import resolve_device

    return {
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "device": str(resolve_device(device)),
        "torch": f"{torch.__version__}, {torch.get_num_threads()} thread(s)",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


@dataclass
class RecipeResult:
    """A recipe's table: rows of formatted cells, the setting it was measured in, notes and files.

    Args:
        recipe: the recipe's name, e.g. ``"deep-dnn"``.
        title: one line saying what the table compares.
        columns: the column headers.
        rows: one list of cells (strings) per row; fill with `add_row`.
        setting: ``{name: value}`` of what was run (data, sizes, seeds, machine, date).
        notes: plain sentences printed under the table (what the numbers show, caveats).
        files: ``{what: path}`` of the files the recipe wrote (plots, logs, CSV).
        raw: the unformatted numbers, per model and seed (saved in ``result.json``).
    """

    recipe: str
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    setting: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def add_row(self, *cells: Any) -> None:
        """Append one row; cells are converted with ``str``.

        Raises:
            ValueError: the number of cells differs from the number of columns.
        """
        if len(cells) != len(self.columns):
            raise ValueError(f"add_row: got {len(cells)} cells; expected {len(self.columns)} "
                             f"(one per column {self.columns})")
        self.rows.append([str(cell) for cell in cells])

    def describe(self, seeds: Sequence[int], device: Any, **lines: str) -> None:
        """Set ``setting`` to the given lines (``data=...``, ``training=...``), the seeds and the machine."""
        self.setting = {**lines, "seeds": list(seeds), **machine_setting(device)}

    def to_markdown(self) -> str:
        """The title, the setting, the table and the notes as Markdown."""
        lines = [f"**{self.title}**", ""]
        lines += ["| " + " | ".join(self.columns) + " |", "|" + " --- |" * len(self.columns)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        lines += [""] + [f"- {key}: {value}" for key, value in self.setting.items()]
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        widths = [max(len(cells[i]) for cells in [self.columns, *self.rows]) for i in range(len(self.columns))]
        line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
        text = [self.title, "", line(self.columns), line(["-" * w for w in widths]), *map(line, self.rows), ""]
        text += [f"{key}: {value}" for key, value in self.setting.items()]
        text += [f"note: {note}" for note in self.notes]
        text += [f"file: {what}: {path}" for what, path in self.files.items()]
        return "\n".join(text)

    def save(self, out: str | os.PathLike) -> Path:
        """Write ``table.md`` and ``result.json`` into the folder ``out`` (created); return the folder."""
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "table.md").write_text(self.to_markdown())
        state = {key: getattr(self, key) for key in ("recipe", "title", "columns", "rows", "setting", "notes",
                                                     "files", "raw")}
        (folder / "result.json").write_text(json.dumps(state, indent=2, default=float))
        return folder
