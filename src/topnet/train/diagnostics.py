"""Training diagnostics (Géron ch. 11): vanishing/exploding gradients, saturation, dead ReLUs.

``diagnose(model, data)`` runs one forward/backward pass (or a few) with hooks and returns a
``Diagnosis``: per-layer gradient norms in depth order (the order layers run in), activation
mean/std per layer, the fraction of dead ReLU units (≤ 0 for every sample seen) and of
saturated sigmoid/tanh activations (|tanh| > 0.99, sigmoid within 0.01 of 0 or 1), plus
findings in plain words with a remedy for each. ``topnet.callbacks.Diagnostics`` takes the
same readings during ``fit`` with the same ``Probe``.

The gradient criterion compares layers by the RMS of their gradient (norm / √parameters), so
a 784×300 layer and a 100×10 layer compare fairly. ``grad_norm_ratio`` is that RMS at the
bottom weight layer (Linear, Conv, ...: a parameter with ≥ 2 dimensions) over the top one.
Gradients *vanish* when the ratio is below 1e-3, when they shrink geometrically by ≥ 100×
from top to bottom (log-linear fit, R² ≥ 0.9, ≥ 5 layers), or when the ratio is below 0.1
while ≥ 25 % of the sigmoid/tanh activations are saturated (the derivative of a saturated unit
is < 0.01: Glorot & Bengio's failure mode). They *explode* when the ratio is above 1e3, grow
geometrically by ≥ 100×, or are not finite. Only modules are seen: ``F.relu`` inside a
``forward`` is not counted as a ReLU layer.
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, NamedTuple

import torch
from torch import nn

from topnet.data.batches import to_tensors, tree_map
from topnet.errors import format_message
from topnet.train.checks import call_model, check_finite_inputs
from topnet.train.objective import Objective, name_outputs

__all__ = ["Diagnosis", "Finding", "LayerStats", "Probe", "diagnose"]

VANISHING_RATIO, EXPLODING_RATIO, SATURATED_RATIO = 1e-3, 1e3, 1e-1
GEOMETRIC_SHRINK, GEOMETRIC_R2, GEOMETRIC_MIN_LAYERS = 1e2, 0.9, 5
SATURATED_FRACTION, DEAD_FRACTION = 0.25, 0.25
_RELUS, _SATURATING = (nn.ReLU, nn.ReLU6), (nn.Sigmoid, nn.Tanh)
_REMEDIES = {
    "vanishing": "use He initialisation with ReLU/ELU (or SELU with LeCun normal init and standardised inputs), "
                 "add BatchNorm after each hidden layer, or add residual connections",
    "exploding": "lower the learning rate, clip gradients (fit(..., clip_norm=1.0)), use Glorot/He "
                 "initialisation matched to the activation, or add BatchNorm",
    "saturated": "replace sigmoid/tanh hidden activations with ReLU/ELU/SELU, or use Glorot initialisation, "
                 "BatchNorm before the activation and standardised inputs",
    "dead_relu": "use LeakyReLU/ELU/SELU, He initialisation, a lower learning rate, or BatchNorm before the ReLU",
}


class Finding(NamedTuple):
    """One problem found: ``kind`` (vanishing, exploding, saturated, dead_relu), what, and a fix."""

    kind: str
    message: str
    remedy: str


class LayerStats(NamedTuple):
    """One layer's row: gradient norm / RMS (None without parameters), output mean / std, the
    dead (ReLU) or saturated (sigmoid/tanh) fraction (None for other layers), and whether it
    has a weight matrix or kernel (a parameter with ≥ 2 dimensions; those enter the ratio)."""

    name: str
    kind: str
    weighted: bool
    grad_norm: float | None
    grad_rms: float | None
    act_mean: float | None
    act_std: float | None
    dead_fraction: float | None
    saturated_fraction: float | None


def _ratio(rms: list[float]) -> float:
    """Bottom over top gradient RMS (nan with fewer than two weight layers)."""
    if len(rms) < 2:
        return math.nan
    bottom, top = rms[0], rms[-1]
    return bottom / top if top > 0 else (math.inf if bottom > 0 else math.nan)


def _fmt(value: float | None, spec: str) -> str:
    width = int(spec.split(".")[0])  # "10.2e" -> 10
    return "-".rjust(width) if value is None else format(value, spec)


class Diagnosis:
    """What ``diagnose`` (or the ``Diagnostics`` callback) found; prints as a table + findings.

    Attributes:
        layers: ``LayerStats`` rows in depth order.
        grad_norm_ratio: gradient RMS of the bottom weight layer over the top one (nan with < 2).
        dead_relu_fraction, saturated_fraction: over all ReLU units / sigmoid-tanh activations
            (None when the model has no such layer).
        loss: the loss of the pass(es) measured.
        findings: ``Finding(kind, message, remedy)`` tuples.
    """

    def __init__(self, layers: list[LayerStats], loss: float | None = None,
                 saturated_count: tuple[float, int] = (0, 0), dead_count: tuple[float, int] = (0, 0)):
        self.layers = list(layers)
        self.loss = loss
        self.dead_relu_fraction = dead_count[0] / dead_count[1] if dead_count[1] else None
        self.saturated_fraction = saturated_count[0] / saturated_count[1] if saturated_count[1] else None
        self._weight_rms = [r.grad_rms for r in self.layers if r.grad_rms is not None and r.weighted]
        self.grad_norm_ratio = _ratio(self._weight_rms)
        self.findings = _findings(self)

    @property
    def vanishing(self) -> bool:
        """True when a ``vanishing`` finding was made."""
        return any(f.kind == "vanishing" for f in self.findings)

    @property
    def exploding(self) -> bool:
        """True when an ``exploding`` finding was made."""
        return any(f.kind == "exploding" for f in self.findings)

    def logs(self) -> dict[str, float]:
        """The scalars for ``state.logs``: ``grad_norm_ratio``, ``dead_relu_fraction``, ``saturated_fraction``."""
        values = {"grad_norm_ratio": self.grad_norm_ratio, "dead_relu_fraction": self.dead_relu_fraction,
                  "saturated_fraction": self.saturated_fraction}
        return {k: float(v) for k, v in values.items() if v is not None}

    def __str__(self) -> str:
        header = (f"{'layer':<24} {'type':<12} {'grad norm':>10} {'grad rms':>10} {'act mean':>9} {'act std':>9} "
                  f"{'dead':>6} {'sat.':>6}")
        lines = [header, "-" * len(header)]
        for r in self.layers:
            lines.append(f"{r.name[:24]:<24} {r.kind[:12]:<12} {_fmt(r.grad_norm, '10.2e')} {_fmt(r.grad_rms, '10.2e')} "
                         f"{_fmt(r.act_mean, '9.3g')} {_fmt(r.act_std, '9.3g')} {_fmt(r.dead_fraction, '6.0%')} "
                         f"{_fmt(r.saturated_fraction, '6.0%')}")
        loss = f"; loss = {self.loss:.4g}" if self.loss is not None else ""
        lines.append(f"grad_norm_ratio (bottom/top RMS) = {self.grad_norm_ratio:.2e}{loss}")
        lines += [f"[{f.kind}] {f.message}\n    remedy: {f.remedy}" for f in self.findings] or ["no problems found"]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Diagnosis(grad_norm_ratio={self.grad_norm_ratio:.3g}, findings={[f.kind for f in self.findings]})"


def _geometric(rms: list[float]) -> tuple[float, float]:
    """Least-squares fit of log10(rms) against depth: (total change bottom→top, R²)."""
    ys = [math.log10(v) for v in rms if v > 0 and math.isfinite(v)]
    if len(ys) < GEOMETRIC_MIN_LAYERS or len(ys) != len(rms):
        return 1.0, 0.0
    n, xs = len(ys), range(len(ys))
    mx, my = (n - 1) / 2, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    total = sum((y - my) ** 2 for y in ys)
    r2 = 1.0 - sum((y - (my + slope * (x - mx))) ** 2 for x, y in zip(xs, ys)) / total if total > 0 else 0.0
    return 10 ** (slope * (n - 1)), r2


def _worst(layers: list[LayerStats], key: str) -> LayerStats:
    return max((r for r in layers if getattr(r, key) is not None), key=lambda r: getattr(r, key))


def _findings(d: Diagnosis) -> list[Finding]:
    found, ratio = [], d.grad_norm_ratio
    change, r2 = _geometric(d._weight_rms)
    bad = [r.name for r in d.layers if r.grad_norm is not None and not math.isfinite(r.grad_norm)]
    if bad or (d.loss is not None and not math.isfinite(d.loss)):
        found.append(("exploding", f"non-finite gradients or loss (layers {bad[:3]}); training has diverged"))
    elif ratio > EXPLODING_RATIO or (change <= 1 / GEOMETRIC_SHRINK and r2 >= GEOMETRIC_R2):
        found.append(("exploding", f"gradients grow toward the bottom: the bottom layer's gradient RMS is "
                                   f"{ratio:.1e}× the top layer's"))
    elif ratio < VANISHING_RATIO or (change >= GEOMETRIC_SHRINK and r2 >= GEOMETRIC_R2):
        found.append(("vanishing", f"gradients vanish toward the bottom: the bottom layer's gradient RMS is "
                                   f"{ratio:.1e}× the top layer's, so the lower layers barely learn"))
    elif ratio < SATURATED_RATIO and (d.saturated_fraction or 0) >= SATURATED_FRACTION:
        found.append(("vanishing", f"{d.saturated_fraction:.0%} of the sigmoid/tanh activations are saturated "
                                   f"(derivative < 0.01) and the bottom layer's gradient RMS is {ratio:.1e}× the top "
                                   "layer's: saturation is choking the gradient"))
    w = _worst(d.layers, "saturated_fraction") if d.saturated_fraction is not None else None
    if w is not None and w.saturated_fraction >= SATURATED_FRACTION:
        found.append(("saturated", f"{w.saturated_fraction:.0%} of the activations of {w.name!r} ({w.kind}) are "
                                   f"saturated ({d.saturated_fraction:.0%} over all sigmoid/tanh layers)"))
    w = _worst(d.layers, "dead_fraction") if d.dead_relu_fraction is not None else None
    if w is not None and w.dead_fraction >= DEAD_FRACTION:
        found.append(("dead_relu", f"{w.dead_fraction:.0%} of the units of {w.name!r} are dead (≤ 0 for every "
                                   f"sample; {d.dead_relu_fraction:.0%} over all ReLU layers)"))
    return [Finding(kind, message, _REMEDIES[kind]) for kind, message in found]


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


def _unpack(data: Any) -> tuple[Any, Any]:
    if hasattr(data, "x") and hasattr(data, "y"):
        return data.x, data.y
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], data[1]
    raise TypeError(format_message("data", type(data).__name__, "a topnet.data.Dataset or an (x, y) pair"))


def diagnose(model: nn.Module, data: Any, *, loss: Any = "cross_entropy", batch_size: int = 256, num_batches: int = 1,
             device: str | torch.device = "auto", seed: int = 0) -> Diagnosis:
    """Run a forward/backward pass (or a few) with hooks and say what is wrong, in plain words.

    The first ``num_batches × batch_size`` samples are used, in train mode (BatchNorm uses
    batch statistics, dropout is on, drawn from ``seed``), as during ``fit``. The model is left
    as it was: gradients come from ``torch.autograd.grad`` (``param.grad`` is untouched),
    BatchNorm's running statistics and every module's training flag are restored, and torch's
    global RNG is unchanged.

    Args:
        model: any ``nn.Module`` returning logits (or a dict / tuple of outputs).
        data: ``(x, y)`` or a ``topnet.data.Dataset``; ``x`` may be a dict of named inputs.
        loss: as in ``fit`` (a name, a callable, or one per output).
        batch_size: samples per pass; ``num_batches``: passes (readings are averaged).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``; the model is moved there.
        seed: seeds dropout and any other randomness of the passes.

    Returns:
        A ``Diagnosis``: ``print`` it for the table and findings; ``.findings``, ``.vanishing``,
        ``.exploding``, ``.grad_norm_ratio``.

    Raises:
        ValueError: ``batch_size`` or ``num_batches`` not a positive int.
        TypeError: ``data`` is not ``(x, y)`` or a Dataset.

    Example:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> layers = [m for _ in range(8) for m in (nn.Linear(16, 16), nn.Sigmoid())]
        >>> model = nn.Sequential(*layers, nn.Linear(16, 3))
        >>> result = diagnose(model, (torch.randn(64, 16), torch.randint(0, 3, (64,))), device="cpu")
        >>> result.vanishing, result.findings[0].kind
        (True, 'vanishing')
    """
    for name, value in (("batch_size", batch_size), ("num_batches", num_batches)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(format_message(name, value, "a positive int"))
    from topnet.train.loop import resolve_device  # loop imports callbacks, which import this module

    device = resolve_device(device)
    x, y = to_tensors(_unpack(data), device)
    total = check_finite_inputs(x, y, "diagnosis")
    model.to(device)
    probe, params = Probe(model), [p for p in model.parameters() if p.requires_grad]
    modes = {m: m.training for m in model.modules()}
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    devices = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    model.train()
    try:
        with torch.random.fork_rng(devices=devices), contextlib.ExitStack() as stack:
            torch.manual_seed(seed)
            stack.callback(probe.detach)
            probe.attach()
            for index in range(min(num_batches, -(-total // batch_size))):
                rows = slice(index * batch_size, (index + 1) * batch_size)
                xb, yb = tree_map(lambda t: t[rows], x), tree_map(lambda t: t[rows], y)
                outputs = call_model(model, xb)
                value = Objective(list(name_outputs(outputs)), loss)(outputs, yb)
                grads = (torch.autograd.grad(value, params, allow_unused=True) if value.requires_grad
                         else [None] * len(params))
                probe.record_gradients(dict(zip(params, grads)))
                probe.record_loss(value)
        return probe.diagnosis()
    finally:
        with torch.no_grad():
            for name, buffer in model.named_buffers():
                buffer.copy_(buffers[name])
        for module, mode in modes.items():
            module.training = mode
