"""``TensorBoard``: write scalars, histograms, the graph, embeddings and hparams for TensorBoard."""
from __future__ import annotations

import contextlib
import importlib.util
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState
from topnet.data.batches import num_samples, to_tensors, tree_map
from topnet.errors import format_message
from topnet.nn.call import call_model

__all__ = ["TensorBoard"]

_NUM_EXAMPLES = 32  # rows kept of the first training batch (graph input, activation histograms)


def _summary_writer() -> type:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ImportError("TensorBoard needs the tensorboard package: pip install 'topnet[tensorboard]' "
                          "(or pip install tensorboard); TensorFlow is not needed") from None
    return SummaryWriter


def _check_count(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(format_message(f"TensorBoard {name}", value, "an int >= 0 (0 turns it off)"))
    return value


def _first_rows(value: Any, count: int) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach()[:count].clone()
    if isinstance(value, Mapping):
        return {k: _first_rows(v, count) for k, v in value.items()}
    return value


class TensorBoard(Callback):
    """Log training for TensorBoard, in Keras's layout (``tensorboard --logdir LOG_DIR``).

    Written with the ``tensorboard`` package through ``torch.utils.tensorboard`` (no TensorFlow):

    - scalars: each epoch's logs as ``epoch_<name>`` (step = epoch) in ``log_dir/train``, and
      the ``val_`` ones without the prefix in ``log_dir/validation``, so TensorBoard draws
      training and validation curves together; ``learning_rate`` comes with the logs. With
      ``update_freq=N`` the running averages are also written every N steps as ``batch_<name>``
      (one device sync each time).
    - histograms every ``histogram_freq`` epochs (epochs 0, f, 2f, ...), in ``train``:
      ``weights/<param>``, ``gradients/<param>`` (the epoch's last training batch, before
      clipping; copied on the device, no sync) and ``activations/<module>`` (forward hooks on a
      fixed batch in eval mode: ``embeddings_data`` when given, else the first 32 rows of the
      first training batch, since callbacks do not see the validation data). Keras writes
      ``<layer>/<weight>/histogram`` instead; here each kind is one group. ``write_images``
      also writes 2-D weights and conv kernels as images (``images/<param>``).
    - the model graph (``add_graph``, traced in eval mode on the first batch's inputs).
    - embeddings every ``embeddings_freq`` epochs: the penultimate features (the input of the
      last parameterised layer) of ``embeddings_data``, with ``embeddings_metadata`` (or the
      labels of an ``(x, y)`` pair) and, for ``(N, 1|3, H, W)`` images, thumbnails; the
      projector reads ``log_dir/projector_config.pbtxt``.
    - ``hparams``: at the end of training, the hyperparameters with the final epoch's logs as
      metrics (``hparam/<name>``), in ``log_dir`` itself, for the HParams tab.

    Args:
        log_dir: the folder (created).
        histogram_freq: epochs between histograms (0: none).
        write_graph: write the model graph once.
        write_images: write weights as images at histogram epochs.
        update_freq: ``"epoch"``, ``"batch"`` (= 1) or an int N: batch-level scalars every N steps.
        embeddings_freq: epochs between embeddings (0: none); needs ``embeddings_data``.
        embeddings_data: inputs, or an ``(x, y)`` pair, to embed (a few hundred samples).
        embeddings_metadata: one label per sample (class names, ids) shown in the projector.
        hparams: ``{name: value}`` of the run's hyperparameters.

    Raises:
        ImportError: the ``tensorboard`` package is missing (with the install command).
        ValueError: bad frequencies, or ``embeddings_freq`` without ``embeddings_data``.

    Example:
        >>> import tempfile, torch, topnet
        >>> x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
        >>> log_dir = tempfile.mkdtemp()
        >>> history = topnet.fit(torch.nn.Linear(4, 2), (x, y), validation_data=(x, y), verbose=0,
        ...                      callbacks=[TensorBoard(log_dir, write_graph=False)])
        >>> sorted(p.name for p in Path(log_dir).iterdir())
        ['train', 'validation']
    """

    main_process_only = True  # writes files: rank 0 only in data-parallel training

    def __init__(self, log_dir: str | os.PathLike = "logs", histogram_freq: int = 1, write_graph: bool = True,
                 write_images: bool = False, update_freq: str | int = "epoch", embeddings_freq: int = 0,
                 embeddings_data: Any = None, embeddings_metadata: Any = None, hparams: dict[str, Any] | None = None):
        self._writer_class = _summary_writer()
        self.log_dir = Path(log_dir)
        self.histogram_freq = _check_count("histogram_freq", histogram_freq)
        self.write_graph = bool(write_graph)
        self.write_images = bool(write_images)
        if update_freq not in ("epoch", "batch") and not (isinstance(update_freq, int) and not isinstance(update_freq, bool)
                                                          and update_freq >= 1):
            raise ValueError(format_message("TensorBoard update_freq", update_freq, "'epoch', 'batch' or an int >= 1"))
        self.update_freq = update_freq
        self.embeddings_freq = _check_count("embeddings_freq", embeddings_freq)
        if self.embeddings_freq and embeddings_data is None:
            raise ValueError(format_message("TensorBoard embeddings_data", None,
                                            f"inputs or an (x, y) pair when embeddings_freq={embeddings_freq}",
                                            "pass embeddings_data=(x_val[:500], y_val[:500])"))
        self.embeddings_data = embeddings_data
        self.embeddings_metadata = embeddings_metadata
        if hparams is not None and not isinstance(hparams, Mapping):
            raise TypeError(format_message("TensorBoard hparams", type(hparams).__name__, "a dict {name: value}"))
        self.hparams = dict(hparams) if hparams is not None else None
        self._writers: dict[str, Any] = {}
        self._example: tuple[tuple, dict] | None = None
        self._hook: Any = None
        self._gradients: dict[str, torch.Tensor] = {}
        self._graph_done = False
        self._last_logs: dict[str, float] = {}

    def _writer(self, run: str) -> Any:
        if run not in self._writers:
            self._writers[run] = self._writer_class(str(self.log_dir / run if run else self.log_dir))
        return self._writers[run]

    def on_fit_begin(self, state: TrainState) -> None:
        self._graph_done, self._example, self._gradients = not self.write_graph, None, {}
        self._hook = state.model.register_forward_pre_hook(self._capture, with_kwargs=True)

    def _capture(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        self._example = (tuple(_first_rows(a, _NUM_EXAMPLES) for a in args), _first_rows(kwargs, _NUM_EXAMPLES))
        self._hook.remove()

    def _histograms_due(self, epoch: int) -> bool:
        return bool(self.histogram_freq) and epoch % self.histogram_freq == 0

    def on_after_backward(self, state: TrainState) -> None:
        if self._histograms_due(state.epoch) and state.batch == state.steps_per_epoch - 1:
            self._gradients = {name: p.grad.detach().clone()  # a device copy: no sync
                               for name, p in state.model.named_parameters() if p.grad is not None}

    def on_batch_end(self, state: TrainState) -> None:
        if not self._graph_done and self._example is not None:
            self._graph_done = True
            self._write_graph(state.model)
        every = 1 if self.update_freq == "batch" else self.update_freq
        if every != "epoch" and state.step % every == 0:
            for name, value in state.running_logs().items():
                self._writer("train").add_scalar(f"batch_{name}", value, state.step)

    def on_epoch_end(self, state: TrainState) -> None:
        self._last_logs = dict(state.logs)
        for name, value in state.logs.items():
            run, name = ("validation", name[4:]) if name.startswith("val_") else ("train", name)
            self._writer(run).add_scalar(f"epoch_{name}", value, state.epoch)
        if self._histograms_due(state.epoch):
            self._write_histograms(state.model, state.epoch)
        if self.embeddings_freq and state.epoch % self.embeddings_freq == 0:
            self._write_embeddings(state.model, state.epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_fit_end(self, state: TrainState) -> None:
        if self._hook is not None:
            self._hook.remove()
        try:
            if self.hparams is not None and state.completed:
                self._write_hparams()
        finally:
            for writer in self._writers.values():
                writer.close()
            self._writers = {}

    # -- what gets written ---------------------------------------------------------------
    def _write_graph(self, model: nn.Module) -> None:
        args, kwargs = self._example
        if kwargs:
            warnings.warn("TensorBoard: the graph of a model with named inputs is not written "
                          "(add_graph traces positional inputs only)", RuntimeWarning, stacklevel=2)
            return
        try:
            with _inference(model), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.jit.trace's deprecation and tracer warnings
                self._writer("train").add_graph(model, args[0] if len(args) == 1 else args, use_strict_trace=False)
        except Exception as error:  # tracing fails on data-dependent Python control flow, among others
            warnings.warn(f"TensorBoard: the model graph was not written ({type(error).__name__}: {error})",
                          RuntimeWarning, stacklevel=2)

    def _write_histograms(self, model: nn.Module, epoch: int) -> None:
        writer = self._writer("train")
        for name, param in model.named_parameters():
            _histogram(writer, f"weights/{name}", param, epoch)
            if self.write_images:
                _weight_image(writer, f"images/{name}", param, epoch)
        for name, grad in self._gradients.items():
            _histogram(writer, f"gradients/{name}", grad, epoch)
        self._gradients = {}
        inputs = self._fixed_inputs(model)
        if inputs is not None:
            for name, output in _activations(model, inputs).items():
                _histogram(writer, f"activations/{name}", output, epoch)

    def _fixed_inputs(self, model: nn.Module) -> tuple[tuple, dict] | None:
        if self.embeddings_data is None:
            return self._example
        x, _ = _split_pair(self.embeddings_data)
        x = to_tensors(_first_rows(to_tensors(x), _NUM_EXAMPLES), _device(model))
        return ((), x) if isinstance(x, Mapping) else ((x,), {})

    def _write_embeddings(self, model: nn.Module, epoch: int) -> None:
        x, y = _split_pair(self.embeddings_data)
        x = to_tensors(x, _device(model))
        labels = self.embeddings_metadata if self.embeddings_metadata is not None else y
        features = _penultimate_features(model, x)  # (N, D)
        metadata = None
        if labels is not None:
            metadata = [str(v) for v in (labels.tolist() if hasattr(labels, "tolist") else list(labels))]
            if len(metadata) != len(features):
                raise ValueError(format_message("TensorBoard embeddings_metadata", f"{len(metadata)} labels",
                                                f"one per embedded sample ({len(features)})"))
        images = None
        if isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[1] in (1, 3) and importlib.util.find_spec("PIL"):
            images = _unit_range(x.detach().float().cpu())  # thumbnails for the projector (needs Pillow)
        self._writer("").add_embedding(features, metadata=metadata, label_img=images, global_step=epoch, tag="penultimate")

    def _write_hparams(self) -> None:
        from torch.utils.tensorboard.summary import hparams

        values = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in self.hparams.items()}
        metrics = {f"hparam/{k}": float(v) for k, v in self._last_logs.items()}
        writer = self._writer("")
        for summary in hparams(values, metrics):
            writer.file_writer.add_summary(summary)
        for tag, value in metrics.items():
            writer.add_scalar(tag, value)


def _device(model: nn.Module) -> torch.device:
    return next(iter(model.parameters()), torch.empty(0)).device


def _split_pair(data: Any) -> tuple[Any, Any]:
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], data[1]
    return data, None


@contextlib.contextmanager
def _inference(model: nn.Module) -> Iterator[None]:
    """Eval mode, no gradients, and torch's RNG as it was: writing logs must not change training."""
    device = _device(model)
    devices = [device.index or 0] if device.type == "cuda" else []
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            yield
    finally:
        for module, mode in modes.items():
            module.training = mode


def _histogram(writer: Any, tag: str, tensor: torch.Tensor, step: int) -> None:
    values = tensor.detach().float().flatten()
    values = values[torch.isfinite(values)]
    if values.numel():
        writer.add_histogram(tag, values.cpu(), step)


def _unit_range(x: torch.Tensor) -> torch.Tensor:
    low, high = x.min(), x.max()
    return (x - low) / (high - low) if high > low else torch.zeros_like(x)


def _weight_image(writer: Any, tag: str, param: torch.Tensor, step: int) -> None:
    weight = param.detach().float().cpu()
    if weight.dim() == 2:  # (out, in) as one grey image
        images = weight[None, None]
    elif weight.dim() == 4:  # (out, in, kh, kw): one small image per kernel slice, the first 64
        images = weight.reshape(-1, 1, *weight.shape[2:])[:64]
    else:
        return
    writer.add_images(tag, _unit_range(images), step, dataformats="NCHW")


def _leaf_modules(model: nn.Module) -> dict[nn.Module, str]:
    return {m: name or type(m).__name__ for name, m in model.named_modules() if next(m.children(), None) is None}


def _activations(model: nn.Module, inputs: tuple[tuple, dict]) -> dict[str, torch.Tensor]:
    """Every leaf module's output on ``inputs`` (eval mode)."""
    outputs: dict[str, torch.Tensor] = {}

    def record(module: nn.Module, args: tuple, output: Any) -> None:
        if isinstance(output, torch.Tensor) and output.is_floating_point():
            outputs[names[module]] = output.detach()

    names = _leaf_modules(model)
    handles = [m.register_forward_hook(record) for m in names]
    try:
        with _inference(model):
            model(*inputs[0], **inputs[1])
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def _penultimate_features(model: nn.Module, x: Any, batch_size: int = 256) -> torch.Tensor:
    """``(N, D)``: the input of the last parameterised module to run (the classifier's input)."""
    order: list[nn.Module] = []
    owners = [m for m in model.modules() if next(m.parameters(recurse=False), None) is not None]
    handles = [m.register_forward_pre_hook(lambda m, args: order.append(m)) for m in owners]
    try:
        with _inference(model):
            call_model(model, tree_map(lambda t: t[:1], x))  # which module runs last?
    finally:
        for handle in handles:
            handle.remove()
    if not order:
        raise ValueError(format_message("TensorBoard embeddings", type(model).__name__,
                                        "a model with a parameterised layer"))
    chunks: list[torch.Tensor] = []
    handle = order[-1].register_forward_pre_hook(lambda m, args: chunks.append(args[0].detach().flatten(1).float().cpu()))
    try:
        with _inference(model):
            for start in range(0, num_samples(x), batch_size):
                call_model(model, tree_map(lambda t: t[start:start + batch_size], x))
    finally:
        handle.remove()
    return torch.cat(chunks)
