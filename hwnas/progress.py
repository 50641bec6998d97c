"""Progress display on stderr (rich), shared by training, profiling and search."""

from __future__ import annotations

import contextlib
from typing import Any


def progress_bar(enabled: bool) -> Any:
    """A rich ``Progress`` on stderr (description, bar, count, elapsed, ETA), or ``None``."""
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )


def maybe(bar: Any) -> Any:
    """``bar`` as a context manager, or a no-op one when it is ``None``."""
    return bar if bar is not None else contextlib.nullcontext()
