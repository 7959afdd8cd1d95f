"""Import an optional dependency inside the function that needs it, or say how to install it."""
from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]


def require(module: str, package: str, needed_by: str) -> ModuleType:
    """``importlib.import_module(module)``, or an ImportError naming the pip package.

    Example:
        >>> require("math", "math", "this example").sqrt(4.0)
        2.0
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{needed_by} needs {package}; install it with: pip install {package}") from None
