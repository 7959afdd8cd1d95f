"""``fit``, ``evaluate`` and ``predict``: the training loop, written out in one place.

A reader gets from ``fit`` to ``optimizer.step()`` in ``_train_epoch``. Callbacks are called
only from here, in the order documented in ``topnet/callbacks/base.py``. The data moves to the
device once; a batch is an index slice; nothing per step forces a device sync.
"""
from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from topnet.callbacks.backup_and_restore import BackupAndRestore
from topnet.callbacks.base import Callback
from topnet.callbacks.history import History
from topnet.callbacks.progress_bar import ProgressBar
from topnet.callbacks.state import TrainState
from topnet.data.batches import TensorBatches, sample_weights, to_tensors, tree_map, unpack_x_y_sample_weight
from topnet.errors import format_message
from topnet.nn.call import call_model
from topnet.seeding import make_generator
from topnet.train.checks import check_against_model, check_finite_inputs, input_error
from topnet.train.objective import Objective, name_outputs
from topnet.train.optimizers import get_optimizer
from topnet.train.distributed import setup_distributed, shard_weight

__all__ = ["fit", "evaluate", "predict", "resolve_device", "resolve_precision", "check_precision", "native_bf16"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; anything else as ``torch.device``."""
    if device == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))  # torchrun: one GPU per process
    try:
        return torch.device(device)
    except RuntimeError:
        raise ValueError(format_message("device", device, "'auto', 'cpu', 'cuda' or 'cuda:N'")) from None


def _unpack(data: Any, what: str, sample_weight: Any = None) -> tuple[Any, Any, Any]:
    """``(x, y, sample_weight)`` from a Dataset (``.x``, ``.y``), ``(x, y)`` or ``(x, y, sample_weight)``
    (Keras's forms), or with ``sample_weight`` as passed to ``fit`` / ``evaluate``."""
    if hasattr(data, "x") and hasattr(data, "y"):
        x, y, weights = data.x, data.y, None
    elif isinstance(data, (tuple, list)) and len(data) in (2, 3):
        x, y, weights = (*data, None)[:3]
    else:
        raise TypeError(format_message(what, type(data).__name__, "a topnet.data.Dataset, an (x, y) pair or "
                                       "(x, y, sample_weight)", "e.g. fit(model, (x_train, y_train))"))
    if weights is not None and sample_weight is not None:
        raise ValueError(format_message("sample_weight", f"weights twice, in {what} and as sample_weight=",
                                        "one of them", "pass (x, y) with sample_weight=, or (x, y, sample_weight) alone"))
    return x, y, (weights if weights is not None else sample_weight)


def native_bf16(device: str | torch.device = "auto") -> bool:
    """Whether ``device`` does bfloat16 matrix work in hardware: a CUDA GPU that supports it, or
    an x86 CPU with AVX512-BF16 or AMX (where oneDNN runs bf16 in hardware, faster than
    float32; elsewhere it is emulated and slower; figures in docs/measured-defaults.md).

    Example:
        >>> isinstance(native_bf16("cpu"), bool)
        True
    """
    device = resolve_device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    return bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none: not Linux); read once."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return frozenset(next((line for line in f if line.startswith("flags")), "").split())
    except OSError:
        return frozenset()


PRECISIONS = ("float32", "fp32", "bf16", "bfloat16", "auto")


def check_precision(precision: str) -> str:
    """``precision`` if it is one of `PRECISIONS`; else a ValueError naming it and the choices."""
    if precision not in PRECISIONS:
        raise ValueError(format_message("precision", precision, "'float32', 'bf16' or 'auto'"))
    return precision


def resolve_precision(precision: str, device: str | torch.device = "auto") -> str:
    """``"auto"`` → ``"bf16"`` where `native_bf16` (else ``"float32"``); anything else is checked and returned."""
    if check_precision(precision) == "auto":
        return "bf16" if native_bf16(device) else "float32"
    return precision


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if resolve_precision(precision, device) in ("float32", "fp32"):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _order_callbacks(callbacks: Sequence[Callback] | None, history: History | None,
                     verbose: int) -> tuple[list[Callback], History]:
    """BackupAndRestore first (it restores before the others begin), the user's callbacks in
    their order, then History and the progress bar (they record and print what the others put
    into the logs, e.g. ReduceLROnPlateau's learning rate)."""
    callbacks = list(callbacks or [])
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise TypeError(format_message("callbacks", type(callback).__name__, "topnet.callbacks.Callback instances"))
    found = [c for c in callbacks if isinstance(c, History)]
    history = found[0] if found else (history or History())
    backups = [c for c in callbacks if isinstance(c, BackupAndRestore)]
    bars = [c for c in callbacks if isinstance(c, ProgressBar)]
    if verbose and not bars:
        bars = [ProgressBar(verbose=verbose)]
    rest = [c for c in callbacks if c not in backups and c not in bars and c is not history]
    return [*backups, *rest, history, *bars], history


def _call(callbacks: list[Callback], hook: str, state: TrainState) -> None:
    for callback in callbacks:
        getattr(callback, hook)(state)


def fit(model: torch.nn.Module, data: Any, *, epochs: int = 1, batch_size: int = 32,
        loss: Any = "cross_entropy", optimizer: Any = "adam", lr: float | None = None,
        metrics: Any = None, loss_weights: Any = None, validation_data: Any = None,
        class_weight: Mapping[int, float] | None = None, sample_weight: Any = None,
        callbacks: Sequence[Callback] | None = None, shuffle: bool = True, seed: int = 0,
        device: str | torch.device = "auto", precision: str = "float32", channels_last: bool = False,
        clip_value: float | None = None, clip_norm: float | None = None, initial_epoch: int = 0,
        augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
        penalty: Callable[[torch.nn.Module], torch.Tensor] | None = None, compile: bool | Mapping[str, Any] = False,
        verbose: int = 1) -> History:
    """Train ``model`` on ``data`` the way Keras's ``Model.fit`` does, and return its History.

    Args:
        model: any ``torch.nn.Module`` returning logits (a tensor, a dict or a tuple of them).
        data: a ``topnet.data.Dataset``, ``(x, y)`` or ``(x, y, sample_weight)``; ``x`` a
            tensor/array or a dict of named inputs (passed to ``forward`` as keyword
            arguments); ``y`` a tensor/array, or a dict / list per output. A
            ``topnet.data.Splits`` trains on ``.train`` and validates on ``.valid``.
        epochs: train until this epoch index (Keras's meaning, with ``initial_epoch``).
        batch_size: samples per optimizer step.
        loss: a name (``"cross_entropy"``, ``"binary_cross_entropy"``, ``"mse"``, ``"mae"``,
            ``"huber"``), a callable ``(pred, target) -> scalar``, or a dict / list per output.
        optimizer: a name (``"adam"``, ``"sgd"``, ...), a ``torch.optim.Optimizer`` instance
            or class. ``lr`` overrides the name's default learning rate.
        metrics: names or ``Metric`` objects (``"accuracy"``, ``"top_5_accuracy"``, ``"mae"``),
            or a dict ``{output: [...]}``.
        loss_weights: a weight per output (dict or list); the logged ``loss`` is the weighted sum.
        validation_data: evaluated after each epoch; its logs get the ``val_`` prefix. The
            validation loss is weighted only when it is ``(x, y, sample_weight)`` (as in Keras).
        class_weight: ``{class index: weight}`` for a single-output classifier: each training
            row's loss is scaled by its class's weight (1.0 for classes left out); each index in
            the range of the training labels. Training only, as in Keras.
        sample_weight: one weight >= 0 per training row (shape ``(N,)``), scaling its loss, for
            every output; or give it as the third element of ``data``. With ``class_weight`` too
            the two multiply. A weighted batch loss is ``sum_i w_i * loss_i / N`` over its ``N``
            rows (Keras's ``"sum_over_batch_size"``), so weights scale the gradient; weights all
            1 train exactly as none. Metrics are not weighted.
        callbacks: ``topnet.callbacks`` objects; hooks run in list order, with
            ``BackupAndRestore`` first and ``History`` and the progress bar last.
        shuffle: reshuffle each epoch (the order comes from ``seed`` and the epoch number).
        seed: seeds the shuffle and the augmentation generator; dropout and other layers use
            torch's global generator, which ``BackupAndRestore`` saves and restores.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``. The model and the data
            are moved there once.
        precision: ``"float32"``, ``"bf16"`` (autocast: matrix work in bfloat16, losses and
            weights in float32) or ``"auto"`` (bf16 where the device does it in hardware, see
            `native_bf16`): where the hardware does bf16, a convnet's steps take markedly
            less time than in float32 (figures in docs/measured-defaults.md).
        channels_last: train a convnet in the channels-last memory layout (NHWC), which
            oneDNN's and cuDNN's fastest conv kernels use; the model is put back in the usual
            layout when ``fit`` returns. It shortens a convnet's steps on CPU too (figures
            in docs/measured-defaults.md).
        clip_value: clip each gradient element to ``[-clip_value, clip_value]``.
        clip_norm: clip the global gradient norm to ``clip_norm``.
        initial_epoch: epoch to start at (to continue a saved model's training).
        augment: ``(x_batch, generator) -> x_batch`` applied to training batches only.
        penalty: ``model -> scalar tensor`` added to each training batch's loss before the
            backward pass (L1/L2 weight penalties, as Keras's regularization losses); the
            logged training ``loss`` includes it, as in Keras, and ``penalty`` is logged alone.
        compile: run the training steps' forward pass through ``torch.compile`` (Keras's
            ``jit_compile``): ``True``, or a dict of its arguments (``{"mode": "max-autotune"}``).
            The first steps, and the last short batch of the first epoch, are slow while it
            compiles; it pays on a GPU over many steps. Validation and callbacks use the model
            itself (the compiled one shares its weights). Inductor, the default backend, needs
            a C++ compiler on CPU.
        verbose: 0 silent, 1 progress bar, 2 one line per epoch.

    Returns:
        The ``History`` callback: ``history.history["val_loss"]`` etc.

    Raises:
        DataError: empty data, NaN/inf inputs, labels out of range, inputs the model can't take.
        ValueError / TypeError: unknown names and bad arguments, before any training.

    Example:
        >>> x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
        >>> history = fit(torch.nn.Linear(4, 3), (x, y), epochs=2, metrics=["accuracy"], verbose=0)
        >>> sorted(history.history)
        ['accuracy', 'learning_rate', 'loss']
    """
    if hasattr(data, "train") and hasattr(data, "valid"):  # topnet.data.Splits
        data, validation_data = data.train, validation_data if validation_data is not None else data.valid
    for name, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(format_message(name, value, "a non-negative int"))
    if not isinstance(compile, (bool, Mapping)):
        raise TypeError(format_message("compile", compile, "True, False or a dict of torch.compile arguments",
                                       'e.g. compile={"mode": "max-autotune"}'))
    device = resolve_device(device)
    context = setup_distributed(device)
    autocast = _autocast(device, precision)
    x, y, sample_weight = _unpack(data, "data", sample_weight)
    x, y = to_tensors((x, y), device)
    check_finite_inputs(x, y, "training")
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)  # the conv weights; the kernels follow them
    first = _first_outputs(model, x)
    objective = Objective(list(first), loss, loss_weights, metrics)
    check_against_model(model, objective, x, y, "training")
    weights = sample_weights(y, sample_weight, class_weight, num_classes=_num_classes(first))  # (N,) or None
    batches = TensorBatches(x, y, batch_size, shuffle=shuffle, seed=seed,
                            num_shards=context.world_size, shard=context.rank, sample_weight=weights)
    context.check_batches(batches.num_samples, batch_size)  # every process gets rows of every batch
    validation = _prepare_validation(model, objective, validation_data, batch_size, device)
    optimizer = get_optimizer(optimizer, model.parameters(), lr=lr)
    callbacks, history = _order_callbacks(callbacks, None, verbose if context.rank == 0 else 0)
    if context.rank != 0:  # only rank 0 writes files and prints
        callbacks = [c for c in callbacks if not c.main_process_only]
    state = TrainState(model=model, optimizer=optimizer, epochs=epochs, epoch=initial_epoch,
                       steps_per_epoch=len(batches), step=initial_epoch * len(batches), seed=seed,
                       generator=make_generator(seed, "augment", device=device),
                       running_logs=objective.logs, callbacks=callbacks, objective=objective,
                       rank=context.rank, world_size=context.world_size)
    train_model = context.wrap(model, device)  # DistributedDataParallel when under torchrun
    if compile is not False:
        train_model = torch.compile(train_model, **(dict(compile) if isinstance(compile, Mapping) else {}))
    try:
        _call(callbacks, "on_fit_begin", state)
        start_batch = state.batch
        while state.epoch < state.epochs and not state.stop_training:
            model.train()
            objective.reset()
            state.logs = {}
            _call(callbacks, "on_epoch_begin", state)
            _train_epoch(state, train_model, callbacks, batches, objective, autocast, start_batch, augment, penalty,
                         clip_value, clip_norm)
            start_batch = 0
            state.logs = {**objective.logs(context.all_reduce_sum), **_validate(model, validation, autocast)}
            state.logs["learning_rate"] = state.learning_rate
            _call(callbacks, "on_epoch_end", state)
            state.epoch += 1
        state.completed = True
    finally:
        if channels_last:  # before on_fit_end: callbacks that copy or save weights see the usual layout
            model.to(memory_format=torch.contiguous_format)
        _call(callbacks, "on_fit_end", state)
    return history


