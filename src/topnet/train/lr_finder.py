"""``lr_find``: the learning-rate range test (Smith 2015; Géron ch. 11; fastai's ``lr_find``).

Train for up to ``num_steps`` steps while the rate grows exponentially from ``start_lr`` to
``end_lr``, one step per rate, and record the loss. The loss falls, flattens, then shoots up;
the sweep stops once the smoothed loss exceeds ``diverge_factor`` × its best. The sweep runs
through ``fit`` (the callback ``LRRangeTest`` in ``callbacks/lr_range_test.py`` sets each
step's rate), so the data checks, device handling and batching are the loop's own. Afterwards
the model's ``state_dict`` (BatchNorm buffers included), the optimizer's state (when an
optimizer object was passed) and torch's global RNG are put back from in-memory copies, bit for
bit: running ``lr_find`` changes nothing but the model's device (``fit`` moves it to
``device``). Losses reach the host every 10 steps, so up to 9 steps past the divergence point
run unrecorded (the state is restored anyway).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from topnet.callbacks.lr_range_test import LRRangeTest
from topnet.callbacks.state import capture_rng_state, restore_rng_state
from topnet.errors import format_message
from topnet.train.loop import fit

__all__ = ["lr_find", "LRFinderResult", "suggest", "RULES"]

RULES = ("steepest", "minimum", "valley", "descent_end")

DEFAULT_RULE = "valley"
AGREE_DECADES = 0.5  # suggestions within a factor of ~3 of each other "agree"
# The rules that each estimate a good constant training rate; their spread is the agreement.
# descent_end estimates the top of the usable range (a max_lr for one_cycle), an order of
# magnitude above them by design, so it is reported but not counted.
AGREEMENT_RULES = ("steepest", "minimum", "valley")


@dataclass(frozen=True)
class LRFinderResult:
    """What ``lr_find`` measured and suggests.

    Attributes:
        lrs: the rate of each step taken.
        losses: each step's training-batch loss.
        smoothed_losses: their exponential moving average, bias-corrected.
        suggestions: ``{rule: lr}`` for each rule of `suggest`.
        rule: the rule behind ``suggestion`` (``"valley"``: fastai's default, which sits well
            inside the falling stretch and is the least sensitive to noise and the stop point).
        diverged: True when the sweep stopped early because the loss blew up.
    """

    lrs: list[float]
    losses: list[float]
    smoothed_losses: list[float]
    suggestions: dict[str, float]
    rule: str = DEFAULT_RULE
    diverged: bool = False

    @property
    def suggestion(self) -> float:
        """The learning rate of the default rule."""
        return self.suggestions[self.rule]

    @property
    def spread_decades(self) -> float:
        """``log10(max / min)`` of the ``AGREEMENT_RULES`` suggestions: 0 when they pick one rate."""
        values = [self.suggestions[rule] for rule in AGREEMENT_RULES]
        return math.log10(max(values) / min(values))

    @property
    def verdict(self) -> str:
        """One plain sentence: trust the suggestion, or try a few rates."""
        values = [self.suggestions[rule] for rule in AGREEMENT_RULES]
        spread, low, high = self.spread_decades, min(values), max(values)
        if len(self.lrs) < 10:
            return f"the loss diverged within {len(self.lrs)} steps: lower start_lr and run again"
        if spread <= AGREE_DECADES:
            return f"the rules agree within {spread:.1f} decades: trust the suggestion ({self.suggestion:.2g})"
        return f"they disagree by {spread:.1f} decades: pick by a short grid from {low:.2g} to {high:.2g}"

    def plot(self, path: Any = None) -> Any:
        """Loss against learning rate (log x), the suggestions marked; saved to ``path`` if given.

        Returns:
            The matplotlib ``Figure``.

        Raises:
            ImportError: matplotlib is missing (the message gives the pip command).
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as error:
            raise ImportError("LRFinderResult.plot needs matplotlib: pip install matplotlib") from error
        figure, axes = plt.subplots(figsize=(6, 4))
        axes.plot(self.lrs, self.losses, color="0.75", linewidth=0.8, label="loss")
        axes.plot(self.lrs, self.smoothed_losses, color="C0", label="smoothed loss")
        for index, (name, lr) in enumerate(self.suggestions.items()):
            style = "-" if name == self.rule else "--"
            axes.axvline(lr, color=f"C{index + 1}", linestyle=style, label=f"{name}: {lr:.2g}")
        axes.set_xscale("log")
        axes.set_xlabel("learning rate")
        axes.set_ylabel("training loss")
        finite = [v for v in self.smoothed_losses if math.isfinite(v)]
        low, high = (min(finite), min(max(finite), 1.5 * finite[0])) if finite else (0.0, 0.0)
        if high > low:  # keep the blow-up from squashing the interesting part
            axes.set_ylim(low - 0.05 * (high - low), high)
        axes.set_title(self.verdict, fontsize=8)
        axes.legend(fontsize=7)
        figure.tight_layout()
        if path is not None:
            figure.savefig(path, dpi=120)
        return figure


