"""``MaxNorm``: bound the norm of each unit's incoming weights after every optimizer step."""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import nn

from topnet.callbacks.base import Callback
from topnet.callbacks.state import TrainState
from topnet.errors import format_message, nearest

__all__ = ["MaxNorm"]

_DEFAULT_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


class MaxNorm(Callback):
    """Max-norm regularisation: after each step, rescale any unit whose incoming weights have
    an L2 norm above ``max_value`` back to ``max_value`` (Géron ch. 11; Srivastava et al. 2014).

    PyTorch stores a Linear weight as ``(out, in)`` and a conv weight as ``(out, in, kh, kw)``,
    so each output unit's incoming weights are ``weight[i]``: the norm is taken over every
    dimension but ``dim=0``. That is Keras's ``MaxNorm(axis=0)`` on a Dense kernel (Keras's
    kernel is ``(in, out)``) and ``axis=[0, 1, 2]`` on a Conv2D kernel. Rows already within the
    bound are left exactly as they are (Keras shrinks them by ``norm / (norm + 1e-7)``). Biases
    are never constrained. The rescaling runs in ``on_batch_end`` (after ``optimizer.step()``),
    as Keras applies constraints after each update.

    Args:
        max_value: the largest allowed norm; 1-5 are usual (Géron's example uses 1.0,
            Keras's default is 2.0).
        dim: the weight dimension that indexes the units (0: output units, torch's
            ``renorm`` convention); norms run over all other dimensions.
        modules: the layers to constrain: a tuple of module types (default Linear and Conv)
            or a list of module names (as in ``model.named_modules()``).

    Raises:
        ValueError: ``max_value`` not a positive finite number; at ``fit`` start, an unknown
            module name or no matching layer with a weight.
        TypeError: ``modules`` neither a tuple of types nor a list of names.

    Example:
        >>> import topnet
        >>> model = nn.Linear(4, 3)
        >>> x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
        >>> _ = topnet.fit(model, (x, y), optimizer="sgd", lr=5.0, callbacks=[MaxNorm(1.0)], verbose=0)
        >>> bool(model.weight.norm(dim=1).max() <= 1.0)
        True
    """

    def __init__(self, max_value: float = 1.0, dim: int = 0,
                 modules: tuple[type, ...] | Sequence[str] = _DEFAULT_TYPES):
        valid = isinstance(max_value, numbers.Real) and not isinstance(max_value, bool)
        if not valid or not math.isfinite(max_value) or max_value <= 0:
            raise ValueError(format_message("max_value", max_value, "a positive finite norm", "e.g. MaxNorm(1.0)"))
        if isinstance(modules, str) or not isinstance(modules, (tuple, list)) or not modules:
            raise TypeError(format_message("modules", modules, "a tuple of nn.Module types or a list of module names",
                                           "e.g. modules=(nn.Linear,) or modules=['0', '2']"))
        is_type = [isinstance(m, type) and issubclass(m, nn.Module) for m in modules]
        if not (all(is_type) or all(isinstance(m, str) for m in modules)):
            raise TypeError(format_message("modules", modules, "only nn.Module types, or only module names"))
        self.max_value = float(max_value)
        self.dim = dim
        self.modules = tuple(modules)
        self._weights: list[torch.Tensor] = []

    def on_fit_begin(self, state: TrainState) -> None:
        self._weights = self.weights(state.model)

    def on_batch_end(self, state: TrainState) -> None:
        with torch.no_grad():
            for weight in self._weights:
                # renorm_ scales rows with norm > max_value by max_value / (norm + 1e-7), others by 1.
                weight.renorm_(2, self.dim, self.max_value)

    def weights(self, model: nn.Module) -> list[torch.Tensor]:
        """The weight tensors this callback constrains in ``model``."""
        named = dict(model.named_modules())
        if isinstance(self.modules[0], str):
            for name in self.modules:
                if name not in named:
                    guess = nearest(name, named)
                    raise ValueError(format_message("MaxNorm modules", name, "a name from model.named_modules()",
                                                    f"did you mean {guess!r}?" if guess else f"names: {sorted(named)[:20]}"))
            chosen = [named[name] for name in self.modules]
        else:
            chosen = [m for m in named.values() if isinstance(m, self.modules)]
        weights = [m.weight for m in chosen if isinstance(getattr(m, "weight", None), torch.Tensor) and m.weight.dim() >= 2]
        if not weights:
            raise ValueError(format_message("MaxNorm modules", self.modules, "layers with a weight matrix in the model",
                                            "e.g. modules=(nn.Linear, nn.Conv2d)"))
        return weights
