"""What ``fit`` minimises and reports: losses, loss weights and metrics per named output.

A model returns one tensor, a dict of named tensors, or a tuple/list (named ``output_0``,
``output_1``, ... in order). ``loss``, ``loss_weights`` and ``metrics`` may be one value (used
for every output), a dict keyed by output name, or a list in output order, as in Keras.

The ``Objective`` keeps the epoch's running sums on the device (loss × batch size and metric
states) so the loop never synchronises per batch; ``logs()`` is the one place values reach the
host.

With sample weights ``w`` (one per row) an output's loss is Keras's ``"sum_over_batch_size"``
reduction, ``sum_i w_i * l_i / N`` over the batch's ``N`` rows (not divided by the sum of the
weights), where ``l_i`` is the loss of row ``i`` alone (`per_sample_losses`). Metrics stay
unweighted (Keras's ``metrics``; there is no ``weighted_metrics``).
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import torch

from topnet.errors import format_message
from topnet.train.losses import get_loss
from topnet.train.metrics import Metric, get_metric

__all__ = ["Objective", "name_outputs", "per_sample_losses", "weighted_loss"]


def name_outputs(outputs: Any) -> dict[str, torch.Tensor]:
    """A model's outputs as an ordered ``{name: tensor}``; a single tensor is named ``""``."""
    if isinstance(outputs, torch.Tensor):
        return {"": outputs}
    if isinstance(outputs, Mapping):
        return dict(outputs)
    if isinstance(outputs, (list, tuple)):
        return {f"output_{i}": value for i, value in enumerate(outputs)}
    raise TypeError(format_message("model output", type(outputs).__name__, "a tensor, a dict of tensors or a tuple/list of tensors"))


def per_sample_losses(loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], prediction: torch.Tensor,
                      target: torch.Tensor) -> torch.Tensor:
    """The loss of each row alone, ``loss(prediction[i:i+1], target[i:i+1])``, for every row at once.

    Every loss here is a mean over the batch (and over a row's elements), so row ``i``'s value
    is Keras's per-sample loss. ``torch.func.vmap`` runs ``loss`` once over a batch of single rows.

    Returns:
        ``(N,)`` losses, differentiable.

    Raises:
        TypeError: a custom loss that cannot run under ``vmap`` (it calls ``.item()``, say).

    Example:
        >>> per_sample_losses(lambda p, t: (p - t).square().mean(), torch.tensor([[1.0], [3.0]]), torch.zeros(2, 1))
        tensor([1., 9.])
    """
    one_row = lambda p, t: loss(p.unsqueeze(0), t.unsqueeze(0))  # noqa: E731
    try:
        return torch.func.vmap(one_row)(prediction, target)
    except RuntimeError as error:
        if "vmap" not in str(error):  # not vmap refusing the loss (.item(), data-dependent control flow): as it is
            raise
        raise TypeError(format_message(
            "loss", loss, "a loss that torch.func.vmap can run one row at a time (every named loss can)",
            f"sample weights need each row's loss; vmap failed with: {error}")) from error


def weighted_loss(loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], prediction: torch.Tensor,
                  target: torch.Tensor, sample_weight: torch.Tensor) -> torch.Tensor:
    """``sum_i w_i * l_i / N``: Keras's ``"sum_over_batch_size"`` reduction of weighted per-row losses.

    Example:
        >>> mse = lambda p, t: (p - t).square().mean()
        >>> weighted_loss(mse, torch.tensor([1.0, 3.0]), torch.zeros(2), torch.tensor([2.0, 0.0]))
        tensor(1.)
    """
    return (per_sample_losses(loss, prediction, target) * sample_weight).sum() / len(sample_weight)


def _per_output(what: str, spec: Any, names: list[str], default: Any) -> dict[str, Any]:
    """Spread ``spec`` (one value, dict by name, or list in order) over the output names."""
    if spec is None:
        return {name: default for name in names}
    if isinstance(spec, Mapping):
        unknown = sorted(set(spec) - set(names))
        if unknown:
            raise ValueError(format_message(what, dict(spec), f"keys among the model's outputs {names}",
                                            f"unknown keys: {unknown}"))
        return {name: spec.get(name, default) for name in names}
    if isinstance(spec, (list, tuple)) and len(names) > 1 and what != "metrics":
        if len(spec) != len(names):
            raise ValueError(format_message(what, list(spec), f"{len(names)} values, one per output {names}"))
        return dict(zip(names, spec))
    return {name: spec for name in names}


