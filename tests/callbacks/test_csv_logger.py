"""CSVLogger: Keras's columns, append, a resumed run's rows, and names that appear late."""
import csv

import pytest
import torch

from topnet.callbacks.csv_logger import CSVLogger
from topnet.callbacks.state import TrainState


def make_state():
    model = torch.nn.Linear(2, 1)
    return TrainState(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=10)


def run(logger, logs_per_epoch, start=0, resumed=False):
    """Drive the hooks; a resumed run has state.epoch and extra["resumed"] set before on_fit_begin,
    as BackupAndRestore (listed before the user's callbacks) does."""
    state = make_state()
    state.epoch = start
    if resumed:
        state.extra["resumed"] = True
    logger.on_fit_begin(state)
    for epoch, logs in enumerate(logs_per_epoch, start=start):
        state.epoch = epoch
        logger.on_epoch_begin(state)
        state.logs = dict(logs)
        logger.on_epoch_end(state)
    logger.on_fit_end(state)


def rows(path, delimiter=","):
    with open(path, newline="") as handle:
        return list(csv.reader(handle, delimiter=delimiter))


def epoch_logs(*losses):
    return [{"val_loss": 2 * loss, "loss": loss, "accuracy": 1 - loss} for loss in losses]


def test_epoch_then_sorted_keys_one_row_per_epoch(tmp_path):
    path = tmp_path / "log.csv"
    run(CSVLogger(path), epoch_logs(0.5, 0.25))
    assert rows(path) == [["epoch", "accuracy", "loss", "val_loss"],
                          ["0", "0.5", "0.5", "1.0"], ["1", "0.75", "0.25", "0.5"]]


def test_each_row_is_on_disk_when_its_epoch_ends(tmp_path):
    path = tmp_path / "log.csv"
    logger, state = CSVLogger(path), make_state()
    logger.on_fit_begin(state)
    state.logs = {"loss": 0.5}
    logger.on_epoch_end(state)
    assert rows(path) == [["epoch", "loss"], ["0", "0.5"]]  # before on_fit_end


def test_append_false_overwrites(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("old,content\n1,2\n")
    logger = CSVLogger(path)
    state = make_state()
    logger.on_fit_begin(state)
    assert path.read_text() == ""  # emptied when training begins, as in Keras
    run(logger, epoch_logs(0.5))
    assert rows(path)[1:] == [["0", "0.5", "0.5", "1.0"]]


def test_append_true_continues_under_the_header(tmp_path):
    path = tmp_path / "log.csv"
    run(CSVLogger(path, append=True), epoch_logs(0.5, 0.25))
    run(CSVLogger(path, append=True), epoch_logs(0.125), start=2)
    assert [r[0] for r in rows(path)] == ["epoch", "0", "1", "2"]


def test_resumed_run_appends_and_drops_rows_that_will_run_again(tmp_path):
    # The first run logged epochs 0..3 and was killed; its last backup was taken at the start of
    # epoch 2, so the resumed run starts at epoch 2 and its rows 2 and 3 replace the old ones.
    path = tmp_path / "log.csv"
    run(CSVLogger(path), epoch_logs(0.5, 0.4, 0.3, 0.2))
    run(CSVLogger(path), epoch_logs(0.25, 0.125, 0.0625), start=2, resumed=True)  # append=False
    table = rows(path)
    assert [r[0] for r in table] == ["epoch", "0", "1", "2", "3", "4"]
    assert [r[2] for r in table[1:]] == ["0.5", "0.4", "0.25", "0.125", "0.0625"]
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic rewrite left nothing behind


def test_keys_appearing_later_widen_the_header(tmp_path):
    path = tmp_path / "log.csv"
    run(CSVLogger(path), [{"loss": 0.5}, {"loss": 0.25, "val_loss": 0.75}, {"loss": 0.125}])
    assert rows(path) == [["epoch", "loss", "val_loss"], ["0", "0.5", "NA"], ["1", "0.25", "0.75"],
                          ["2", "0.125", "NA"]]


def test_appending_keeps_the_existing_columns(tmp_path):
    path = tmp_path / "log.csv"
    run(CSVLogger(path), [{"loss": 0.5, "accuracy": 0.5}])
    run(CSVLogger(path, append=True), [{"loss": 0.25, "learning_rate": 0.1}], start=1)
    assert rows(path) == [["epoch", "accuracy", "learning_rate", "loss"], ["0", "0.5", "NA", "0.5"],
                          ["1", "NA", "0.1", "0.25"]]


def test_separator(tmp_path):
    path = tmp_path / "sub" / "log.tsv"
    run(CSVLogger(path, separator="\t"), epoch_logs(0.5))
    assert path.read_text().splitlines()[0] == "epoch\taccuracy\tloss\tval_loss"
    run(CSVLogger(path, separator="\t", append=True), epoch_logs(0.25), start=1)
    assert rows(path, "\t")[-1] == ["1", "0.75", "0.25", "0.5"]
    with pytest.raises(ValueError, match="separator"):
        CSVLogger(path, separator="::")
