"""Exceptions raised by hwnas.

Every error a user can cause (a bad argument, a malformed file, an unknown name) is a
:class:`HwnasError`; the CLI turns it into one message and exit code 2, with no traceback.
"""

from __future__ import annotations

from typing import Any


class HwnasError(Exception):
    """Base class of the errors a user can cause and fix."""


class ConfigError(HwnasError, ValueError):
    """An argument or configuration value is invalid.

    Args:
        field: The name of the offending field or argument (e.g. ``"space"``, ``"--epochs"``).
        expected: What the field must be.
        got: The value that was given.
    """

    def __init__(self, field: str, expected: str, got: object = None) -> None:
        self.field = field
        self.expected = expected
        self.got = got
        message = f"{field}: expected {expected}"
        if got is not None:
            message += f", got {got!r}"
        super().__init__(message)


class BudgetsUnmetError(HwnasError):
    """No exported model meets the budgets once trained and measured; ``manifest`` is the
    manifest that was written anyway, with every broken budget flagged."""

    def __init__(self, message: str, manifest: dict[str, Any]) -> None:
        super().__init__(message)
        self.manifest = manifest


class NothingFeasibleError(HwnasError):
    """The search evaluated no candidate that meets the budgets: there is nothing to
    export (the message says how close the best came and what to change)."""


class DataError(HwnasError):
    """A dataset file or folder is missing, malformed or of the wrong shape."""


class ArchError(HwnasError, ValueError):
    """An architecture string, encoding or JSON value does not belong to its search space."""
