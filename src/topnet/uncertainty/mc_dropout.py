"""MC dropout (Gal & Ghahramani; Géron ch. 11): average many dropout-on predictions.

Dropout stays on at prediction time, the model is run ``num_samples`` times and the softmax
probabilities are averaged; their spread says how unsure the model is. BatchNorm stays in eval
mode (running statistics), only the dropout layers are stochastic.

How the masks are drawn (and why not with torch's generator): ``nn.Dropout`` takes no
``torch.Generator``, and torch's masks depend on how the rows are batched. Here the model runs
in eval mode (its dropout layers are then the identity) and a forward hook on each dropout
layer applies a mask computed by a counter-based hash of ``(seed, layer, call, sample, row,
unit)`` with the same formulas as PyTorch (``x * keep / (1 - p)``, and the SELU-preserving
affine map of ``AlphaDropout``). So the mask of MC sample ``s`` for data row ``i`` is the same
whether the rows go through the full model one sample at a time, or through a cached trunk in
a ``(samples × rows)`` batch, on any batch size and any device; the global RNG is never drawn
from (any other randomness in ``forward`` runs inside ``torch.random.fork_rng``). Dropout
modules are hooked; ``F.dropout`` calls written inside a ``forward`` are not seen (they are
off in eval mode).

Trunk caching: for an ``nn.Sequential`` (not overriding ``forward``), the children before the
first one that holds a dropout layer are deterministic; they run once per batch, and only the
rest runs on their output repeated over the samples.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from topnet.data.batches import num_samples as count_rows
from topnet.data.batches import to_tensors, tree_leaves, tree_map
from topnet.errors import format_message
from topnet.seeding import derive_seed
from topnet.train.checks import call_model, check_finite_inputs
from topnet.train.loop import resolve_device
from topnet.train.regularizers import DROPOUT_TYPES  # Dropout, Dropout1d/2d/3d, AlphaDropout, FeatureAlphaDropout

__all__ = ["MCResult", "mc_predict", "sampled_dropout"]

_FEATURE = (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.FeatureAlphaDropout)  # one mask value per channel
_ALPHA = (nn.AlphaDropout, nn.FeatureAlphaDropout)
_SELU_ALPHA = 1.7580993408473766  # λα = -SELU(-inf): AlphaDropout sets dropped units to -λα, then rescales
_HEAD_ELEMENTS = 2**24  # trunk-output elements per repeated head pass (64 MiB of float32)
_M32 = 0xFFFFFFFF


@dataclass(frozen=True)
class MCResult:
    """What ``mc_predict`` returns (tensors on the CPU).

    Attributes:
        mean: mean probabilities over the samples, ``(N, C)`` (softmax), or ``(N, 1)`` / ``(N,)``
            probabilities of the positive class for a single-logit binary model (sigmoid).
        std: their standard deviation over the samples (population std, as numpy's default).
        entropy: predictive entropy of ``mean`` in nats, ``(N,)``.
        samples: every sample's probabilities ``(num_samples, N, ...)``, or None unless asked.
    """

    mean: torch.Tensor
    std: torch.Tensor
    entropy: torch.Tensor
    samples: torch.Tensor | None = None


def _mix(h: torch.Tensor) -> torch.Tensor:
    # A 32-bit avalanche hash on int64 holding values < 2**32; multipliers < 2**31 keep every
    # product below 2**63 (no signed overflow), and >> on non-negative values is a logical shift.
    h = h ^ (h >> 16)
    h = (h * 0x7FEB352D) & _M32
    h = h ^ (h >> 15)
    h = (h * 0x5BD1E995) & _M32
    return h ^ (h >> 16)


def _keep_mask(key: int, samples: torch.Tensor, rows: torch.Tensor, units: int, p: float) -> torch.Tensor:
    """``(R, units)`` bool: keep unit ``j`` of row ``r``? (Bernoulli(1 - p) from the hash)."""
    row_key = _mix(_mix((samples & _M32) ^ key) ^ (rows & _M32))  # (R,)
    unit = torch.arange(units, device=rows.device)
    h = _mix(_mix(row_key[:, None] ^ unit[None, :]) ^ (key >> 7))  # (R, units)
    return h < round((1.0 - p) * 2**32)


def _apply_dropout(module: nn.Module, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """PyTorch's train-mode dropout of ``x`` with the given keep mask (broadcastable to x)."""
    p = float(module.p)
    if p >= 1.0:
        return x * torch.zeros((), dtype=x.dtype, device=x.device)
    noise = keep.to(x.dtype)
    if not isinstance(module, _ALPHA):
        return x * noise.div_(1 - p)
    a = 1.0 / math.sqrt((_SELU_ALPHA**2 * p + 1) * (1 - p))
    b = noise.add(-1).mul_(_SELU_ALPHA * a).add_(_SELU_ALPHA * a * p)
    return x * noise.mul_(a) + b


class _MaskSampler:
    """Forward hooks that make a model's dropout layers draw hashed masks (see module doc)."""

    def __init__(self, model: nn.Module, seed: int):
        self.model, self.seed = model, seed
        self.layers = {m: (i, name) for i, (name, m) in enumerate(
            (n, m) for n, m in model.named_modules() if isinstance(m, DROPOUT_TYPES))}
        self.samples = self.rows = None  # (R,) int64: MC sample and data row of each input row
        self.lazy: tuple[int, int] | None = None  # (sample, first row) when rows are numbered on the fly
        self.calls: dict[nn.Module, int] = {}
        self._keys: dict[tuple[int, int], int] = {}

    def set_rows(self, samples: torch.Tensor, rows: torch.Tensor) -> None:
        """Number the rows of the next forward pass (and start counting layer calls afresh)."""
        self.samples, self.rows, self.calls = samples, rows, {}

    def key(self, layer: int, call: int) -> int:
        if (layer, call) not in self._keys:
            full = derive_seed(self.seed, "mc_dropout", layer, call)
            self._keys[(layer, call)] = (full ^ (full >> 32)) & _M32
        return self._keys[(layer, call)]

    def hook(self, module: nn.Module, args: tuple, output: Any) -> Any:
        x = args[0]
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or module.p <= 0:
            return output
        index, name = self.layers[module]
        if x.dim() == 0:
            raise ValueError(format_message(f"input of dropout layer {name!r}", "a 0-dimensional tensor",
                                            "batch-first activations", "MC dropout draws one mask per row"))
        if self.lazy is not None and (self.rows is None or len(self.rows) != len(x)):
            sample, first = self.lazy
            self.rows = first + torch.arange(len(x), device=x.device)
            self.samples = torch.full_like(self.rows, sample)
        if len(x) != len(self.rows):
            raise ValueError(format_message(f"input of dropout layer {name!r}", tuple(x.shape),
                                            f"one row per sample on the first axis ({len(self.rows)} rows)",
                                            "MC dropout needs batch-first activations"))
        call = self.calls[module] = self.calls.get(module, -1) + 1
        feature = isinstance(module, _FEATURE) and x.dim() >= 2
        units = x.shape[1] if feature else x[0].numel()
        keep = _keep_mask(self.key(index, call), self.samples, self.rows, units, float(module.p))
        shape = (len(x), x.shape[1], *([1] * (x.dim() - 2))) if feature else x.shape
        return _apply_dropout(module, x, keep.reshape(shape))

    @contextlib.contextmanager
    def active(self) -> Iterator[_MaskSampler]:
        """Eval mode plus the hooks; every module's training flag is restored afterwards."""
        modes = {m: m.training for m in self.model.modules()}
        handles = [m.register_forward_hook(self.hook) for m in self.layers]
        handles.append(self.model.register_forward_pre_hook(lambda *_: self.calls.clear()))
        self.model.eval()
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()
            for module, mode in modes.items():
                module.training = mode


@contextlib.contextmanager
def sampled_dropout(model: nn.Module, sample: int, *, seed: int = 0, row_offset: int = 0) -> Iterator[nn.Module]:
    """Run ``model`` with dropout drawing the masks of MC sample ``sample`` (BatchNorm in eval).

    The masks are those ``mc_predict`` draws for the same ``seed``, with the batch's rows
    numbered from ``row_offset``: write your own MC loop (regression, several outputs) with it.

    Example:
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 2))
        >>> x = torch.randn(3, 4)
        >>> with sampled_dropout(model, 0) as m, torch.no_grad():
        ...     a, b = m(x), m(x)
        >>> torch.equal(a, b), model.training
        (True, True)
    """
    sampler = _MaskSampler(model, seed)
    sampler.lazy = (int(sample), int(row_offset))
    with sampler.active():
        yield model


def _probabilities(logits: Any) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(format_message("model output", type(logits).__name__, "one tensor of logits",
                                       "wrap a multi-output model to return the output to sample"))
    logits = logits.float()
    if logits.dim() >= 2 and logits.shape[1] > 1:
        return torch.softmax(logits, dim=1)
    return torch.sigmoid(logits)  # one logit: the positive class's probability


def _entropy(mean: torch.Tensor) -> torch.Tensor:
    if mean.dim() >= 2 and mean.shape[1] > 1:
        return -torch.special.xlogy(mean, mean).sum(dim=1)
    binary = -(torch.special.xlogy(mean, mean) + torch.special.xlogy(1 - mean, 1 - mean))
    return binary.reshape(len(mean), -1).sum(dim=1)


def _split_trunk(model: nn.Module) -> tuple[nn.Sequential, nn.Sequential] | None:
    """``(trunk, head)`` of an ``nn.Sequential``: head starts at the first child with dropout."""
    if not isinstance(model, nn.Sequential) or type(model).forward is not nn.Sequential.forward:
        return None
    for index, child in enumerate(model):
        if any(isinstance(m, DROPOUT_TYPES) for m in child.modules()):
            return model[:index], model[index:]
    return None


def _chunk_samples(sampler: _MaskSampler, model: nn.Module, split: Any, xb: Any, first: int,
                   num_samples: int) -> torch.Tensor:
    """``(num_samples, B, ...)`` probabilities of the rows ``first, first + 1, ...`` of ``xb``."""
    rows = first + torch.arange(count_rows(xb), device=tree_leaves(xb)[0].device)
    pieces = []
    features = split[0](xb) if split is not None else None  # the trunk's (B, ...) output, computed once
    if not isinstance(features, torch.Tensor):  # no cached trunk (or it returns a structure): full passes
        for s in range(num_samples):
            sampler.set_rows(torch.full_like(rows, s), rows)
            pieces.append(_probabilities(call_model(model, xb))[None])
        return torch.cat(pieces)
    head = split[1]
    per_pass = max(1, min(num_samples, _HEAD_ELEMENTS // max(1, features.numel())))
    for s0 in range(0, num_samples, per_pass):
        k = min(per_pass, num_samples - s0)
        sampler.set_rows(torch.arange(s0, s0 + k, device=rows.device).repeat_interleave(len(rows)), rows.repeat(k))
        repeated = features.unsqueeze(0).expand(k, *features.shape).reshape(k * len(rows), *features.shape[1:])
        probabilities = _probabilities(head(repeated))  # (k * B, ...), sample-major
        pieces.append(probabilities.reshape(k, len(rows), *probabilities.shape[1:]))
    return torch.cat(pieces)


def mc_predict(model: nn.Module, x: Any, num_samples: int = 30, *, seed: int = 0, batch_size: int = 256,
               device: str | torch.device = "auto", return_samples: bool = False,
               cache_trunk: bool = True) -> MCResult:
    """Monte Carlo dropout predictions: mean, spread and entropy of ``num_samples`` dropout runs.

    Args:
        model: a classifier returning logits (``(N, C)``, or ``(N, 1)`` for a binary model),
            with ``nn.Dropout*`` / ``AlphaDropout`` / ``FeatureAlphaDropout`` layers.
        x: inputs (tensor / array, a dict of named inputs, or a ``Dataset``'s ``x``).
        num_samples: dropout runs averaged (Géron uses 100).
        seed: fixes every mask; the same seed gives the same result on any batch size or device.
        batch_size: data rows per trunk pass (and per full pass without a cached trunk).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``; the model is moved there (as ``predict`` does).
        return_samples: also return every sample's probabilities (memory: samples × N × C).
        cache_trunk: run the deterministic trunk of an ``nn.Sequential`` once per batch (see the
            module doc); False always runs full forward passes (same result, slower).

    Returns:
        An ``MCResult`` (``mean``, ``std``, ``entropy``, ``samples``) on the CPU. The model's
        training flags are restored, and torch's global RNG state is unchanged.

    Raises:
        ValueError: ``num_samples`` or ``batch_size`` not positive, a model without dropout
            layers, or dropout inputs that are not batch-first.
        TypeError: a model that returns several outputs.

    Example:
        >>> model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
        >>> result = mc_predict(model, torch.randn(5, 4), num_samples=20)
        >>> result.mean.shape, result.std.shape, result.entropy.shape
        (torch.Size([5, 3]), torch.Size([5, 3]), torch.Size([5]))
        >>> torch.allclose(result.mean.sum(dim=1), torch.ones(5))
        True
    """
    for name, value in (("num_samples", num_samples), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(format_message(name, value, "a positive int", f"e.g. {name}=30"))
    if hasattr(x, "x") and hasattr(x, "y"):
        x = x.x
    device = resolve_device(device)
    x = to_tensors(x, device)
    total = check_finite_inputs(x, None, "MC prediction")
    model.to(device)
    sampler = _MaskSampler(model, seed)
    if not sampler.layers:
        raise ValueError(format_message("model", type(model).__name__, "a model with dropout layers "
                                        "(nn.Dropout, nn.Dropout2d, nn.AlphaDropout, ...)",
                                        "add dropout, or use topnet.predict for a deterministic model"))
    split = _split_trunk(model) if cache_trunk and isinstance(x, torch.Tensor) else None
    means, stds, samples = [], [], []
    devices = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad(), sampler.active():
        torch.manual_seed(derive_seed(seed, "mc_dropout", "other randomness"))
        for first in range(0, total, batch_size):
            xb = tree_map(lambda t: t[first:first + batch_size], x)
            probabilities = _chunk_samples(sampler, model, split, xb, first, num_samples)  # (S, B, ...)
            means.append(probabilities.mean(dim=0).cpu())
            stds.append(probabilities.std(dim=0, correction=0).cpu())
            if return_samples:
                samples.append(probabilities.cpu())
    mean = torch.cat(means)
    return MCResult(mean=mean, std=torch.cat(stds), entropy=_entropy(mean),
                    samples=torch.cat(samples, dim=1) if return_samples else None)
