"""An evaluation cache: results keyed on everything they depend on, in one SQLite file.

The key of a result is the SHA-256 of ``json.dumps({"arch": str(arch), "space": space
fingerprint, "evaluator": evaluator.name, "key": evaluator.cache_key()}, sort_keys=True)``,
so changing the architecture, the space configuration, the evaluator or anything in its
:meth:`~hwnas.evaluators.base.Evaluator.cache_key` (seed, recipe, dataset, table column,
surrogate observations...) gives a new key and a stale result is never reused.

The file is safe for several processes at once: WAL journal, a busy timeout, and each write
in its own transaction. The first result stored under a key wins; a row whose result cannot
be read back (invalid JSON, wrong shape) is treated as missing and overwritten.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from hwnas.errors import DataError
from hwnas.evaluators.base import EvalResult, Evaluator
from hwnas.spaces import Arch, SearchSpace

__all__ = ["CachedEvaluator", "EvalCache", "cache_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS evaluations (
    key TEXT PRIMARY KEY,
    arch TEXT NOT NULL,
    evaluator TEXT NOT NULL,
    result JSON NOT NULL,
    created TEXT NOT NULL
)
"""

#: Seconds a connection waits for another process's write lock before failing.
BUSY_TIMEOUT_S = 60.0


def cache_key(arch: Arch, evaluator: Evaluator, space: SearchSpace) -> str:
    """The cache key (64 hex digits) of evaluating ``arch`` of ``space`` with ``evaluator``."""
    payload = json.dumps(
        {
            "arch": str(arch),
            "space": space.fingerprint(),
            "evaluator": evaluator.name,
            "key": evaluator.cache_key(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class EvalCache:
    """Evaluation results in a SQLite file (created with its folder when missing).

    One connection is opened per process and thread, on first use, so an ``EvalCache`` may be
    shared by threads and handed to worker processes (it pickles as its path).

    Args:
        path: The database file.

    Raises:
        DataError: The file cannot be opened as a SQLite database.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._connection()  # create the file and table now: errors surface here

    # -- connections --------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None and getattr(self._local, "pid", None) == os.getpid():
            return connection
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: no implicit transactions; writes use BEGIN IMMEDIATE.
            connection = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=True
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(_SCHEMA)
        except (sqlite3.Error, OSError) as error:
            raise DataError(
                f"evaluation cache {str(self.path)!r}: cannot open it as a SQLite database "
                f"({error})"
            ) from None
        self._local.connection = connection
        self._local.pid = os.getpid()
        return connection

    def close(self) -> None:
        """Close this thread's connection (it reopens on next use)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None and getattr(self._local, "pid", None) == os.getpid():
            connection.close()
        self._local = threading.local()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path = state["path"]
        self._local = threading.local()

    # -- reads and writes ---------------------------------------------------------------
    def get(self, key: str) -> EvalResult | None:
        """The result stored under ``key``, or ``None`` (missing or unreadable row)."""
        row = (
            self._connection()
            .execute("SELECT result FROM evaluations WHERE key = ?", (key,))
            .fetchone()
        )
        return None if row is None else _decode(row[0])

    def put(self, key: str, arch: Arch | str, evaluator: str, result: EvalResult) -> bool:
        """Store ``result`` under ``key`` unless a readable result is already there.

        Returns:
            True when this call wrote the row (new key, or an unreadable row replaced).
        """
        text = json.dumps(result.to_dict(), sort_keys=True)
        created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            cursor = connection.execute(
                "INSERT OR IGNORE INTO evaluations (key, arch, evaluator, result, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (key, str(arch), evaluator, text, created),
            )
            written = cursor.rowcount == 1
            if not written:
                row = connection.execute(
                    "SELECT result FROM evaluations WHERE key = ?", (key,)
                ).fetchone()
                if row is None or _decode(row[0]) is None:
                    connection.execute(
                        "UPDATE evaluations SET arch = ?, evaluator = ?, result = ?, created = ? "
                        "WHERE key = ?",
                        (str(arch), evaluator, text, created, key),
                    )
                    written = True
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return written

    def __len__(self) -> int:
        (count,) = self._connection().execute("SELECT COUNT(*) FROM evaluations").fetchone()
        return int(count)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __repr__(self) -> str:
        return f"EvalCache({str(self.path)!r})"


class CachedEvaluator(Evaluator):
    """An evaluator that answers from an :class:`EvalCache` and fills it on a miss.

    Args:
        evaluator: The evaluator whose results are cached.
        cache: The cache.
        space: The search space of the architectures (its fingerprint is part of the key).

    Results carry ``info["cache"]``: ``"hit"`` (read back, identical to the stored numbers)
    or ``"miss"`` (just evaluated and stored).
    """

    name = "cached"

    def __init__(self, evaluator: Evaluator, cache: EvalCache, space: SearchSpace) -> None:
        self.evaluator = evaluator
        self.cache = cache
        self.space = space
        self.hits = 0
        self.misses = 0

    def key(self, arch: Arch) -> str:
        """The cache key of ``arch`` (see :func:`cache_key`)."""
        return cache_key(arch, self.evaluator, self.space)

    def evaluate(self, arch: Arch) -> EvalResult:
        """The cached result of ``arch``, or a fresh evaluation that is then stored."""
        key = self.key(arch)
        stored = self.cache.get(key)
        if stored is not None:
            self.hits += 1
            stored.info["cache"] = "hit"
            return stored
        result = self.evaluator.evaluate(arch)
        self.cache.put(key, arch, self.evaluator.name, result)
        self.misses += 1
        return EvalResult(
            metrics=dict(result.metrics),
            cost_seconds=result.cost_seconds,
            info={**result.info, "cache": "miss"},
        )

    def cache_key(self) -> dict[str, Any]:
        """The wrapped evaluator's name and key (caching does not change results)."""
        return {"evaluator": self.evaluator.name, "key": self.evaluator.cache_key()}


def _decode(text: object) -> EvalResult | None:
    """The :class:`EvalResult` of a stored JSON text, or ``None`` when it is unreadable."""
    try:
        data = json.loads(text) if isinstance(text, str | bytes) else None
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    metrics, cost, info = data.get("metrics"), data.get("cost_seconds"), data.get("info", {})
    if not isinstance(metrics, dict) or not isinstance(info, dict):
        return None
    if not all(
        isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
        for k, v in metrics.items()
    ):
        return None
    if isinstance(cost, bool) or not isinstance(cost, int | float) or not math.isfinite(cost):
        return None
    return EvalResult(
        metrics={k: float(v) for k, v in metrics.items()}, cost_seconds=float(cost), info=info
    )
