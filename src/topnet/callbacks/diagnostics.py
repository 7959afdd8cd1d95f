"""``Diagnostics``: watch gradients and activations during ``fit`` and say what is wrong."""
from __future__ import annotations

import os
import warnings
from typing import Any, TextIO

from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState
from topnet.errors import format_message
from topnet.nn.diagnosis import Diagnosis
from topnet.nn.probe import Probe

__all__ = ["Diagnostics"]


class Diagnostics(Callback):
    """Take ``topnet.train.diagnose``'s readings while training, without a sync per batch.

    Every ``every_n_batches``-th batch of an epoch (batch 0, n, 2n, ...) is a reading: forward
    hooks measure that batch's activations, and ``on_after_backward`` adds each parameterised
    layer's gradient norm (before clipping). Readings stay on the device; they reach the host
    only when a report is made: at each epoch end (``on_epoch_end=True``, the epoch's readings
    pooled), or else after every reading. A report is a ``Diagnosis`` (per-layer table and
    findings: vanishing / exploding gradients, saturated units, dead ReLUs, each with a remedy).

    Each report's ``grad_norm_ratio``, ``dead_relu_fraction`` and ``saturated_fraction`` go into
    ``state.logs`` at the epoch end (so ``History`` records them, and so do callbacks listed after
    this one, e.g. ``CSVLogger`` or ``TensorBoard``). In data-parallel training it runs on rank 0. With ``file=None`` a finding of a kind not in the previous report
    is emitted as a ``RuntimeWarning``; otherwise every report is printed to ``file`` (a text
    stream such as ``sys.stdout``, or a path, appended to).

    Args:
        every_n_batches: batches between readings (>= 1).
        on_epoch_end: report once per epoch (True) or after every reading (False; one device
            sync per reading).
        file: where to print reports: None (warnings only), a stream, or a path.

    Attributes:
        report_on_epoch_end: the ``on_epoch_end`` argument (that name is the hook's).
        reports: ``(epoch, batch, Diagnosis)`` per report, in order.

    Raises:
        ValueError: ``every_n_batches`` not a positive int.

    Example:
        >>> import sys, torch, topnet
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        >>> x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
        >>> diagnostics = Diagnostics(every_n_batches=2)
        >>> history = topnet.fit(model, (x, y), batch_size=8, callbacks=[diagnostics], verbose=0, device="cpu")
        >>> epoch, batch, report = diagnostics.reports[0]
        >>> [row.name for row in report.layers]
        ['0', '1', '2']
    """

    main_process_only = True  # prints and warns: rank 0 only in data-parallel training

    def __init__(self, every_n_batches: int = 20, on_epoch_end: bool = True, file: str | os.PathLike | TextIO | None = None):
        if not isinstance(every_n_batches, int) or isinstance(every_n_batches, bool) or every_n_batches < 1:
            raise ValueError(format_message("Diagnostics every_n_batches", every_n_batches, "an int >= 1",
                                            "e.g. every_n_batches=20"))
        self.every_n_batches = every_n_batches
        self.report_on_epoch_end = on_epoch_end  # not ``self.on_epoch_end``: that is the hook
        self.file = file
        self.reports: list[tuple[int, int, Diagnosis]] = []
        self._probe: Probe | None = None
        self._reading = False
        self._last_kinds: set[str] = set()
        self._latest: Diagnosis | None = None

    def on_fit_begin(self, state: TrainState) -> None:
        self._probe = Probe(state.model)
        self.reports, self._last_kinds, self._latest = [], set(), None

    def on_epoch_begin(self, state: TrainState) -> None:
        self._latest = None

    def on_batch_begin(self, state: TrainState) -> None:
        self._reading = state.batch % self.every_n_batches == 0
        if self._reading:
            self._probe.attach()

    def on_after_backward(self, state: TrainState) -> None:
        if not self._reading:
            return
        self._probe.detach()
        self._probe.record_gradients()
        if state.loss is not None:
            self._probe.record_loss(state.loss)
        self._reading = False
        if not self.report_on_epoch_end:
            self._report(state)

    def on_epoch_end(self, state: TrainState) -> None:
        self._probe.detach()  # stop_training may have ended the epoch inside a reading
        if self.report_on_epoch_end and self._probe.num_gradient_readings:
            self._report(state)
        if self._latest is not None:
            state.logs.update(self._latest.logs())

    def on_fit_end(self, state: TrainState) -> None:
        if self._probe is not None:
            self._probe.detach()

    def _report(self, state: TrainState) -> None:
        diagnosis = self._probe.diagnosis()
        self.reports.append((state.epoch, state.batch, diagnosis))
        self._latest = diagnosis
        kinds = {f.kind for f in diagnosis.findings}
        if self.file is None:
            for finding in diagnosis.findings:
                if finding.kind not in self._last_kinds:
                    warnings.warn(f"Epoch {state.epoch + 1}, batch {state.batch}: {finding.message}; "
                                  f"remedy: {finding.remedy}", RuntimeWarning, stacklevel=2)
        else:
            self._print(f"Epoch {state.epoch + 1}, batch {state.batch} (step {state.step}):\n{diagnosis}\n")
        self._last_kinds = kinds

    def _print(self, text: str) -> None:
        if hasattr(self.file, "write"):
            print(text, file=self.file, flush=True)
            return
        with open(self.file, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")

    def state_dict(self) -> dict[str, Any]:
        return {"last_kinds": sorted(self._last_kinds)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._last_kinds = set(state.get("last_kinds", []))
