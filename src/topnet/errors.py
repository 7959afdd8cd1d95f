"""Exception classes and the one helper that formats "got X; expected Y; try Z" messages.

Every error topnet raises at its public boundary says what was passed, what was expected and
how to fix it, in that order, so a user can act on it without reading the source.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "TopnetError",
    "DataError",
    "DatasetNotFoundError",
    "UnsafeFileError",
    "CheckpointError",
    "NonFiniteError",
    "TrainingInterrupted",
    "SealedSplitError",
    "TestSplitReadTwice",
    "format_message",
    "unknown_name",
]


class TopnetError(Exception):
    """Base class of topnet's own exceptions."""


class DataError(TopnetError, ValueError):
    """Input data that cannot be trained on: empty, NaN, mismatched lengths, labels out of range."""


class DatasetNotFoundError(TopnetError, FileNotFoundError):
    """A named dataset was not found locally and could not be downloaded."""


class UnsafeFileError(TopnetError, ValueError):
    """A file that would run code or holds objects topnet refuses to load."""


class CheckpointError(TopnetError, RuntimeError):
    """A checkpoint or model file that is missing, damaged or does not match the model."""


class NonFiniteError(TopnetError, FloatingPointError):
    """A loss or a score became NaN or infinite: ``TerminateOnNaN(raise_error=True)``, a trial
    whose validation value is not finite."""


class SealedSplitError(TopnetError, RuntimeError):
    """A sealed split (``topnet.data.SealedSplit``) read without ``open()``."""


class TestSplitReadTwice(SealedSplitError):
    """A sealed test split opened a second time: a run reads its test split once, at the end."""

    __test__ = False  # a class named Test* that is not a pytest test class


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on SIGTERM at a safe point, its backups kept: run it again to resume.

    A ``KeyboardInterrupt``, so whatever handles Ctrl-C (the CLI: exit code 130) handles it too.
    """


def format_message(what: str, got: object, expected: str, fix: str | None = None) -> str:
    """Format the house error message: ``what: got X; expected Y; fix``.

    Args:
        what: the argument or value the message is about, e.g. ``"monitor"``.
        got: the value that was passed; shown with ``repr``.
        expected: what would have been accepted.
        fix: how to fix it (optional).

    Returns:
        One line, e.g. ``"batch_size: got 0; expected a positive int; try batch_size=32"``.

    Example:
        >>> format_message("batch_size", 0, "a positive int", "try batch_size=32")
        'batch_size: got 0; expected a positive int; try batch_size=32'
    """
    message = f"{what}: got {got!r}; expected {expected}"
    return f"{message}; {fix}" if fix else message


def nearest(name: str, valid: Iterable[str]) -> str | None:
    """The valid name closest to ``name`` (for "did you mean"), or None when nothing is close."""
    matches = difflib.get_close_matches(str(name).lower(), [str(v) for v in valid], n=1, cutoff=0.5)
    return matches[0] if matches else None


def unknown_name(kind: str, name: object, valid: Iterable[str]) -> ValueError:
    """A ValueError for a name that is not one of ``valid``, listing them and the nearest.

    Example:
        >>> str(unknown_name("loss", "crossentropy", ["mse", "cross_entropy"]))
        "unknown loss 'crossentropy'; expected one of ['cross_entropy', 'mse']; did you mean 'cross_entropy'?"
    """
    valid = sorted(set(valid))
    message = f"unknown {kind} {name!r}; expected one of {valid}"
    guess = nearest(str(name), valid)
    if guess is not None:
        message += f"; did you mean {guess!r}?"
    return ValueError(message)
