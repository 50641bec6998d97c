"""Device profiles: JSON Lines files of latency measurements, one architecture a line.

A profile lives at ``profiles/<device-id>/<space>.jsonl``. Each line is a JSON object::

    {"format": 1, "space": "mbconv", "space_fingerprint": "...", "arch": "<canonical string>",
     "input_shape": [3, 32, 32], "batch": 1, "num_classes": 10,
     "runtime": "onnxruntime-cpu", "device_id": "...", "fingerprint": {...},
     "latency_ms": {"median": ..., "mean": ..., "p90": ..., "std": ..., "min": ..., "n": ...,
                    "n_outliers": ..., "stable": true},
     "macs": 1234, "params": 567, "timestamp": "2026-11-27T17:00:00Z", "source": "measured"}

Appends are atomic: each line is written with one ``write`` to a file opened for appending
and flushed to disk, so a crash loses at most the line in flight. A torn last line (no
trailing newline) is ignored when reading and removed before the next append. All lines of
a profile must share one device fingerprint and one space; :func:`read_profile` refuses
anything else with the line number.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hwnas.errors import HwnasError

PROFILE_FORMAT = 1
LATENCY_STATS = ("median", "mean", "p90", "std", "min", "n")


@dataclass(frozen=True)
class ProfileRecord:
    """One latency measurement of one architecture on one device."""

    space: str
    arch: str
    input_shape: tuple[int, ...]
    batch: int
    num_classes: int
    runtime: str
    device_id: str
    fingerprint: dict[str, Any]
    latency_ms: dict[str, Any]
    macs: int | None = None
    params: int | None = None
    space_fingerprint: str | None = None
    timestamp: str = field(
        default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    )
    source: str = "measured"

    @property
    def median_ms(self) -> float:
        """The median latency in milliseconds."""
        return float(self.latency_ms["median"])

    def to_json(self) -> dict[str, Any]:
        """The JSON object of one profile line."""
        data = asdict(self)
        data["input_shape"] = list(self.input_shape)
        return {"format": PROFILE_FORMAT, **data}

    @classmethod
    def from_json(cls, data: Any, where: str) -> ProfileRecord:
        """Parse and validate one profile line; ``where`` names it in errors."""
        if not isinstance(data, dict):
            raise HwnasError(f"{where}: expected a JSON object")
        if data.get("format") != PROFILE_FORMAT:
            raise HwnasError(
                f"{where}: format: expected {PROFILE_FORMAT}, got {data.get('format')!r}"
            )
        for key, kind in (
            ("space", str),
            ("arch", str),
            ("runtime", str),
            ("device_id", str),
            ("fingerprint", dict),
            ("latency_ms", dict),
            ("batch", int),
            ("num_classes", int),
            ("input_shape", list),
        ):
            if not isinstance(data.get(key), kind):
                raise HwnasError(
                    f"{where}: {key}: expected a {kind.__name__}, got {data.get(key)!r}"
                )
        shape = data["input_shape"]
        if len(shape) not in (1, 3) or not all(isinstance(v, int) and v > 0 for v in shape):
            raise HwnasError(
                f"{where}: input_shape: expected 3 positive integers (or 1, a sequence "
                f"length), got {shape!r}"
            )
        latency = data["latency_ms"]
        for stat in LATENCY_STATS:
            value = latency.get(stat)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise HwnasError(
                    f"{where}: latency_ms.{stat}: expected a finite number >= 0, got {value!r}"
                )
        if latency["median"] <= 0:
            raise HwnasError(f"{where}: latency_ms.median: expected > 0, got {latency['median']}")
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["input_shape"] = tuple(shape)
        return cls(**kwargs)


def profile_path(root: str | os.PathLike[str], device_id: str, space: str) -> Path:
    """``root/<device_id>/<space>.jsonl``."""
    return Path(root) / device_id / f"{space}.jsonl"


def classes_stem(stem: str, num_classes: int) -> str:
    """The file stem of a profile or predictor of models with ``num_classes`` classes where
    the file of the plain ``stem`` is of models with another number (a shipped 10-class
    profile, a 5-class image folder): ``<stem>-<N>classes``, so that neither is touched."""
    return f"{stem}-{int(num_classes)}classes"


def _lines(path: Path) -> list[tuple[int, str]]:
    """The complete lines of ``path`` with their 1-based numbers (a torn last line dropped)."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = text.split("\n")
    # The last element is "" after a trailing newline, or a torn line after a crash.
    return [(i + 1, line) for i, line in enumerate(lines[:-1]) if line.strip()]


def read_profile(path: str | os.PathLike[str]) -> list[ProfileRecord]:
    """All records of a profile, validated.

    Raises:
        HwnasError: The file is missing, a line is not valid JSON or not a valid record
            (the message names the line), or lines disagree on space or device fingerprint.
    """
    from hwnas.profiling.fingerprint import check_compatible

    path = Path(path)
    if not path.is_file():
        raise HwnasError(f"profile {path}: no such file")
    records: list[ProfileRecord] = []
    for number, line in _lines(path):
        where = f"profile {path} line {number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise HwnasError(f"{where}: not valid JSON ({error.msg})") from None
        record = ProfileRecord.from_json(data, where)
        if records:
            first = records[0]
            if record.space != first.space:
                raise HwnasError(
                    f"{where}: space {record.space!r} differs from line 1's {first.space!r}"
                )
            check_compatible(first.fingerprint, record.fingerprint, where)
            if record.num_classes != first.num_classes:
                raise HwnasError(
                    f"{where}: num_classes {record.num_classes} differs from "
                    f"{first.num_classes} in the rest of the profile"
                )
        records.append(record)
    return records


def append_records(path: str | os.PathLike[str], records: Iterable[ProfileRecord]) -> int:
    """Append records to a profile atomically, one line each; returns how many
    (see :func:`append_json_lines`)."""
    return append_json_lines(path, (record.to_json() for record in records))


def append_json_lines(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> int:
    """Append JSON objects to a JSON-lines file atomically, one line each; returns how many.

    A torn last line left by a crash is cut off first. Each line goes out in one
    ``os.write`` on a descriptor opened with ``O_APPEND`` and is fsync'ed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _repair_torn_tail(path)
    count = 0
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for row in rows:
            line = json.dumps(row, separators=(",", ":"), sort_keys=True) + "\n"
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
            count += 1
    finally:
        os.close(fd)
    return count


def _repair_torn_tail(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as handle:
        data = handle.read()
        if data.endswith(b"\n"):
            return
        handle.truncate(data.rfind(b"\n") + 1)


def measured_archs(path: str | os.PathLike[str]) -> set[str]:
    """The architecture strings already in a profile (empty if it does not exist)."""
    path = Path(path)
    return {r.arch for r in read_profile(path)} if path.exists() else set()