def _valley(losses: np.ndarray) -> int:
    """fastai's valley rule: the longest strictly falling run of points (a longest decreasing
    subsequence), and the point 1/3 + 1/6 of the way along it."""
    lds = np.ones(len(losses), dtype=int)  # length of the longest decreasing subsequence ending at i
    for i in range(1, len(losses)):
        before = lds[:i][losses[:i] > losses[i]]
        if before.size:
            lds[i] = before.max() + 1
    end = int(np.argmax(lds))
    start = end - int(lds[end])  # fastai's arithmetic, kept as is
    sections = (end - start) / 3
    return min(max(start + int(sections) + int(sections / 2), 0), len(losses) - 1)


def suggest(lrs: np.ndarray, losses: np.ndarray, stop: int | None = None) -> dict[str, float]:
    """Learning rates suggested by four rules from a range test's (smoothed) loss curve.

    - ``steepest``: where the loss falls fastest against log(lr), before its minimum (fastai's
      ``steep``; Smith's rule).
    - ``minimum``: a tenth of the rate at the lowest loss (Géron: "about 10 times lower than
      the turning point"; fastai's ``minimum``), not below the first rate.
    - ``valley``: fastai's valley rule, inside the longest falling stretch.
    - ``descent_end``: the largest rate before the minimum where the loss still falls at least
      half as fast as at its steepest: the upper edge of the fast-learning range (Smith's
      choice of the peak rate for a cycle).

    As fastai does, the first tenth of the points (where the average has seen few batches)
    and the last five (the blow-up) are left out.

    Args:
        lrs: the increasing rates.
        losses: the smoothed loss at each rate.
        stop: use only the first ``stop`` points (leave out the diverging one).

    Returns:
        ``{rule: lr}``; every rate lies within ``lrs``.

    Example:
        >>> lrs = np.logspace(-6, 0, 61)
        >>> losses = 2.0 - 1.0 / (1.0 + np.exp(-4 * (np.log10(lrs) + 3)))  # falls fastest at 1e-3
        >>> round(float(np.log10(suggest(lrs, losses)["steepest"])), 6)
        -3.0
    """
    lrs, losses = np.asarray(lrs, dtype=float)[:stop], np.asarray(losses, dtype=float)[:stop]
    if len(losses) >= 20:
        lrs, losses = lrs[len(lrs) // 10:-5], losses[len(losses) // 10:-5]
    if len(losses) < 3:
        return {rule: float(lrs[0]) for rule in RULES}
    slope = np.gradient(losses, np.log10(lrs))  # loss change per decade of lr
    lowest = int(np.argmin(losses))
    steepest = int(np.argmin(slope[:lowest + 1]))
    edge = max([i for i in range(steepest, lowest + 1) if slope[i] <= 0.5 * slope[steepest]], default=steepest)
    return {"steepest": float(lrs[steepest]), "minimum": float(max(lrs[lowest] / 10, lrs[0])),
            "valley": float(lrs[_valley(losses)]), "descent_end": float(lrs[edge])}


def _check(name: str, value: Any, ok: bool, expected: str) -> None:
    if isinstance(value, bool) or not ok:
        raise ValueError(format_message(name, value, expected))


def lr_find(model: torch.nn.Module, data: Any, *, loss: Any = "cross_entropy", optimizer: Any = "sgd",
            start_lr: float = 1e-7, end_lr: float = 10.0, num_steps: int = 300, batch_size: int = 32,
            smoothing: float = 0.98, diverge_factor: float = 4.0, seed: int = 0,
            device: str | torch.device = "auto") -> LRFinderResult:
    """Run the learning-rate range test on ``model`` and suggest a learning rate.

    Args:
        model: the model, as it will start training; it is left exactly as it was.
        data: ``(x, y)`` or a ``Dataset`` (a ``Splits`` uses its ``train``), as for ``fit``.
        loss: as for ``fit``.
        optimizer: a name, class or built optimizer, as for ``fit``; the rate it suggests is
            for this optimizer (Adam's good rates are ~10-100× smaller than SGD's).
        start_lr: the first step's rate.
        end_lr: the last step's rate, if the loss has not diverged before.
        num_steps: steps of the sweep; one rate (and one batch) per step.
        batch_size: samples per step; use the batch size you will train with.
        smoothing: the moving average's weight on the past (0 = no smoothing).
        diverge_factor: stop when the smoothed loss exceeds this multiple of the best one.
        seed: the batch order.
        device: as for ``fit``.

    Returns:
        An `LRFinderResult`; ``.suggestion`` is the default rule's rate, ``.verdict`` says
        whether the rules agree, ``.plot()`` draws the curve.

    Raises:
        ValueError: ``0 < start_lr < end_lr`` broken, ``num_steps < 10``, ``smoothing``
            outside [0, 1), ``diverge_factor <= 1``; and what ``fit`` raises for bad data.

    Example:
        >>> x = torch.randn(256, 5)
        >>> y = (x[:, 0] > 0).long()
        >>> result = lr_find(torch.nn.Linear(5, 2), (x, y), start_lr=1e-4, end_lr=100.0, num_steps=40)
        >>> 1e-4 <= result.suggestion <= 100.0, sorted(result.suggestions)
        (True, ['descent_end', 'minimum', 'steepest', 'valley'])
    """
    _check("start_lr", start_lr, isinstance(start_lr, (int, float)) and start_lr > 0, "a positive rate, e.g. 1e-7")
    _check("end_lr", end_lr, isinstance(end_lr, (int, float)) and end_lr > start_lr, f"a rate > start_lr={start_lr}")
    _check("num_steps", num_steps, isinstance(num_steps, int) and num_steps >= 10, "an int >= 10 (100-300 is usual)")
    _check("smoothing", smoothing, isinstance(smoothing, (int, float)) and 0 <= smoothing < 1,
           "a weight in [0, 1), e.g. 0.98")
    _check("diverge_factor", diverge_factor, isinstance(diverge_factor, (int, float)) and diverge_factor > 1,
           "a factor > 1, e.g. 4")
    if hasattr(data, "train") and hasattr(data, "valid"):  # Splits: sweep on train, no validation
        data = data.train
    lrs = np.geomspace(start_lr, end_lr, num_steps)
    test = LRRangeTest(lrs, smoothing, diverge_factor)
    built = isinstance(optimizer, torch.optim.Optimizer)
    saved_model = copy.deepcopy(model.state_dict())
    saved_optimizer = copy.deepcopy(optimizer.state_dict()) if built else None
    saved_rng, was_training = capture_rng_state(), model.training
    try:
        fit(model, data, epochs=num_steps, batch_size=batch_size, loss=loss, optimizer=optimizer,
            lr=None if built else float(start_lr), callbacks=[test], seed=seed, device=device, verbose=0)
    finally:
        model.load_state_dict(saved_model)
        if built:
            optimizer.load_state_dict(saved_optimizer)
        restore_rng_state(saved_rng)
        model.train(was_training)
    count = len(test.losses)
    suggestions = suggest(lrs[:count], np.asarray(test.smoothed), stop=count - 1 if test.diverged else count)
    return LRFinderResult(lrs=lrs[:count].tolist(), losses=test.losses, smoothed_losses=test.smoothed,
                          suggestions=suggestions, diverged=test.diverged)
