"""``CSVLogger``: one CSV row per epoch — ``epoch`` then the sorted log names."""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState
from topnet.errors import format_message
from topnet.io import atomic_write_text

__all__ = ["CSVLogger"]


class CSVLogger(Callback):
    """Append each epoch's logs to a CSV file: column ``epoch`` (0-based, as in Keras), then the log names sorted.

    ``append=False`` empties the file when training begins; ``append=True`` keeps what is there
    and adds rows under the existing header. Each row is written and closed at its epoch end, so
    the file is complete up to the last finished epoch even if the run is killed.

    A run resumed by ``BackupAndRestore`` (which sets ``state.extra["resumed"] = True`` and
    ``state.epoch`` in its ``on_fit_begin``, before this one's) appends even with
    ``append=False``, and first drops the rows of epochs ``>= state.epoch`` — they ran after
    the backup and will run again — by rewriting the file atomically.

    Differences from Keras: Keras keeps the columns of the first epoch it logs, drops log names
    that appear later, and, when appending, writes this run's columns under the old header
    whatever it was. Here the header is the union of all names seen, the file's existing header
    included: when a new name appears, the file is rewritten atomically with the wider header,
    and cells of names missing from a row hold ``NA`` (as in Keras). Lines end in ``\\n``.

    Args:
        filename: the CSV file (its folder is created).
        separator: the field separator.
        append: keep existing rows (True) or start an empty file (False).

    Example:
        >>> import tempfile, torch
        >>> from topnet.callbacks.state import TrainState
        >>> path = tempfile.mkdtemp() + "/log.csv"
        >>> logger, state = CSVLogger(path), TrainState(model=torch.nn.Linear(1, 1))
        >>> logger.on_fit_begin(state)
        >>> state.logs = {"loss": 0.5, "accuracy": 0.75}
        >>> logger.on_epoch_end(state)
        >>> print(open(path).read(), end="")
        epoch,accuracy,loss
        0,0.75,0.5
    """

    main_process_only = True  # writes files / prints: rank 0 only in data-parallel training

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False):
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(format_message("CSVLogger separator", separator, "one character",
                                            "try ',' or ';' or '\\t'"))
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = append
        self.keys: list[str] = []
        self._has_header = False

    def on_fit_begin(self, state: TrainState) -> None:
        path = Path(self.filename)
        resumed = bool(state.extra.get("resumed", False))
        if not (self.append or resumed) or not path.exists():
            self.keys, self._has_header = [], False
            atomic_write_text(path, "")
            return
        header, rows = self._read()
        self.keys, self._has_header = header[1:], bool(header)
        if resumed:
            kept = [row for row in rows if not _epoch_at_least(row.get("epoch"), state.epoch)]
            if len(kept) != len(rows):
                self._rewrite(kept)

    def on_epoch_end(self, state: TrainState) -> None:
        new = sorted(set(state.logs) - set(self.keys))
        if new or not self._has_header:
            _, rows = self._read()
            self.keys = sorted(set(self.keys) | set(new))
            self._rewrite(rows)
        row = {"epoch": state.epoch, **{k: state.logs.get(k, "NA") for k in self.keys}}
        with open(self.filename, "a", newline="", encoding="utf-8") as handle:
            self._writer(handle).writerow(row)

    def _writer(self, handle) -> csv.DictWriter:
        return csv.DictWriter(handle, fieldnames=["epoch", *self.keys], delimiter=self.separator,
                              lineterminator="\n", restval="NA", extrasaction="ignore")

    def _read(self) -> tuple[list[str], list[dict[str, str]]]:
        """The file's header and its rows as dicts (empty when the file is empty or missing)."""
        try:
            text = Path(self.filename).read_text(encoding="utf-8")
        except FileNotFoundError:
            return [], []
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=self.separator)
        rows = list(reader)
        return list(reader.fieldnames or []), rows

    def _rewrite(self, rows: list[dict[str, str]]) -> None:
        """Write the header (``epoch`` + ``self.keys``) and ``rows`` to the file atomically."""
        buffer = io.StringIO()
        writer = self._writer(buffer)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.filename, buffer.getvalue())
        self._has_header = True


def _epoch_at_least(value: str | None, epoch: int) -> bool:
    try:
        return int(value) >= epoch
    except (TypeError, ValueError):  # a row without a readable epoch is kept
        return False
