"""ModelCheckpoint: file names from placeholders, save_best_only, batch-frequency saves, resume."""
import io

import pytest
import torch

import topnet.io
from topnet.callbacks.model_checkpoint import ModelCheckpoint
from topnet.callbacks.state import TrainState
from topnet.io import load_weights


def make_state(steps_per_epoch=3):
    model = torch.nn.Linear(2, 1)
    return TrainState(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=10,
                      steps_per_epoch=steps_per_epoch)


def run(callback, values, state=None, monitor="val_loss", running=None, restore=None):
    """Drive the hooks as train/loop.py does; in epoch e the weight is filled with e, and in the
    batch of global step index k (0-based) with 100 + k. ``restore`` is loaded at the first epoch
    begin, as BackupAndRestore does."""
    state = state or make_state()
    callback.on_fit_begin(state)
    for epoch, value in enumerate(values):
        state.epoch = epoch
        if restore is not None and epoch == 0:
            callback.load_state_dict(restore)
        callback.on_epoch_begin(state)
        for batch in range(state.steps_per_epoch):
            state.batch = batch
            callback.on_batch_begin(state)
            with torch.no_grad():
                state.model.weight.fill_(100.0 + state.step)
            if running is not None:
                state.running_logs = lambda k=state.step: running(k)
            state.step += 1
            callback.on_batch_end(state)
        with torch.no_grad():
            state.model.weight.fill_(float(epoch))
        state.logs = {"loss": 1.0, monitor: value}
        callback.on_epoch_end(state)
    callback.on_fit_end(state)
    return state


def weight_in(path):
    model = torch.nn.Linear(2, 1)
    load_weights(model, path)
    return model.weight[0, 0].item()


def test_placeholders_epoch_is_one_based_and_logs_are_formatted(tmp_path):
    checkpoint = ModelCheckpoint(tmp_path / "w-{epoch:02d}-{val_loss:.2f}.safetensors", save_weights_only=True)
    run(checkpoint, [0.5, 0.25, 0.75])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["w-01-0.50.safetensors", "w-02-0.25.safetensors", "w-03-0.75.safetensors"]
    assert [weight_in(tmp_path / n) for n in names] == [0.0, 1.0, 2.0]
    assert checkpoint.last_saved_path == str(tmp_path / "w-03-0.75.safetensors")


def test_save_best_only_saves_strict_improvements(tmp_path):
    # 0.5 first best (e0) | 0.6 worse | 0.4 better (e2) | 0.4 equal: not saved
    checkpoint = ModelCheckpoint(tmp_path / "best-{epoch}.safetensors", save_best_only=True, save_weights_only=True)
    run(checkpoint, [0.5, 0.6, 0.4, 0.4])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best-1.safetensors", "best-3.safetensors"]
    assert checkpoint.best == 0.4


def test_save_best_only_to_one_file_keeps_the_best_epoch(tmp_path):
    path = tmp_path / "best.safetensors"
    run(ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True, save_weights_only=True),
        [0.5, 0.75, 0.6], monitor="val_accuracy")
    assert weight_in(path) == 1.0  # e1 had the highest accuracy (mode inferred as max)


def test_initial_value_threshold(tmp_path):
    checkpoint = ModelCheckpoint(tmp_path / "b-{epoch}.safetensors", save_best_only=True, save_weights_only=True,
                                 initial_value_threshold=0.45)
    run(checkpoint, [0.5, 0.6, 0.4])
    assert [p.name for p in tmp_path.iterdir()] == ["b-3.safetensors"]


def test_save_freq_counts_batches_across_epochs(tmp_path):
    # 3 batches per epoch, a save every 2: after global batches 2, 4, 6 = (e1, b2), (e2, b1), (e2, b3).
    checkpoint = ModelCheckpoint(tmp_path / "s-{epoch}-{batch}.safetensors", save_weights_only=True, save_freq=2)
    run(checkpoint, [0.5, 0.5])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["s-1-2.safetensors", "s-2-1.safetensors", "s-2-3.safetensors"]
    assert weight_in(tmp_path / "s-2-1.safetensors") == 103.0  # global step index 3


