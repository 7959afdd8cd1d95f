"""``ActivationLogger``: save every layer's activations on a fixed sample after each epoch (Chollet 7.2)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState

__all__ = ["ActivationLogger"]


class ActivationLogger(Callback):
    """Chollet's custom callback: after each epoch, save each layer's activations on ``sample`` to an npz.

    Keras hands callbacks the validation data; topnet's callbacks see only the training state,
    so the sample is given here. The activations are the outputs of the model's top-level
    children, in eval mode and without gradients; the file of epoch ``k`` (1-based) is
    ``folder/activations_at_epoch_k.npz`` with one array per child, keyed ``layer_<name>``.
    It keeps no state between epochs, so a resumed run simply writes the remaining epochs' files.

    Args:
        sample: the inputs to run, e.g. ``x_valid[:1]``.
        folder: where the files go (created).

    Example:
        >>> import tempfile, topnet
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        >>> folder = Path(tempfile.mkdtemp())
        >>> x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
        >>> _ = topnet.fit(model, (x, y), epochs=2, callbacks=[ActivationLogger(x[:1], folder)], verbose=0)
        >>> sorted(np.load(folder / "activations_at_epoch_2.npz").files)
        ['layer_0', 'layer_1', 'layer_2']
    """

    main_process_only = True  # writes files

    def __init__(self, sample: Any, folder: Any):
        self.sample = torch.as_tensor(sample)
        self.folder = Path(folder)

    def on_epoch_end(self, state: TrainState) -> None:
        model, outputs = state.model, {}
        hooks = [child.register_forward_hook(lambda module, inputs, output, name=name: outputs.update({name: output}))
                 for name, child in model.named_children()]
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                model(self.sample.to(next(model.parameters()).device))
        finally:
            model.train(was_training)
            for hook in hooks:
                hook.remove()
        self.folder.mkdir(parents=True, exist_ok=True)
        arrays = {f"layer_{name}": value.detach().cpu().numpy() for name, value in outputs.items()}
        np.savez(self.folder / f"activations_at_epoch_{state.epoch + 1}.npz", **arrays)
