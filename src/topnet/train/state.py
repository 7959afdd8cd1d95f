"""``TrainState`` and the RNG capture, importable from ``topnet.train`` as before.

They live in ``topnet/callbacks/state.py``, beside the hooks that receive them, so that
callbacks never import ``topnet.train`` (which imports callbacks).
"""
from topnet.callbacks.state import TrainState, capture_rng_state, restore_rng_state

__all__ = ["TrainState", "capture_rng_state", "restore_rng_state"]
