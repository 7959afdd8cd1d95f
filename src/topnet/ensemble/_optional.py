"""Import an optional dependency inside the function that needs it, or say how to install it.

Members whose library may be missing (XGBoost, CatBoost) are always registered, so a saved one
fails to load with the install command rather than "unknown kind"; ``available`` lets a caller
add them only where their library is installed.
"""
from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

__all__ = ["require", "available"]


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


def available(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it.

    Example:
        >>> available("math"), available("no_such_module_here")
        (True, False)
    """
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
