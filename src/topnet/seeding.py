"""Random generators from explicit seeds.

The library never seeds global state on its own: every random operation takes a ``seed`` or a
``torch.Generator``. ``seed_everything`` is for scripts, the CLI and recipes only.
"""
from __future__ import annotations

import hashlib
import random

import numpy as np
import torch

__all__ = ["derive_seed", "make_generator", "seed_everything"]


def derive_seed(seed: int, *keys: object) -> int:
    """A 63-bit seed derived from ``seed`` and any keys (e.g. ``"shuffle", epoch``).

    Stable across processes and Python versions (unlike ``hash``), so a resumed run derives the
    same per-epoch seeds as the run it continues.

    Example:
        >>> derive_seed(0, "shuffle", 3) == derive_seed(0, "shuffle", 3)
        True
    """
    text = ":".join([str(int(seed)), *map(str, keys)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def make_generator(seed: int, *keys: object, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded from ``derive_seed(seed, *keys)``."""
    generator = torch.Generator(device=device)
    generator.manual_seed(derive_seed(seed, *keys))
    return generator


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (for scripts and the CLI only)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