def _train_epoch(state: TrainState, train_model: torch.nn.Module, callbacks: list[Callback],
                 batches: TensorBatches, objective: Objective,
                 autocast: contextlib.AbstractContextManager, start_batch: int, augment: Callable | None,
                 penalty: Callable | None, clip_value: float | None, clip_norm: float | None) -> None:
    """One pass over the training batches: forward, loss, backward, clip, step.

    ``train_model`` is ``state.model`` itself, or its DistributedDataParallel wrapper (which
    averages the gradients over the processes during ``backward``; a batch that splits unevenly
    over them is weighted by rows, see `shard_weight`: a sample-weighted loss is also
    ``sum w_i loss_i / rows`` on each process, so the product is the whole batch's weighted loss).
    """
    model, optimizer = state.model, state.optimizer
    for state.batch, batch in enumerate(batches.epoch(state.epoch, start_batch), start=start_batch):
        xb, yb, wb = unpack_x_y_sample_weight(batch)  # wb: (rows,) sample weights or None
        _call(callbacks, "on_batch_begin", state)
        if augment is not None:
            xb = _augment(augment, xb, state.generator)
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            outputs = call_model(train_model, xb)
        state.loss = objective(_float32(outputs), yb, penalty(model) if penalty is not None else None,
                               sample_weight=wb)
        if state.world_size > 1:
            batch_rows = min(batches.batch_size, batches.num_samples - state.batch * batches.batch_size)
            (state.loss * shard_weight(batch_rows, state.rank, state.world_size)).backward()
        else:
            state.loss.backward()
        _call(callbacks, "on_after_backward", state)
        if clip_value is not None:
            torch.nn.utils.clip_grad_value_(model.parameters(), clip_value)
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        state.step += 1
        _call(callbacks, "on_batch_end", state)
        if state.stop_training:
            break