def test_save_freq_with_save_best_only_uses_running_logs_only_when_due(tmp_path):
    calls = []

    def running(step):
        calls.append(step)
        return {"loss": [0.9, 0.8, 0.7, 0.85, 0.6, 0.95][step]}

    checkpoint = ModelCheckpoint(tmp_path / "r-{epoch}-{batch}.safetensors", monitor="loss", save_best_only=True,
                                 save_weights_only=True, save_freq=2)
    run(checkpoint, [0.5, 0.5], running=running)
    assert calls == [1, 3, 5]  # once per due save, never every batch
    # running loss at the saves: 0.8 (best), 0.85 (worse), 0.95 (worse)
    assert [p.name for p in tmp_path.iterdir()] == ["r-1-2.safetensors"]


def test_whole_model_goes_to_save_model(tmp_path, monkeypatch):
    saved = []
    monkeypatch.setattr(topnet.io, "save_model", lambda model, path: saved.append(str(path)))
    run(ModelCheckpoint(tmp_path / "model-{epoch}"), [0.5, 0.4])
    assert saved == [str(tmp_path / "model-1"), str(tmp_path / "model-2")]


def test_whole_model_directory(tmp_path):
    run(ModelCheckpoint(tmp_path / "model"), [0.5])
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["config.json", "weights.safetensors"]


def test_state_dict_round_trip_keeps_best(tmp_path):
    first = ModelCheckpoint(tmp_path / "b-{epoch}.safetensors", save_best_only=True, save_weights_only=True)
    run(first, [0.5, 0.3])
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = ModelCheckpoint(tmp_path / "c-{epoch}.safetensors", save_best_only=True, save_weights_only=True)
    run(resumed, [0.4, 0.2], restore=torch.load(buffer, weights_only=True))  # 0.4 is worse than the restored best; 0.2 is better
    assert sorted(p.name for p in tmp_path.glob("c-*")) == ["c-2.safetensors"]


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"\.safetensors"):
        ModelCheckpoint(tmp_path / "w.pt", save_weights_only=True)
    with pytest.raises(ValueError, match="save_weights_only=True"):
        ModelCheckpoint(tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint(tmp_path / "m", save_freq=0)
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint(tmp_path / "m", save_freq="batch")
    with pytest.raises(ValueError, match="batch"):
        ModelCheckpoint(tmp_path / "m-{batch}")
    with pytest.raises(ValueError, match="monitor='loss'"):
        ModelCheckpoint(tmp_path / "m", save_best_only=True, save_freq=10)
    with pytest.raises(ValueError, match="named placeholders"):
        ModelCheckpoint(tmp_path / "m-{}")
    with pytest.raises(ValueError, match="format string"):
        ModelCheckpoint(tmp_path / "m-{epoch")
    with pytest.raises(ValueError, match="mode"):
        ModelCheckpoint(tmp_path / "m", mode="best")
    with pytest.raises(ValueError, match="keep_last"):
        ModelCheckpoint(tmp_path / "m-{epoch}", keep_last=0)


def test_unknown_placeholder_and_missing_monitor_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="'val_acc'"):
        run(ModelCheckpoint(tmp_path / "m-{val_acc:.2f}.safetensors", save_weights_only=True), [0.5])
    with pytest.raises(ValueError, match="monitor='val_auc' is not in the logs"):
        run(ModelCheckpoint(tmp_path / "m.safetensors", monitor="val_auc", save_best_only=True,
                            save_weights_only=True), [0.5])


def test_verbose(tmp_path, capsys):
    run(ModelCheckpoint(tmp_path / "b.safetensors", save_best_only=True, save_weights_only=True, verbose=1), [0.5, 0.6])
    out = capsys.readouterr().out
    assert f"Epoch 1: val_loss improved from inf to 0.50000, saving model to {tmp_path / 'b.safetensors'}" in out
    assert "Epoch 2: val_loss did not improve from 0.50000" in out
