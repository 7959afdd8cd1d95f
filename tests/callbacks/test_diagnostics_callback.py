"""``Diagnostics`` during ``fit``: the same readings as ``diagnose``, reported without per-batch syncs."""
from __future__ import annotations

import io
import warnings

import pytest
import torch
from torch import nn

import topnet
from topnet.callbacks.base import Callback
from topnet.callbacks.diagnostics import Diagnostics
from topnet.nn.probe import Probe
from topnet.train.diagnostics import diagnose


def sigmoid_mlp(depth=8, width=16):
    torch.manual_seed(0)
    layers = [m for _ in range(depth) for m in (nn.Linear(width, width), nn.Sigmoid())]
    return nn.Sequential(*layers, nn.Linear(width, 3))


def data(n=64, width=16):
    generator = torch.Generator().manual_seed(0)
    return torch.randn(n, width, generator=generator), torch.randint(0, 3, (n,), generator=generator)


class LogsAfter(Callback):
    def __init__(self):
        self.logs = []

    def on_epoch_end(self, state):
        self.logs.append(dict(state.logs))


def test_first_reading_equals_diagnose_on_the_same_batch():
    x, y = data()
    reference = diagnose(sigmoid_mlp(), (x[:16], y[:16]), device="cpu")
    callback = Diagnostics(every_n_batches=100, on_epoch_end=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        topnet.fit(sigmoid_mlp(), (x, y), batch_size=16, shuffle=False, callbacks=[callback], verbose=0, device="cpu")
    (epoch, batch, reading), = callback.reports  # one reading: batch 0, before any step
    assert (epoch, batch) == (0, 0)
    for got, want in zip(reading.layers, reference.layers):
        assert got.name == want.name
        for field in ("grad_norm", "act_mean", "act_std", "saturated_fraction"):
            value, expected = getattr(got, field), getattr(want, field)
            assert value == expected if expected is None else value == pytest.approx(expected, rel=1e-4, abs=1e-7)
    assert reading.loss == pytest.approx(reference.loss, rel=1e-5)


def test_vanishing_is_warned_once_and_logged_for_later_callbacks():
    after = LogsAfter()
    with pytest.warns(RuntimeWarning, match="vanish") as record:
        history = topnet.fit(sigmoid_mlp(), data(), epochs=2, batch_size=16, verbose=0, device="cpu",
                             callbacks=[Diagnostics(every_n_batches=2), after])
    assert sum("vanish" in str(w.message) for w in record) == 1  # not repeated while it persists
    assert all(logs["grad_norm_ratio"] < 1e-3 and "saturated_fraction" in logs for logs in after.logs)
    assert len(history.history["grad_norm_ratio"]) == 2


def test_one_report_per_epoch_or_one_per_reading():
    per_epoch, per_reading = Diagnostics(every_n_batches=2), Diagnostics(every_n_batches=2, on_epoch_end=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        topnet.fit(sigmoid_mlp(), data(), epochs=2, batch_size=8, callbacks=[per_epoch, per_reading], verbose=0, device="cpu")
    assert [(e, b) for e, b, _ in per_epoch.reports] == [(0, 7), (1, 7)]
    assert [(e, b) for e, b, _ in per_reading.reports] == [(e, b) for e in (0, 1) for b in (0, 2, 4, 6)]


def test_readings_stay_on_the_device_until_a_report(monkeypatch):
    syncs = []
    original = Probe.diagnosis
    monkeypatch.setattr(Probe, "diagnosis", lambda self: syncs.append(1) or original(self))
    monkeypatch.setattr(torch.Tensor, "item", lambda self: pytest.fail("a per-batch .item() sync"))
    callback = Diagnostics(every_n_batches=1, file=io.StringIO())
    topnet.fit(nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3)), data(), epochs=1, batch_size=8, optimizer="sgd",
               callbacks=[callback], verbose=0, device="cpu")
    assert len(syncs) == 1  # eight readings, one host read at the epoch end


def test_reports_print_to_a_stream_or_a_file(tmp_path):
    stream, path = io.StringIO(), tmp_path / "diagnostics.txt"
    topnet.fit(sigmoid_mlp(), data(), epochs=2, batch_size=32, verbose=0, device="cpu",
               callbacks=[Diagnostics(file=stream), Diagnostics(file=path)])
    for text in (stream.getvalue(), path.read_text()):
        assert text.count("grad_norm_ratio") == 2 and "[vanishing]" in text and "remedy:" in text


def test_hooks_are_removed_and_arguments_checked():
    model = sigmoid_mlp(depth=1)
    topnet.fit(model, data(), batch_size=32, verbose=0, device="cpu", callbacks=[Diagnostics(file=io.StringIO())])
    assert all(not m._forward_hooks for m in model.modules())
    with pytest.raises(ValueError, match="every_n_batches"):
        Diagnostics(every_n_batches=0)
    callback = Diagnostics()
    callback.load_state_dict({"last_kinds": ["vanishing"]})
    assert callback.state_dict() == {"last_kinds": ["vanishing"]}