def _float32(outputs: Any) -> Any:
    # Losses are computed in float32 even under bf16 autocast (softmax/log in bf16 loses digits).
    return tree_map(lambda t: t.float() if t.is_floating_point() else t, outputs)


def _augment(augment: Any, xb: Any, generator: torch.Generator) -> Any:
    if isinstance(augment, Mapping):  # {input name: transform}
        return {k: augment[k](v, generator) if k in augment else v for k, v in xb.items()}
    if isinstance(xb, Mapping):
        raise TypeError("augment: got one transform for several named inputs; pass a dict {input name: transform}")
    return augment(xb, generator)


def _first_outputs(model: torch.nn.Module, x: Any) -> dict[str, torch.Tensor | None]:
    """The model's named outputs on the first row (eval mode, no gradients); ``{"": None}``
    where the model fails on it (check_against_model then reports why, with the input shapes)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            outputs = call_model(model, tree_map(lambda t: t[:1], x))
    except (RuntimeError, TypeError, ValueError, IndexError):
        return {"": None}
    finally:
        model.train(was_training)
    return name_outputs(outputs)


def _num_classes(outputs: dict[str, torch.Tensor | None]) -> int | None:
    """The classes a single-output classifier tells apart: its logits' width (2 for one logit)."""
    if len(outputs) != 1 or next(iter(outputs.values())) is None:
        return None
    logits = next(iter(outputs.values()))
    return int(logits.shape[1]) if logits.dim() >= 2 and logits.shape[1] > 1 else 2


