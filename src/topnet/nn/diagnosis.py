"""``Diagnosis``: what a network's gradients and activations say is wrong, with a fix for each.

Géron (ch. 11): vanishing/exploding gradients, saturation, dead ReLUs. A ``Diagnosis`` holds
per-layer gradient norms in depth order (the order layers run in), activation mean/std per
layer, the fraction of dead ReLU units (≤ 0 for every sample seen) and of saturated
sigmoid/tanh activations (|tanh| > 0.99, sigmoid within 0.01 of 0 or 1), plus findings in
plain words with a remedy for each. A ``Probe`` (``topnet/nn/probe.py``) takes the readings;
``topnet.train.diagnose`` (one pass) and the ``topnet.callbacks.Diagnostics`` callback (during
``fit``) make one.

The gradient criterion compares layers by the RMS of their gradient (norm / √parameters), so
a 784×300 layer and a 100×10 layer compare fairly. ``grad_norm_ratio`` is that RMS at the
bottom weight layer (Linear, Conv, ...: a parameter with ≥ 2 dimensions) over the top one.
Gradients *vanish* when the ratio is below 1e-3, when they shrink geometrically by ≥ 100×
from top to bottom (log-linear fit, R² ≥ 0.9, ≥ 5 layers), or when the ratio is below 0.1
while ≥ 25 % of the sigmoid/tanh activations are saturated (the derivative of a saturated unit
is < 0.01: Glorot & Bengio's failure mode). They *explode* when the ratio is above 1e3, grow
geometrically by ≥ 100×, or are not finite.
"""
from __future__ import annotations

import math
from typing import NamedTuple

__all__ = ["Diagnosis", "Finding", "LayerStats"]

VANISHING_RATIO, EXPLODING_RATIO, SATURATED_RATIO = 1e-3, 1e3, 1e-1
GEOMETRIC_SHRINK, GEOMETRIC_R2, GEOMETRIC_MIN_LAYERS = 1e2, 0.9, 5
SATURATED_FRACTION, DEAD_FRACTION = 0.25, 0.25

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
