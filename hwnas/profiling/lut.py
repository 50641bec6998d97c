"""Per-block latency lookup tables, as Once-for-All and FBNet measure them.

A space that has one lists its blocks (:meth:`hwnas.spaces.SearchSpace.table_blocks`:
each with a key, an input shape and a stand-alone module; ``mbconv`` measures every block
choice at every stage's input shape, see :mod:`hwnas.spaces.mbconv.blocks`); this module
measures them and stores the table. A network's table latency is the sum over its blocks
(:meth:`~hwnas.spaces.SearchSpace.arch_table_blocks`); the ``block-lut`` feature block
(:class:`hwnas.predictors.features.BlockLutBlock`) hands that sum to the predictors, which
learn what the sum misses (per-call overhead, cache effects between blocks).

The table is a JSON-lines file beside the device's profiles,
``profiles/<device-id>/<space>-lut.jsonl``, one line per block (its key, latency statistics,
device id and space fingerprint), appended atomically, so an interrupted measurement
resumes where it stopped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from hwnas.errors import ConfigError, HwnasError
from hwnas.spaces.base import SearchSpace

if TYPE_CHECKING:
    from hwnas.profiling.profiler import ProfileRun

#: Version of the table file format.
LUT_FORMAT = 1
#: Protocol defaults for one block: blocks are short, the sum of thousands is what counts.
LUT_PROTOCOL = {"min_seconds": 0.25, "max_seconds": 1.0}


def lut_path(root: str | os.PathLike[str], device_id: str, space: SearchSpace) -> Path:
    """``root/<device_id>/<space file stem>-lut.jsonl``."""
    return Path(root) / device_id / f"{space.file_stem}-lut.jsonl"


def read_lut(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The table of a LUT file: ``{"device_id", "space_fingerprint", "input_shape",
    "num_classes", "ms": {key: median ms}}``.

    A torn last line (a measurement killed mid-write) is ignored; any other bad line, or
    lines of different devices or spaces, raise :class:`HwnasError` naming the line.
    """
    path = Path(path)
    if not path.is_file():
        raise HwnasError(f"{path}: no such lookup-table file")
    lines = path.read_text().splitlines()
    table: dict[str, Any] = {"ms": {}}
    shared = ("device_id", "space_fingerprint", "input_shape", "num_classes")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break  # torn tail
            raise HwnasError(f"{path} line {number}: not valid JSON") from None
        if not isinstance(row, dict) or row.get("format") != LUT_FORMAT:
            raise HwnasError(f"{path} line {number}: expected a lookup-table row (format 1)")
        for field in shared:
            if field not in row:
                raise HwnasError(f"{path} line {number}: missing {field!r}")
            if field in table and table[field] != row[field]:
                raise HwnasError(
                    f"{path} line {number}: {field} {row[field]!r} differs from the file's "
                    f"{table[field]!r}; tables of different devices or spaces are never mixed"
                )
            table[field] = row[field]
        ms = row.get("median_ms")
        if not isinstance(row.get("key"), str) or not isinstance(ms, int | float) or ms <= 0:
            raise HwnasError(f"{path} line {number}: expected a key and a positive median_ms")
        table["ms"][row["key"]] = float(ms)
    if not table["ms"]:
        raise HwnasError(f"{path}: no measured blocks")
    return table


def measure_lut(
    space: SearchSpace,
    runtime: Any,
    *,
    input_shape: Sequence[int],
    num_classes: int,
    batch: int = 1,
    root: str | os.PathLike[str] = "profiles",
    seed: int = 0,
    progress: bool = False,
    protocol: dict[str, Any] | None = None,
) -> ProfileRun:
    """Measure every block of ``space.table_blocks`` on ``runtime`` into the device's table.

    Blocks already in the table are skipped (resume). Each is measured with the profiling
    protocol, shortened to :data:`LUT_PROTOCOL` unless ``protocol`` says otherwise.
    """
    import tempfile

    import torch

    from hwnas.nn import check_input_shape, recalibrate_batchnorm
    from hwnas.profiling.fingerprint import device_fingerprint
    from hwnas.profiling.profiler import ProfileRun
    from hwnas.profiling.protocol import measure_model
    from hwnas.profiling.store import append_json_lines
    from hwnas.progress import maybe, progress_bar

    # A lookup table is per block of an image space: (C, H, W).
    shape = cast(
        tuple[int, int, int],
        check_input_shape(tuple(int(v) for v in input_shape), num_classes, space),
    )
    fingerprint = device_fingerprint(runtime, batch=batch, input_shape=shape)
    device_id = str(fingerprint["device_id"])
    path = lut_path(root, device_id, space)
    done: set[str] = set()
    if path.exists():
        table = read_lut(path)
        if table["device_id"] != device_id or table["space_fingerprint"] != space.fingerprint():
            raise HwnasError(f"{path}: a table of another device or space configuration")
        if int(table["num_classes"]) != int(num_classes):
            raise HwnasError(
                f"{path}: a table of models with {table['num_classes']} classes; these have "
                f"{num_classes}: measure into another folder (hwnas profile --out-dir)"
            )
        done = set(table["ms"])
    specs = space.table_blocks(shape)
    if specs is None:
        raise ConfigError("space", "a space with a block lookup table (such as mbconv)", space.name)
    todo = [s for s in specs if s.key not in done]
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = {**LUT_PROTOCOL, **(protocol or {})}
    generator = torch.Generator().manual_seed(seed)
    bar = progress_bar(progress)
    with maybe(bar), tempfile.TemporaryDirectory(prefix="hwnas-lut-") as workdir:
        task = bar.add_task("block table", total=len(todo)) if bar is not None else None
        for spec in todo:
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
            module = spec.module(num_classes).eval()
            recalibrate_batchnorm(module, [torch.randn(8, *spec.input_shape)])
            stats = measure_model(runtime, module, spec.input_shape, batch, workdir, **settings)
            row = {
                "format": LUT_FORMAT,
                "key": spec.key,
                "median_ms": stats.median_ms,
                "latency_ms": stats.to_dict(),
                "device_id": device_id,
                "space_fingerprint": space.fingerprint(),
                "input_shape": list(shape),
                "num_classes": int(num_classes),
            }
            append_json_lines(path, [row])
            if bar is not None:
                bar.update(task, advance=1, description=f"block table {stats.median_ms:.4f} ms")
    return ProfileRun(path, device_id, len(todo), len(specs) - len(todo), len(specs))


def lut_feature_block(path: str | os.PathLike[str]) -> Any:
    """The ``block-lut`` feature block (:class:`hwnas.predictors.features.BlockLutBlock`)
    of a table file."""
    from hwnas.predictors.features import BlockLutBlock

    table = read_lut(path)
    return BlockLutBlock(table["ms"], table["device_id"], list(table["input_shape"]))


__all__ = [
    "LUT_PROTOCOL",
    "lut_feature_block",
    "lut_path",
    "measure_lut",
    "read_lut",
]