def _prepare_validation(model, objective, validation_data, batch_size, device):
    if validation_data is None:
        return None
    vx, vy, vw = _unpack(validation_data, "validation_data")
    vx, vy = to_tensors((vx, vy), device)
    check_finite_inputs(vx, vy, "validation")
    check_against_model(model, objective, vx, vy, "validation")
    weights = sample_weights(vy, vw, split="validation")
    return TensorBatches(vx, vy, batch_size, shuffle=False, sample_weight=weights), objective.clone()


def _validate(model: torch.nn.Module, validation: tuple[TensorBatches, Objective] | None,
              autocast: contextlib.AbstractContextManager) -> dict[str, float]:
    if validation is None:
        return {}
    batches, objective = validation
    logs = _run_evaluation(model, objective, batches, autocast)
    return {f"val_{key}": value for key, value in logs.items()}


def _run_evaluation(model: torch.nn.Module, objective: Objective, batches: TensorBatches,
                    autocast: contextlib.AbstractContextManager) -> dict[str, float]:
    """Mean loss and metrics over ``batches`` in eval mode, without gradients."""
    was_training = model.training
    model.eval()
    objective.reset()
    try:
        with torch.no_grad():
            for batch in batches.epoch(0):
                xb, yb, wb = unpack_x_y_sample_weight(batch)
                with autocast:
                    outputs = call_model(model, xb)
                objective(_float32(outputs), yb, sample_weight=wb)
        return objective.logs()
    finally:
        model.train(was_training)


