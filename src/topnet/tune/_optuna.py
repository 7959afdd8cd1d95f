"""The one place ``topnet.tune`` imports Optuna: lazily, with the install command when it is missing."""
from __future__ import annotations

from types import ModuleType

__all__ = ["import_optuna"]


def import_optuna() -> ModuleType:
    """The ``optuna`` module, imported on first use.

    Raises:
        ImportError: Optuna is not installed; the message gives the command that installs it.

    Example:
        >>> import_optuna().__name__
        'optuna'
    """
    try:
        import optuna
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("topnet.tune needs Optuna, which is not installed; "
                          "install it with: pip install optuna sqlalchemy") from error
    return optuna
