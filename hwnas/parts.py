"""Parts of a job that may fail on their own: the failure is recorded, the rest goes on.

A long job (``hwnas run``: search, export, baselines, report) is worth more with one
missing plot or baseline than not at all. Each optional part runs through
:meth:`Parts.attempt`; an exception becomes a :class:`Failure` (the part's name and the
error message) that the caller writes to its JSON and the report shows, instead of a
traceback that throws away the finished work. ``KeyboardInterrupt`` still stops the job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """A part that failed: its name and the error, as one line."""

    part: str
    error: str

    def to_dict(self) -> dict[str, str]:
        """A JSON-able dict."""
        return {"part": self.part, "error": self.error}


@dataclass
class Parts:
    """Runs parts of a job and collects the failures.

    Attributes:
        say: Called with one line for each failure (e.g. a printer to stderr).
        failures: The failures so far, in order.
    """

    say: Callable[[str], None] | None = None
    failures: list[Failure] = field(default_factory=list)

    def attempt(self, part: str, fn: Callable[[], T]) -> T | None:
        """``fn()``, or ``None`` after recording its exception as a failure of ``part``."""
        try:
            return fn()
        except Exception as error:  # any failure of a part is recorded
            failure = Failure(part, describe(error))
            self.failures.append(failure)
            # The traceback stays available to whoever turns on debug logging.
            logger.debug("%s failed", part, exc_info=True)
            if self.say is not None:
                self.say(f"{part} failed: {failure.error}")
            return None

    def to_list(self) -> list[dict[str, str]]:
        """The failures as JSON-able dicts."""
        return [f.to_dict() for f in self.failures]


def describe(error: BaseException, limit: int = 500) -> str:
    """One line for ``error``: its type and its message, whitespace collapsed, shortened."""
    message = " ".join(str(error).split())
    if len(message) > limit:
        message = message[: limit - 3] + "..."
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
