"""``Probe``: forward and gradient hooks that measure a network's activations and gradients.

Only modules are seen: ``F.relu`` inside a ``forward`` is not counted as a ReLU layer. The
readings stay on the device until ``diagnosis()`` turns them into a ``Diagnosis``
(``topnet/nn/diagnosis.py``) with one host sync; ``topnet.train.diagnose`` and the
``topnet.callbacks.Diagnostics`` callback both measure with it.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from topnet.nn.diagnosis import Diagnosis, LayerStats

__all__ = ["Probe"]

_RELUS, _SATURATING = (nn.ReLU, nn.ReLU6), (nn.Sigmoid, nn.Tanh)


class Probe:
    """Hooks that measure a model's activations and gradients, keeping the sums on the device.

    While attached, every leaf module and every module with its own parameters adds its
    output's mean and std (and the ReLU units seen > 0, the saturated sigmoid/tanh outputs) to
    device tensors; ``record_gradients`` adds each parameterised layer's gradient norm. Nothing
    reaches the host until ``diagnosis()``, which reads everything at once and starts afresh.

    Args:
        model: the ``nn.Module`` to watch (not changed; hooks are removed by ``detach``).
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.names = {m: name or type(m).__name__ for name, m in model.named_modules()}
        is_leaf = lambda m: next(m.children(), None) is None  # noqa: E731
        owns_params = lambda m: next(m.parameters(recurse=False), None) is not None  # noqa: E731
        self.layers = [m for m in model.modules() if is_leaf(m) or owns_params(m)]
        self.params = {m: [p for p in m.parameters(recurse=False) if p.requires_grad] for m in self.layers}
        self.order: list[nn.Module] = []  # depth order: the order layers first ran in
        self._handles: list[Any] = []
        self.reset()

    def reset(self) -> None:
        """Forget the readings (the depth order is kept)."""
        self._acts: dict[nn.Module, dict[str, Any]] = {}
        self._grads: torch.Tensor | None = None
        self._loss: torch.Tensor | None = None
        self.num_gradient_readings = self.num_losses = 0

    def attach(self) -> Probe:
        """Start measuring activations (registers the forward hooks)."""
        if not self._handles:
            self._handles = [m.register_forward_hook(self._hook) for m in self.layers]
        return self

    def detach(self) -> None:
        """Stop measuring activations (removes the hooks)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, module: nn.Module, args: tuple, output: Any) -> None:
        if not isinstance(output, torch.Tensor) or not output.is_floating_point() or output.numel() == 0:
            return
        if module not in self.order:
            self.order.append(module)
        out = output.detach().float()
        acts = self._acts.setdefault(module, {"calls": 0, "values": 0})
        stats = torch.stack([out.mean(), out.std(correction=0)])  # (2,): mean, std
        acts["sums"] = stats if acts["calls"] == 0 else acts["sums"] + stats
        acts["calls"] += 1
        if isinstance(module, _RELUS):  # a unit is a feature / channel: axis 1 (or the only axis)
            alive = (out > 0).any(dim=0) if out.dim() < 2 else (out > 0).transpose(0, 1).reshape(out.shape[1], -1).any(dim=1)
            acts["alive"] = alive if "alive" not in acts else acts["alive"] | alive
        elif isinstance(module, _SATURATING):
            low, high = (-0.99, 0.99) if isinstance(module, nn.Tanh) else (0.01, 0.99)
            saturated = ((out < low) | (out > high)).sum()
            acts["saturated"] = saturated if "saturated" not in acts else acts["saturated"] + saturated
            acts["values"] += out.numel()

    def record_gradients(self, grads: dict[torch.Tensor, torch.Tensor | None] | None = None) -> None:
        """Add each parameterised layer's gradient norm (from ``grads`` or each ``param.grad``)."""
        norms = []
        for module in (m for m in self.layers if self.params[m]):
            found = [g for p in self.params[module] if (g := (grads.get(p) if grads is not None else p.grad)) is not None]
            squares = [torch.linalg.vector_norm(g.detach().float()) ** 2 for g in found]
            zero = torch.zeros((), device=self.params[module][0].device)  # a layer without gradients (unused)
            norms.append(torch.stack(squares).sum().sqrt() if squares else zero)
        if norms:
            stacked = torch.stack(norms)
            self._grads = stacked if self._grads is None else self._grads + stacked
            self.num_gradient_readings += 1

    def record_loss(self, loss: torch.Tensor) -> None:
        """Add a batch's loss (kept on the device)."""
        value = loss.detach().float().reshape(())
        self._loss = value if self._loss is None else self._loss + value
        self.num_losses += 1

    def _to_host(self) -> dict[tuple[str, nn.Module | None], list[float]]:
        """Everything measured, as Python numbers keyed by (what, module): one device-to-host copy."""
        named = [("grads", None, self._grads), ("loss", None, self._loss)]
        keys = ("sums", "alive", "saturated")
        named += [(key, m, acts[key]) for m, acts in self._acts.items() for key in keys if key in acts]
        named = [(key, m, t) for key, m, t in named if t is not None]
        if not named:
            return {}
        flat = torch.cat([t.float().reshape(-1) for _, _, t in named]).tolist()  # the one sync
        host, start = {}, 0
        for key, module, tensor in named:
            host[(key, module)], start = flat[start:start + tensor.numel()], start + tensor.numel()
        return host

    def _row(self, module: nn.Module, host: dict, grad: float | None) -> LayerStats:
        acts = self._acts.get(module, {"calls": 0, "values": 0})
        sums, alive, saturated = (host.get((key, module)) for key in ("sums", "alive", "saturated"))
        params = self.params.get(module, [])
        return LayerStats(
            name=self.names[module], kind=type(module).__name__, weighted=any(p.dim() >= 2 for p in params),
            grad_norm=grad, grad_rms=None if grad is None else grad / math.sqrt(sum(p.numel() for p in params)),
            act_mean=None if sums is None else sums[0] / acts["calls"],
            act_std=None if sums is None else sums[1] / acts["calls"],
            dead_fraction=None if alive is None else 1 - sum(alive) / len(alive),
            saturated_fraction=None if saturated is None else saturated[0] / acts["values"])

    def diagnosis(self) -> Diagnosis:
        """A ``Diagnosis`` of the readings since the last one (one host sync), then ``reset``."""
        host = self._to_host()
        param_layers = [m for m in self.layers if self.params[m]]
        grads = [g / self.num_gradient_readings for g in host.get(("grads", None), [])]
        mean_grad = dict(zip(param_layers, grads))
        rows = [self._row(m, host, mean_grad.get(m)) for m in self.order + [m for m in param_layers if m not in self.order]]
        alive = [values for (key, _), values in host.items() if key == "alive"]
        saturating = [m for (key, m) in host if key == "saturated"]
        loss = host.get(("loss", None))
        result = Diagnosis(rows, loss=loss[0] / self.num_losses if loss else None,
                           dead_count=(sum(len(a) - sum(a) for a in alive), sum(len(a) for a in alive)),
                           saturated_count=(sum(host[("saturated", m)][0] for m in saturating),
                                            sum(self._acts[m]["values"] for m in saturating)))
        self.reset()
        return result
