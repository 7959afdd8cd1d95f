"""Input standardisation fitted on train only, and batched augmentation on device tensors.

`Standardizer` learns a mean and standard deviation per channel of images ``(N, C, ...)`` or per
feature of tables ``(N, F)``; `standardize` fits one per input on ``splits.train`` and applies
it to every split, so no statistic leaks from valid, blend or test.

The augmentations work on a whole batch ``(N, C, H, W)`` at once, on whatever device it is on
(as airbench does): each draws its random numbers from an explicit ``torch.Generator`` and
applies them with tensor indexing, never a Python loop over samples.

Example:
    >>> import torch
    >>> augment = Compose([RandomFlip(), PadAndCrop(2), Cutout(4)])
    >>> x = torch.rand(8, 3, 16, 16)
    >>> augment(x, torch.Generator().manual_seed(0)).shape
    torch.Size([8, 3, 16, 16])
"""
from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from topnet.data.dataset import Dataset, Splits
from topnet.data.on_disk import map_rows
from topnet.errors import DataError, format_message

__all__ = ["Standardizer", "standardize", "RandomFlip", "RandomTranslate", "PadAndCrop", "Cutout",
           "Compose", "translate"]


class Standardizer:
    """Scale each channel (axis 1) to zero mean and unit variance, with statistics from train.

    NaN-aware: NaNs are ignored when fitting and become 0 (the train mean) after `transform`;
    infinite values are refused when fitting (``DataError``).
    A channel with standard deviation 0 is only centred.

    Args:
        with_mean: subtract the mean (as in scikit-learn).
        with_std: divide by the standard deviation.

    Example:
        >>> import numpy as np
        >>> scaler = Standardizer().fit(np.array([[1.0, 10.0], [3.0, np.nan]]))
        >>> scaler.mean_.tolist(), scaler.transform(np.array([[2.0, np.nan]])).tolist()
        ([2.0, 10.0], [[0.0, 0.0]])
    """

    def __init__(self, with_mean: bool = True, with_std: bool = True) -> None:
        self.with_mean = with_mean
        self.with_std = with_std

    def __repr__(self) -> str:
        return f"Standardizer(with_mean={self.with_mean}, with_std={self.with_std})"

    def fit(self, x: np.ndarray | torch.Tensor) -> Standardizer:
        """Learn ``mean_`` and ``std_`` (float64, one per channel) from ``x``; returns self."""
        array = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x if isinstance(x, np.ndarray) else np.asarray(x)
        if array.ndim < 1 or len(array) == 0 or array.dtype.kind not in "biuf":
            raise DataError(f"x: got shape {array.shape} dtype {array.dtype}; expected a non-empty "
                            "numeric array (N, ...)")
        if array.dtype == np.uint8:  # images, maybe memory-mapped: exact sums chunk by chunk, no float copy
            mean, std = _uint8_moments(array)
            self.mean_ = mean if self.with_mean else np.zeros_like(mean)
            self.std_ = np.where(std == 0, 1.0, std) if self.with_std else np.ones_like(std)
            return self
        array = array.astype(np.float64)
        infinite = np.isinf(array)
        if infinite.any():
            rows = np.flatnonzero(infinite.reshape(len(array), -1).any(axis=1))
            raise DataError(format_message("x", f"{int(infinite.sum())} infinite values in {len(rows)} samples (first at row {rows[0]})",
                                           "finite numbers or NaN (NaN is imputed with the train mean)",
                                           "replace the infinities with NaN or drop those rows"))
        axes = tuple(i for i in range(array.ndim) if i != 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN channels: handled below
            mean, std = np.nanmean(array, axis=axes), np.nanstd(array, axis=axes)
        self.mean_ = np.where(np.isnan(mean), 0.0, mean) if self.with_mean else np.zeros_like(mean)
        std = np.where(np.isnan(std) | (std == 0), 1.0, std)
        self.std_ = std if self.with_std else np.ones_like(std)
        return self

    def transform(self, x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """``(x - mean_) / std_`` as float32, NaN -> 0; NumPy in, NumPy out; tensors stay on device."""
        if not hasattr(self, "mean_"):
            raise ValueError("this Standardizer is not fitted yet; call fit(x_train) first")
        channels = x.shape[1] if x.ndim > 1 else 1
        if x.ndim < 1 or channels != self.mean_.size and self.mean_.ndim:
            raise DataError(f"x: got shape {tuple(x.shape)}; expected {self.mean_.size} channels on "
                            "axis 1, as when fitted")
        shape = (1, -1) + (1,) * (x.ndim - 2) if x.ndim > 1 else ()
        if isinstance(x, torch.Tensor):
            mean = torch.as_tensor(self.mean_, dtype=torch.float32, device=x.device).reshape(shape)
            std = torch.as_tensor(self.std_, dtype=torch.float32, device=x.device).reshape(shape)
            out = (x.to(torch.float32) - mean) / std
            return torch.where(torch.isnan(out), torch.zeros_like(out), out)
        mean, std = self.mean_.astype(np.float32).reshape(shape), self.std_.astype(np.float32).reshape(shape)

        def scale(block: np.ndarray) -> np.ndarray:
            out = (np.asarray(block, dtype=np.float32) - mean) / std
            return np.where(np.isnan(out), np.float32(0), out).astype(np.float32)

        on_disk = map_rows(x, scale, np.float32)  # a large memory map: the result stays on disk too
        return on_disk if on_disk is not None else scale(x)

    def fit_transform(self, x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """`fit` then `transform` the same ``x``."""
        return self.fit(x).transform(x)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """``{"mean": ..., "std": ...}`` as float64 tensors (safetensors- and torch.save-ready)."""
        if not hasattr(self, "mean_"):
            raise ValueError("this Standardizer is not fitted yet; call fit(x_train) first")
        return {"mean": torch.from_numpy(np.array(self.mean_)), "std": torch.from_numpy(np.array(self.std_))}

    def load_state_dict(self, state: dict[str, Any]) -> Standardizer:
        """Restore ``mean_`` and ``std_`` from `state_dict`'s output; returns self."""
        missing = sorted({"mean", "std"} - set(state))
        if missing:
            raise DataError(f"state: missing keys {missing}; expected 'mean' and 'std' from state_dict()")
        as_numpy = lambda v: v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)  # noqa: E731
        self.mean_ = as_numpy(state["mean"]).astype(np.float64)
        self.std_ = as_numpy(state["std"]).astype(np.float64)
        return self


def _uint8_moments(array: np.ndarray, rows_per_chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population std per channel (axis 1) of uint8 data, from exact integer sums.

    Reads ``rows_per_chunk`` rows at a time, so a memory-mapped array larger than memory is
    never loaded whole (and no float64 copy of it is made).
    """
    channels = array.shape[1] if array.ndim > 1 else 1
    total, squares = np.zeros(channels, np.int64), np.zeros(channels, np.int64)
    for start in range(0, len(array), rows_per_chunk):
        block = np.asarray(array[start:start + rows_per_chunk])
        block = block.reshape(len(block), channels, -1)  # (rows, channels, values)
        total += block.sum(axis=(0, 2), dtype=np.int64)
        squares += np.square(block, dtype=np.uint32).sum(axis=(0, 2), dtype=np.int64)  # 255**2 fits in uint32
    count = array.size // channels
    mean = total / count
    return mean, np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))


def _standardizable(array: np.ndarray) -> bool:
    """Float features and uint8 images are standardised; integer codes (categories) are not."""
    return array.dtype.kind == "f" or array.dtype == np.uint8


def standardize(splits: Splits, keys: Iterable[str] | None = None) -> tuple[Splits, dict[str, Standardizer]]:
    """Fit a `Standardizer` per input on ``splits.train`` and apply it to every split.

    Args:
        splits: the splits; ``x`` a single array (key ``"x"``) or a dict of named inputs.
        keys: the inputs to standardise; None for every float or uint8 input (int64 categorical
            codes are left alone).

    Returns:
        ``(new_splits, {key: fitted Standardizer})``; standardised inputs are float32.

    Raises:
        DataError: for a key that is not an input or is not float / uint8.

    Example:
        >>> import numpy as np
        >>> train = Dataset(x=np.array([[0.0], [2.0]]), y=np.array([0, 1]))
        >>> new, scalers = standardize(Splits(train=train))
        >>> new.train.x.ravel().tolist(), list(scalers)
        ([-1.0, 1.0], ['x'])
    """
    inputs = splits.train.x if isinstance(splits.train.x, dict) else {"x": splits.train.x}
    chosen = [k for k, v in inputs.items() if _standardizable(v)] if keys is None else list(keys)
    for key in chosen:
        if key not in inputs or not _standardizable(inputs[key]):
            raise DataError(f"keys: got {key!r}; expected float or uint8 inputs among "
                            f"{[k for k, v in inputs.items() if _standardizable(v)]}")
    scalers = {key: Standardizer().fit(inputs[key]) for key in chosen}

    def apply(dataset: Dataset) -> Dataset:
        if not isinstance(dataset.x, dict):
            return dataclasses.replace(dataset, x=scalers["x"].transform(dataset.x) if scalers else dataset.x)
        x = {k: scalers[k].transform(v) if k in scalers else v for k, v in dataset.x.items()}
        return dataclasses.replace(dataset, x=x)

    return Splits(**{name: apply(dataset) for name, dataset in splits.items()}), scalers


# ---- batched augmentation --------------------------------------------------------------------

def _check_batch(x: torch.Tensor, who: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise DataError(f"{who}: got {got}; expected a tensor (batch, channels, height, width)")


def _uniform(n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """n floats in [0, 1), drawn on the generator's device, returned on ``device``."""
    return torch.rand(n, generator=generator, device=generator.device).to(device)


def _integers(low: int, high: int, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """n ints in [low, high], drawn on the generator's device, returned on ``device``."""
    return torch.randint(low, high + 1, (n,), generator=generator, device=generator.device).to(device)


def _source_index(size: int, shifts: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per sample, the input index each output position reads: ``i + shift``, reflected or masked."""
    index = torch.arange(size, device=shifts.device)[None, :] + shifts[:, None]  # (N, size)
    if mode == "reflect":  # torch's reflect padding: ... 2 1 | 0 1 2 ... n-1 | n-2 ...
        index = index.abs()
        return torch.where(index > size - 1, 2 * (size - 1) - index, index), None
    valid = (index >= 0) & (index < size)
    return index.clamp(0, size - 1), valid


def translate(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, mode: str = "zeros") -> torch.Tensor:
    """Shift each image by its own ``(dy[n], dx[n])`` pixels: ``out[n, :, i, j] = x[n, :, i+dy, j+dx]``.

    Positions outside the image read zeros (``mode="zeros"``) or the mirror image
    (``mode="reflect"``, as ``F.pad(mode="reflect")``). Same as padding by the largest shift and
    cropping the window at offset ``(pad + dy, pad + dx)``.

    Args:
        x: images ``(N, C, H, W)`` of any dtype, on any device.
        dy, dx: int shifts ``(N,)``; for ``"reflect"`` each below the height / width.
        mode: ``"zeros"`` or ``"reflect"``.

    Returns:
        A new tensor like ``x``.

    Example:
        >>> x = torch.arange(3.0).reshape(1, 1, 1, 3)
        >>> translate(x, torch.tensor([0]), torch.tensor([1])).tolist()
        [[[[1.0, 2.0, 0.0]]]]
    """
    _check_batch(x, "x")
    _check_mode(mode)
    if mode == "reflect" and len(dy) and (int(dy.abs().max()) >= x.shape[2] or int(dx.abs().max()) >= x.shape[3]):
        raise DataError(f"dy, dx: got shifts beyond the image size {tuple(x.shape[2:])}; expected "
                        "smaller shifts for mode='reflect'")
    return _translate(x, dy, dx, mode)


def _check_mode(mode: str) -> None:
    if mode not in ("zeros", "reflect"):
        raise ValueError(f"mode: got {mode!r}; expected 'zeros' or 'reflect'")


def _translate(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, mode: str) -> torch.Tensor:
    n, _, height, width = x.shape
    rows, row_ok = _source_index(height, dy.to(x.device), mode)  # (N, H)
    cols, col_ok = _source_index(width, dx.to(x.device), mode)  # (N, W)
    batch = torch.arange(n, device=x.device)[:, None, None]
    out = x[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    if mode == "zeros":
        inside = (row_ok[:, :, None] & col_ok[:, None, :])[:, None]  # (N, 1, H, W)
        out = out.masked_fill(~inside, 0)
    return out.contiguous()


def _check_int(value: object, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: got {value!r}; expected an int >= {minimum}")


def _check_probability(p: object) -> None:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"p: got {p!r}; expected a probability in [0, 1]")


class RandomFlip:
    """Flip each image left-right (and/or up-down) with probability ``p``, independently.

    Example:
        >>> x = torch.arange(4.0).reshape(1, 1, 2, 2)
        >>> RandomFlip(p=1.0)(x, torch.Generator()).tolist()
        [[[[1.0, 0.0], [3.0, 2.0]]]]
    """

    def __init__(self, horizontal: bool = True, vertical: bool = False, p: float = 0.5) -> None:
        _check_probability(p)
        self.horizontal = horizontal
        self.vertical = vertical
        self.p = p

    def __repr__(self) -> str:
        return f"RandomFlip(horizontal={self.horizontal}, vertical={self.vertical}, p={self.p})"

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        _check_batch(x, "x")
        for enabled, axis in ((self.horizontal, 3), (self.vertical, 2)):
            if enabled:
                flip = (_uniform(len(x), generator, x.device) < self.p)[:, None, None, None]
                x = torch.where(flip, x.flip(axis), x)
        return x


class RandomTranslate:
    """Shift each image by its own random ``(dy, dx)`` in ``[-max_shift, max_shift]`` pixels.

    Args:
        max_shift: the largest shift in pixels, each way.
        mode: what fills the uncovered border: ``"zeros"`` or ``"reflect"``.
    """

    def __init__(self, max_shift: int, mode: str = "zeros") -> None:
        _check_int(max_shift, "max_shift", 0)
        _check_mode(mode)
        self.max_shift = max_shift
        self.mode = mode

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.max_shift}, mode={self.mode!r})"

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        _check_batch(x, "x")
        if self.mode == "reflect" and self.max_shift >= min(x.shape[2:]):
            raise DataError(f"{self!r}: images of size {tuple(x.shape[2:])} are too small to reflect "
                            f"{self.max_shift} pixels; expected a shift below the size")
        dy = _integers(-self.max_shift, self.max_shift, len(x), generator, x.device)
        dx = _integers(-self.max_shift, self.max_shift, len(x), generator, x.device)
        return _translate(x, dy, dx, self.mode)


class PadAndCrop(RandomTranslate):
    """Pad by ``padding`` pixels (mirror by default, as airbench) and crop a random window of the
    original size: the same as `RandomTranslate` with ``max_shift=padding``.

    Example:
        >>> PadAndCrop(4)
        PadAndCrop(4, mode='reflect')
    """

    def __init__(self, padding: int, mode: str = "reflect") -> None:
        super().__init__(padding, mode)

    @property
    def padding(self) -> int:
        return self.max_shift


class Cutout:
    """Zero a random ``size`` x ``size`` square, fully inside the image, with probability ``p``.

    Example:
        >>> x = torch.ones(2, 3, 8, 8)
        >>> (Cutout(4)(x, torch.Generator()) == 0).sum(dim=(1, 2, 3)).tolist()
        [48, 48]
    """

    def __init__(self, size: int, p: float = 1.0) -> None:
        _check_int(size, "size", 1)
        _check_probability(p)
        self.size = size
        self.p = p

    def __repr__(self) -> str:
        return f"Cutout({self.size}, p={self.p})"

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        _check_batch(x, "x")
        n, _, height, width = x.shape
        if self.size > min(height, width):
            raise DataError(f"{self!r}: got images of size {(height, width)}; expected at least "
                            f"{self.size} x {self.size}")
        top = _integers(0, height - self.size, n, generator, x.device)[:, None]  # (N, 1)
        left = _integers(0, width - self.size, n, generator, x.device)[:, None]
        apply = (_uniform(n, generator, x.device) < self.p)[:, None, None, None]
        rows = torch.arange(height, device=x.device)[None, :]  # (1, H)
        cols = torch.arange(width, device=x.device)[None, :]
        in_rows = (rows >= top) & (rows < top + self.size)  # (N, H)
        in_cols = (cols >= left) & (cols < left + self.size)  # (N, W)
        square = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]  # (N, 1, H, W)
        return x.masked_fill(square & apply, 0)


class Compose:
    """Apply augmentations in order, all drawing from the same generator.

    Example:
        >>> Compose([RandomFlip(), Cutout(8)])
        Compose([RandomFlip(horizontal=True, vertical=False, p=0.5), Cutout(8, p=1.0)])
    """

    def __init__(self, transforms: Sequence[Any]) -> None:
        transforms = list(transforms)
        for transform in transforms:
            if not callable(transform):
                raise TypeError(f"transforms: got {transform!r}; expected callables (x, generator) -> x")
        self.transforms = transforms

    def __repr__(self) -> str:
        return f"Compose([{', '.join(map(repr, self.transforms))}])"

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for transform in self.transforms:
            x = transform(x, generator)
        return x