def evaluate(model: torch.nn.Module, data: Any, *, loss: Any = "cross_entropy", metrics: Any = None,
             loss_weights: Any = None, sample_weight: Any = None, batch_size: int = 256,
             device: str | torch.device = "auto", precision: str = "float32") -> dict[str, float]:
    """Loss and metrics of ``model`` on ``data`` (eval mode, no gradients).

    ``data`` is a Dataset, ``(x, y)`` or ``(x, y, sample_weight)``; with ``sample_weight`` (one
    weight per row, or the data's third element) the loss is weighted as in ``fit``, the
    metrics are not.

    Returns:
        ``{"loss": ..., "accuracy": ..., ...}`` with the names ``fit`` logs (no ``val_`` prefix).

    Example:
        >>> x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
        >>> sorted(evaluate(torch.nn.Linear(4, 3), (x, y), metrics=["accuracy"]))
        ['accuracy', 'loss']
    """
    device = resolve_device(device)
    x, y, sample_weight = _unpack(data, "data", sample_weight)
    x, y = to_tensors((x, y), device)
    check_finite_inputs(x, y, "evaluation")
    weights = sample_weights(y, sample_weight, split="evaluation")
    model.to(device)
    objective = Objective(list(_first_outputs(model, x)), loss, loss_weights, metrics)
    check_against_model(model, objective, x, y, "evaluation")
    batches = TensorBatches(x, y, batch_size, shuffle=False, sample_weight=weights)
    return _run_evaluation(model, objective, batches, _autocast(device, precision))


def predict(model: torch.nn.Module, x: Any, *, batch_size: int = 256, device: str | torch.device = "auto",
            precision: str = "float32") -> Any:
    """The model's outputs (logits) for ``x``, batched, on the CPU, in eval mode.

    Args:
        x: a tensor / array, a dict of named inputs, or a ``Dataset`` (its ``x``).

    Returns:
        A tensor, or a dict / tuple of tensors, like the model's ``forward``.

    Example:
        >>> predict(torch.nn.Linear(4, 3), torch.randn(10, 4)).shape
        torch.Size([10, 3])
    """
    if hasattr(x, "x") and hasattr(x, "y"):
        x = x.x
    device = resolve_device(device)
    x = to_tensors(x, device)
    check_finite_inputs(x, None, "prediction")
    model.to(device)
    was_training = model.training
    model.eval()
    chunks = []
    try:
        with torch.no_grad(), _autocast(device, precision):
            for xb, _ in TensorBatches(x, None, batch_size, shuffle=False).epoch(0):
                try:
                    outputs = call_model(model, xb)
                except (RuntimeError, TypeError, ValueError, IndexError) as error:
                    if chunks:  # the inputs fitted the model on the first batch: not a shape problem
                        raise
                    raise input_error(x, "prediction", error) from error
                chunks.append(tree_map(lambda t: t.float().cpu() if t.is_floating_point() else t.cpu(), outputs))
    finally:
        model.train(was_training)
    return _concat(chunks)


def _concat(chunks: list[Any]) -> Any:
    first = chunks[0]
    if isinstance(first, Mapping):
        return {k: torch.cat([c[k] for c in chunks]) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(torch.cat([c[i] for c in chunks]) for i in range(len(first)))
    return torch.cat(chunks)
