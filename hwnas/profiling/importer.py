"""Import published latency measurements (CSV rows of architecture and milliseconds).

Measurement sets such as NAS-Bench-201's per-device latencies (HELP, HW-NAS-Bench) become
profiles like any other, so that predictors train on them the same way. An imported profile
has a ``published`` fingerprint naming the device, the source file's hash, the input shape
and the batch size; it is never mixed with measurements taken here.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import math
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hwnas.errors import ArchError, ConfigError, HwnasError
from hwnas.profiling.fingerprint import FINGERPRINT_VERSION, fingerprint_hash
from hwnas.profiling.store import ProfileRecord
from hwnas.spaces.base import SearchSpace


def published_fingerprint(
    device: str, *, input_shape: Sequence[int], batch: int, source_sha256: str
) -> dict[str, Any]:
    """The fingerprint of measurements published for ``device`` (with its ``device_id``)."""
    if not device or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", device):
        raise ConfigError(
            "--device", "a device name of letters, digits and . _ + - (e.g. pixel3)", device
        )
    fingerprint: dict[str, Any] = {
        "fingerprint_version": FINGERPRINT_VERSION,
        "device_kind": "published",
        "device_name": device,
        "runtime": "published",
        "batch": int(batch),
        "input_shape": [int(v) for v in input_shape],
        "source_sha256": source_sha256,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    slug = re.sub(r"[^a-z0-9.]+", "-", device.lower()).strip("-")
    fingerprint["device_id"] = f"published-{slug}-{fingerprint_hash(fingerprint)[:8]}"
    return fingerprint


def _open_text(path: Path) -> tuple[str, str]:
    if not path.is_file():
        raise HwnasError(f"CSV {path}: no such file")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        return raw.decode("utf-8-sig"), digest
    except UnicodeDecodeError:
        raise HwnasError(f"CSV {path}: not UTF-8 text") from None


def import_latency_csv(
    csv_path: str | Path,
    *,
    space: SearchSpace,
    device: str,
    latency_column: str,
    arch_column: str = "arch_str",
    input_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    batch: int = 1,
) -> list[ProfileRecord]:
    """Profile records from a CSV of architecture strings and latencies in milliseconds.

    Args:
        csv_path: The CSV file (optionally gzipped) with a header row.
        space: The search space the architecture strings belong to.
        device: A name for the device (becomes part of the device id).
        latency_column: The column holding latency in milliseconds.
        arch_column: The column holding architecture strings.
        input_shape: The input shape the latencies were measured at.
        num_classes: The number of classes of the measured models.
        batch: The batch size of the measurements.

    Raises:
        HwnasError: The file is missing, a column is unknown (the known ones are listed),
            or a row has a bad architecture or latency (the line is named).
    """
    from hwnas.costs import count_costs_fast

    path = Path(csv_path)
    text, digest = _open_text(path)
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    for option, column in (("--arch-column", arch_column), ("--latency-column", latency_column)):
        if column not in columns:
            raise ConfigError(option, f"a column of {path} ({', '.join(columns)})", column)
    fingerprint = published_fingerprint(
        device, input_shape=input_shape, batch=batch, source_sha256=digest
    )
    shape = tuple(int(v) for v in input_shape)
    records: list[ProfileRecord] = []
    seen: set[str] = set()
    for row in reader:
        where = f"CSV {path} line {reader.line_num}"
        try:
            arch = space.parse(row[arch_column] or "")
        except ArchError as error:
            raise HwnasError(f"{where}: {arch_column}: {error}") from None
        try:
            latency = float(row[latency_column])
        except (TypeError, ValueError):
            raise HwnasError(
                f"{where}: {latency_column}: expected a latency in ms, got {row[latency_column]!r}"
            ) from None
        if not math.isfinite(latency) or latency <= 0:
            raise HwnasError(
                f"{where}: {latency_column}: expected a positive number, got {latency}"
            )
        if str(arch) in seen:
            raise HwnasError(f"{where}: architecture {arch} appears twice")
        seen.add(str(arch))
        costs = count_costs_fast(space, arch, shape, num_classes)
        records.append(
            ProfileRecord(
                space=space.name,
                arch=str(arch),
                input_shape=shape,  # type: ignore[arg-type]
                batch=batch,
                num_classes=num_classes,
                runtime="published",
                device_id=fingerprint["device_id"],
                fingerprint=fingerprint,
                latency_ms={
                    "median": latency,
                    "mean": latency,
                    "p90": latency,
                    "std": 0.0,
                    "min": latency,
                    "n": 1,
                },
                macs=costs.macs,
                params=costs.params,
                space_fingerprint=space.fingerprint(),
                source=f"imported:{path.name}#{latency_column}",
            )
        )
    if not records:
        raise HwnasError(f"CSV {path}: no rows")
    return records