class Objective:
    """Losses, loss weights and metrics for a model's named outputs, with on-device sums.

    Args:
        output_names: the names ``name_outputs`` gives the model's outputs.
        loss: a loss name / callable, or a dict / list of them per output.
        loss_weights: a float per output (dict or list); default 1.0 each.
        metrics: metric names / objects for every output, or a dict ``{output: [metrics]}``.
    """

    def __init__(self, output_names: list[str], loss: Any = "cross_entropy", loss_weights: Any = None,
                 metrics: Any = None):
        self.output_names = list(output_names)
        self.losses = {k: get_loss(v) for k, v in _per_output("loss", loss, self.output_names, None).items()}
        self.loss_weights = {k: float(v) for k, v in _per_output("loss_weights", loss_weights, self.output_names, 1.0).items()}
        specs = _per_output("metrics", metrics, self.output_names, None)
        self.metrics: dict[str, list[Metric]] = {}
        for name, spec in specs.items():
            spec = [] if spec is None else ([spec] if isinstance(spec, (str, Metric)) or callable(spec) else list(spec))
            self.metrics[name] = [get_metric(m) for m in spec]
        self.reset()

    def _key(self, output: str, what: str) -> str:
        return f"{output}_{what}" if output else what

    @property
    def multi_output(self) -> bool:
        return len(self.output_names) > 1 or self.output_names != [""]

    def targets(self, y: Any) -> dict[str, torch.Tensor]:
        """Targets as ``{output name: tensor}``, matched to the outputs by name or order."""
        if isinstance(y, Mapping):
            missing = sorted(set(self.output_names) - set(y))
            if missing:
                raise ValueError(format_message("targets", sorted(y), f"a target for every output {self.output_names}",
                                                f"missing: {missing}"))
            return {name: y[name] for name in self.output_names}
        if isinstance(y, (list, tuple)):
            if len(y) != len(self.output_names):
                raise ValueError(format_message("targets", f"{len(y)} arrays", f"{len(self.output_names)}, one per output {self.output_names}"))
            return dict(zip(self.output_names, y))
        if len(self.output_names) != 1:
            raise ValueError(format_message("targets", "one array", f"one per output {self.output_names}",
                                            "pass a dict keyed by output name"))
        return {self.output_names[0]: y}

    def clone(self) -> "Objective":
        """A new Objective with the same losses and weights and fresh copies of the metrics
        (validation keeps its own sums, apart from training's)."""
        other = copy.copy(self)
        other.losses, other.loss_weights = dict(self.losses), dict(self.loss_weights)
        other.metrics = {name: [copy.deepcopy(m) for m in ms] for name, ms in self.metrics.items()}
        other.reset()
        return other

    def reset(self) -> None:
        """Start a new epoch's sums."""
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0
        for metrics in self.metrics.values():
            for metric in metrics:
                metric.reset()

    def state_dict(self) -> dict[str, Any]:
        """The running epoch's sums (loss terms, sample count, each metric's total and count), to
        continue an epoch cut short (``BackupAndRestore`` on SIGTERM)."""
        metrics = [[m.total, m.count] for ms in self.metrics.values() for m in ms]
        return {"sums": dict(self._sums), "count": self._count, "metrics": metrics}

    def load_state_dict(self, state: dict[str, Any], device: torch.device | str = "cpu") -> None:
        """Take back `state_dict`'s sums, on ``device``."""
        self._sums = {key: value.to(device) for key, value in state["sums"].items()}
        self._count = int(state["count"])
        for metric, (total, count) in zip((m for ms in self.metrics.values() for m in ms), state["metrics"]):
            metric.total, metric.count = (None if total is None else total.to(device)), int(count)

    def __call__(self, outputs: Any, y: Any, penalty: torch.Tensor | None = None,
                 sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        """The weighted total loss of one batch (plus ``penalty``, a regularisation term); also
        adds the batch to the running sums.

        Args:
            sample_weight: None, or a ``(batch,)`` weight per row, applied to every output's
                loss (`weighted_loss`); ``penalty`` is not weighted.
        """
        outputs, targets = name_outputs(outputs), self.targets(y)
        batch = int(next(iter(targets.values())).shape[0])
        if sample_weight is None:
            parts = {name: self.losses[name](outputs[name], targets[name]) for name in self.output_names}
        else:
            parts = {name: weighted_loss(self.losses[name], outputs[name], targets[name], sample_weight)
                     for name in self.output_names}
        total = sum(self.loss_weights[name] * value for name, value in parts.items())
        if penalty is not None:
            total = total + penalty
        with torch.no_grad():
            terms = {"loss": total, **({self._key(n, "loss"): v for n, v in parts.items()} if self.multi_output else {})}
            if penalty is not None:
                terms["penalty"] = penalty
            for key, value in terms.items():
                value = value.detach().float() * batch
                self._sums[key] = self._sums[key] + value if key in self._sums else value
            for name, metrics in self.metrics.items():
                for metric in metrics:
                    metric.update(outputs[name].detach(), targets[name])
        self._count += batch
        return total

    def logs(self, reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, float]:
        """The epoch's means so far, as floats (synchronises with the device once).

        Args:
            reduce: sums a tensor over data-parallel processes (all-reduce); the means are then
                over every process's samples.
        """
        if self._count == 0:
            return {}
        totals = dict(self._sums)
        counts = {key: self._count for key in totals}
        for name, metrics in self.metrics.items():
            for metric in metrics:
                key = self._key(name, metric.name)
                totals[key] = metric.total if metric.total is not None else torch.zeros(())
                counts[key] = metric.count
        device = next(iter(self._sums.values())).device
        dtype = torch.float32 if device.type == "mps" else torch.float64
        packed = torch.stack([torch.stack([t.to(device, dtype).reshape(()) for t in totals.values()]),
                              torch.tensor(list(counts.values()), dtype=dtype, device=device)])
        if reduce is not None:
            packed = reduce(packed)
        return dict(zip(totals, (packed[0] / packed[1]).cpu().tolist()))
