"""The run store: one SQLite file that owns a search's history (``runs/<id>/run.db``).

Tables:

``meta``
    ``key -> JSON``: the validated config, package versions, the device fingerprint, the
    seed, when the run was created.
``candidates``
    one row per architecture, written once when its evaluation finishes: the architecture
    string, its encoding, status (``done``, ``failed`` or ``skipped`` for candidates whose
    cheap metrics already break a budget), metrics (accuracy, latency_ms, macs, params...),
    evaluation cost in seconds, the evaluator's info, the generation it was asked in, and
    the order of its insertion.
``progress``
    one row per generation: evaluations so far, hypervolume, wall time.
``strategy_state``
    at most one row: the latest JSON snapshot of the strategy (its ``state_dict``) with what
    identifies it (strategy name, options, seed, objectives, budgets) and where the loop
    stood (generation, candidates told, candidates stored). Plain JSON, never pickle: a run
    folder may come from someone else.

Every write is its own transaction (WAL journal), so ``kill -9`` at any moment loses at
most the candidates in flight. A resumed search loads the strategy's latest state when
there is a consistent one, and otherwise replays the strategy against this history (see
:mod:`hwnas.search`).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwnas.errors import HwnasError

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS candidates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    arch TEXT NOT NULL UNIQUE,
    encoding TEXT NOT NULL,
    status TEXT NOT NULL,
    metrics TEXT NOT NULL,
    cost_seconds REAL NOT NULL,
    info TEXT NOT NULL,
    generation INTEGER NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS strategy_state (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    value TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS progress (
    generation INTEGER PRIMARY KEY,
    evaluations INTEGER NOT NULL,
    hypervolume REAL,
    seconds REAL NOT NULL,
    created TEXT NOT NULL
);
"""


@dataclass
class Candidate:
    """One evaluated architecture as stored."""

    arch: str
    encoding: tuple[int, ...]
    status: str
    metrics: dict[str, float]
    cost_seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    generation: int = 0
    seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "arch": self.arch,
            "encoding": list(self.encoding),
            "status": self.status,
            "metrics": self.metrics,
            "cost_seconds": self.cost_seconds,
            "info": self.info,
            "generation": self.generation,
        }


class RunStore:
    """The SQLite store of one run.

    Args:
        path: The database file (created if missing).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.OperationalError as error:
            # Seen with a read-only run folder: "unable to open database file".
            raise HwnasError(
                f"run store {self.path}: cannot be opened to read and write ({error}); "
                "is the run folder or the file read-only?"
            ) from None
        except sqlite3.DatabaseError as error:
            raise HwnasError(
                f"run store {self.path}: not a readable SQLite database ({error})"
            ) from None
        version = self.get_meta("schema_version")
        if version is None:
            self.set_meta("schema_version", SCHEMA_VERSION)
        elif version != SCHEMA_VERSION:
            raise HwnasError(
                f"run store {self.path}: schema_version {version}, this hwnas reads "
                f"{SCHEMA_VERSION}"
            )

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta ---------------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-able) under ``key``."""
        self._db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value))
        )

    def get_meta(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    # -- candidates ---------------------------------------------------------------------
    def add(self, candidate: Candidate) -> bool:
        """Insert a candidate once; returns False if its architecture is already stored."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO candidates (arch, encoding, status, metrics, cost_seconds, "
            "info, generation, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                candidate.arch,
                json.dumps(list(candidate.encoding)),
                candidate.status,
                json.dumps(candidate.metrics),
                float(candidate.cost_seconds),
                json.dumps(candidate.info),
                int(candidate.generation),
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            ),
        )
        return cursor.rowcount == 1

    def get(self, arch: str) -> Candidate | None:
        """The stored candidate of ``arch``, if any."""
        row = self._db.execute(
            "SELECT arch, encoding, status, metrics, cost_seconds, info, generation, seq "
            "FROM candidates WHERE arch = ?",
            (arch,),
        ).fetchone()
        return None if row is None else _candidate(row)

    def candidates(self, status: str | None = None) -> list[Candidate]:
        """All candidates in insertion order (optionally of one status)."""
        return list(self.iter_candidates(status))

    def iter_candidates(self, status: str | None = None) -> Iterator[Candidate]:
        """Iterate candidates in insertion order."""
        query = (
            "SELECT arch, encoding, status, metrics, cost_seconds, info, generation, seq "
            "FROM candidates"
        )
        params: tuple[Any, ...] = ()
        if status is not None:
            query += " WHERE status = ?"
            params = (status,)
        for row in self._db.execute(query + " ORDER BY seq", params):
            yield _candidate(row)

    def count(self, status: str | None = None) -> int:
        """The number of candidates (of one status)."""
        if status is None:
            return int(self._db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0])
        return int(
            self._db.execute(
                "SELECT COUNT(*) FROM candidates WHERE status = ?", (status,)
            ).fetchone()[0]
        )

    # -- progress -----------------------------------------------------------------------
    def add_progress(
        self, generation: int, evaluations: int, hypervolume: float | None, seconds: float
    ) -> None:
        """Record (or replace) the progress row of ``generation``."""
        self._db.execute(
            "INSERT OR REPLACE INTO progress VALUES (?, ?, ?, ?, ?)",
            (
                generation,
                evaluations,
                hypervolume,
                seconds,
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            ),
        )

    def progress(self) -> list[dict[str, Any]]:
        """The progress rows in generation order."""
        rows = self._db.execute(
            "SELECT generation, evaluations, hypervolume, seconds FROM progress ORDER BY generation"
        ).fetchall()
        return [
            {"generation": g, "evaluations": e, "hypervolume": h, "seconds": s}
            for g, e, h, s in rows
        ]

    # -- strategy state -----------------------------------------------------------------
    def save_state(self, record: dict[str, Any]) -> None:
        """Replace the stored strategy state with ``record`` (strict JSON: no NaN) in one
        statement, so that a kill leaves either the previous record or this one.

        Raises:
            ValueError: ``record`` is not strict JSON.
        """
        text = json.dumps(record, allow_nan=False)
        self._db.execute(
            "INSERT OR REPLACE INTO strategy_state (id, value, created) VALUES (0, ?, ?)",
            (text, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
        )

    def load_state(self) -> dict[str, Any] | None:
        """The stored strategy state record, or ``None`` when none is stored.

        Raises:
            HwnasError: The record is not a JSON object.
        """
        row = self._db.execute("SELECT value FROM strategy_state WHERE id = 0").fetchone()
        if row is None:
            return None
        try:
            record = json.loads(row[0])
        except ValueError:
            record = None
        if not isinstance(record, dict):
            raise HwnasError(f"run store {self.path}: the strategy state is not a JSON object")
        return record


def _candidate(row: tuple[Any, ...]) -> Candidate:
    arch, encoding, status, metrics, cost, info, generation, seq = row
    return Candidate(
        arch=arch,
        encoding=tuple(json.loads(encoding)),
        status=status,
        metrics=json.loads(metrics),
        cost_seconds=cost,
        info=json.loads(info),
        generation=generation,
        seq=seq,
    )
