"""Model files: save and load weights and whole models, and read checkpoints safely.

A saved model is a directory with two files:

    weights.safetensors   the state dict (parameters and buffers), no pickle
    config.json           {"format": "topnet.model", "version": 1, "builder": NAME | null,
                           "kwargs": {...}, "class": "module.QualName", "metadata": {...}}

``load_model`` rebuilds the model from a registered builder named in the config (never by
importing a name found in the file), then loads the weights. A model topnet did not build
reloads into a module the caller passes: ``load_model(path, model=MyNet())``.

Every file is written atomically (`topnet.atomic`: a temporary name in the same directory,
flushed, fsynced and renamed over the old one), so a crash mid-write never leaves a half-written
file under the real name. The atomic-write helpers are re-exported here.
"""
from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch

from topnet.atomic import atomic_write_bytes, atomic_write_text, atomic_writer, remove_leftovers, write_json
from topnet.errors import CheckpointError, UnsafeFileError

__all__ = [
    "atomic_writer",
    "atomic_write_bytes",
    "atomic_write_text",
    "write_json",
    "remove_leftovers",
    "save_weights",
    "load_weights",
    "save_model",
    "load_model",
    "safe_torch_load",
]

_FORMAT = "topnet.model"
_VERSION = 1
WEIGHTS_FILE = "weights.safetensors"
CONFIG_FILE = "config.json"


def _plain_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    # safetensors refuses tensors that share memory (tied weights); cloning writes each once per
    # name, and load_state_dict copies the values back into the tied parameter.
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}


def save_weights(model: torch.nn.Module, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """Save ``model.state_dict()`` to one safetensors file, atomically."""
    from safetensors.torch import save

    atomic_write_bytes(path, save(_plain_state(model), metadata=metadata))


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"weights file {str(path)!r} does not exist; expected a file written by save_weights or save_model") from None
    try:
        return load(data)
    except Exception as error:  # safetensors raises its own SafetensorError on bad headers
        raise UnsafeFileError(
            f"{str(path)!r} is not a valid safetensors file ({error}); it may be truncated or "
            "corrupted: re-save the model, or restore the file from a backup"
        ) from None


def non_finite_names(state: dict[str, torch.Tensor]) -> list[str]:
    """The names of the floating tensors in ``state`` that hold NaN or inf (one host sync each).

    Example:
        >>> non_finite_names({"w": torch.tensor([1.0, float("nan")]), "b": torch.zeros(2)})
        ['w']
    """
    return [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def check_finite(state: dict[str, torch.Tensor], source: str) -> None:
    """Warn when floating tensors in ``state`` hold NaN or inf (a model saved after divergence)."""
    bad = non_finite_names(state)
    if bad:
        warnings.warn(f"{source}: non-finite values (NaN or inf) in {bad[:5]}{' ...' if len(bad) > 5 else ''}; "
                      "the model was probably saved after training diverged", RuntimeWarning, stacklevel=3)


def load_weights(model: torch.nn.Module, path: str | os.PathLike, strict: bool = True) -> torch.nn.Module:
    """Load a safetensors file written by ``save_weights`` into ``model`` and return it.

    Raises:
        CheckpointError: the file is missing or its tensors do not match the model.
        UnsafeFileError: the file is not valid safetensors.
    """
    path = Path(path)
    state = _read_safetensors(path)
    check_finite(state, str(path))
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as error:
        raise CheckpointError(f"weights in {str(path)!r} do not match the model: {error}") from None
    return model


def save_model(model: torch.nn.Module, path: str | os.PathLike, *, config: dict[str, Any] | None = None,
               metadata: dict[str, Any] | None = None) -> Path:
    """Save a model as a directory: ``weights.safetensors`` + ``config.json``.

    Args:
        model: any ``torch.nn.Module``.
        path: the directory to write (created; an existing model there is replaced atomically
            file by file, weights first).
        config: ``{"builder": NAME, "kwargs": {...}}``; by default the one recorded by
            ``topnet.nn.create_model`` for this model, else ``{"builder": None}``.
        metadata: JSON-serialisable extras (metrics, epoch, class names).

    Returns:
        The directory path.

    Example:
        >>> import tempfile, torch
        >>> d = save_model(torch.nn.Linear(2, 1), tempfile.mkdtemp() + "/m")
        >>> sorted(p.name for p in d.iterdir())
        ['config.json', 'weights.safetensors']
    """
    from topnet.nn.models import config_of

    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    built = config if config is not None else config_of(model)
    document = {
        "format": _FORMAT,
        "version": _VERSION,
        "builder": (built or {}).get("builder"),
        "kwargs": (built or {}).get("kwargs", {}),
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "metadata": metadata or {},
    }
    text = json.dumps(document, indent=2, sort_keys=True, default=_json_default)
    save_weights(model, directory / WEIGHTS_FILE)
    atomic_write_text(directory / CONFIG_FILE, text + "\n")
    return directory


def _json_default(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        return value.tolist()
    raise TypeError(f"config value {value!r} of type {type(value).__name__} is not JSON-serialisable; "
                    "use numbers, strings, lists and dicts in builder arguments and metadata")


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a saved model's ``config.json``."""
    file = Path(path) / CONFIG_FILE
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{str(path)!r} has no {CONFIG_FILE}; expected a directory written by topnet.io.save_model") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{str(file)!r} is not valid JSON ({error}); re-save the model") from None
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise CheckpointError(f"{str(file)!r} is not a topnet model config (format={document.get('format') if isinstance(document, dict) else None!r}); "
                              f"expected format {_FORMAT!r}")
    return document


def load_model(path: str | os.PathLike, *, model: torch.nn.Module | None = None,
               map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """Load a model saved by ``save_model``.

    Args:
        path: the model directory.
        model: a module to load the weights into; needed when the model was not built by a
            registered builder (its config says ``"builder": null``).
        map_location: device to put the model on.

    Returns:
        The model, in eval mode.

    Raises:
        CheckpointError: missing/invalid config, unknown builder, or weights that don't match.
        UnsafeFileError: a damaged weights file.
    """
    from topnet.nn.models import create_model, list_models

    document = read_config(path)
    if model is None:
        builder = document.get("builder")
        if builder is None:
            raise CheckpointError(
                f"{str(path)!r} holds a {document.get('class')} that no topnet builder made; pass the "
                f"module to load into: load_model({str(path)!r}, model=YourModel(...))")
        if builder not in list_models():
            raise CheckpointError(f"{str(path)!r} names builder {builder!r}, which is not registered; "
                                  f"registered: {list_models()}")
        model = create_model(builder, **document.get("kwargs", {}))
    load_weights(model, Path(path) / WEIGHTS_FILE)
    return model.to(map_location).eval()


def safe_torch_load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load`` with ``weights_only=True``: tensors and plain containers only, no code.

    Raises:
        UnsafeFileError: the file holds other objects (a pickle that could run code).
        CheckpointError: the file is missing or truncated.
    """
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist") from None
    except Exception as error:
        text = str(error)
        if "Weights only load failed" in text or "Unsupported global" in text:
            raise UnsafeFileError(f"{str(path)!r} holds objects other than tensors and plain containers; "
                                  "refused without running it (it could execute code). Only load files you trust "
                                  "and re-save them with topnet.io.save_model") from None
        raise CheckpointError(f"cannot read checkpoint {str(path)!r}: {text.splitlines()[0] if text else error!r}") from None


def remove_tree(path: str | os.PathLike) -> None:
    """Remove a directory tree if it exists (ignores a missing one)."""
    shutil.rmtree(path, ignore_errors=True)
