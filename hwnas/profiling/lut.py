"""Per-block latency lookup tables for ``mbconv``, as Once-for-All and FBNet measure them.

Every block choice (kernel, expand ratio, width, activation, squeeze-excite) is measured on
its own at every stage's input shape: the first block of a stage for every width of the
previous stage (its input channels) with the stage's stride, the later blocks at stride 1;
plus the stem and the head (1x1 convolution, pooling, classifier) for every width of the
last stage. A network's table latency is the sum over its blocks; the ``block-lut`` feature
block (:class:`hwnas.predictors.features.BlockLutBlock`) hands that sum to the predictors,
which learn what the sum misses (per-call overhead, cache effects between blocks).

The table is a JSON-lines file beside the device's profiles,
``profiles/<device-id>/<space>-lut.jsonl``, one line per block (its key, latency statistics,
device id and space fingerprint), appended atomically, so an interrupted measurement
resumes where it stopped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwnas.errors import ConfigError, HwnasError
from hwnas.spaces.base import Arch, SearchSpace

if TYPE_CHECKING:
    from hwnas.profiling.profiler import ProfileRun

#: Version of the table file format.
LUT_FORMAT = 1
#: Protocol defaults for one block: blocks are short, the sum of thousands is what counts.
LUT_PROTOCOL = {"min_seconds": 0.25, "max_seconds": 1.0}


@dataclass(frozen=True)
class BlockSpec:
    """One separately measured part of an ``mbconv`` network.

    ``kind`` is ``stem``, ``block`` (an inverted residual) or ``head``; ``h`` and ``w`` are
    the input's spatial size.
    """

    kind: str
    c_in: int
    c_out: int
    h: int
    w: int
    stride: int = 1
    kernel: int = 3
    expand: int = 1
    act: str = "relu"
    se: bool = False

    @property
    def key(self) -> str:
        """A canonical string naming the block and its input (the table's key)."""
        where = f"{self.c_in}>{self.c_out}@{self.h}x{self.w}/{self.stride}"
        if self.kind == "block":
            se = "-se" if self.se else ""
            return f"block:{where}:k{self.kernel}e{self.expand}-{self.act}{se}"
        return f"{self.kind}:{where}"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the block's input."""
        return (self.c_in, self.h, self.w)

    def module(self, num_classes: int) -> Any:
        """The block as a stand-alone ``nn.Module`` (as the network builder makes it)."""
        from torch import nn

        from hwnas.nn.mbconv import ConvBNAct, MBConvBlock

        if self.kind == "stem":
            return ConvBNAct(self.c_in, self.c_out, 3, self.stride, act="hswish")
        if self.kind == "head":
            return nn.Sequential(
                ConvBNAct(self.c_in, self.c_out, 1, act="hswish"),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(1),
                nn.Linear(self.c_out, num_classes),
            )
        return MBConvBlock(
            self.c_in, self.c_out, self.kernel, self.expand, self.stride, self.act, self.se
        )


def _geometry(
    space: SearchSpace, shape: Sequence[int]
) -> tuple[int, list[int], list[tuple[int, int]]]:
    """Stem stride, stage strides and each stage's input size (fixed by the input alone)."""
    from hwnas.spaces.mbconv import plan_strides

    if space.name != "mbconv":
        raise ConfigError("space", "mbconv (block lookup tables exist for mbconv only)", space.name)
    _, h, w = (int(v) for v in shape)
    stem_stride, strides = plan_strides(space, h, w)  # type: ignore[arg-type]
    h, w = -(-h // stem_stride), -(-w // stem_stride)
    sizes = []
    for stride in strides:
        sizes.append((h, w))
        h, w = -(-h // stride), -(-w // stride)
    sizes.append((h, w))  # the head's input
    return stem_stride, strides, sizes


def arch_blocks(space: SearchSpace, arch: Arch, input_shape: Sequence[int]) -> list[BlockSpec]:
    """The stem, blocks and head of ``arch`` as table entries."""
    from hwnas.spaces.mbconv import stage_channels

    stem_stride, strides, sizes = _geometry(space, input_shape)
    c, h0, w0 = (int(v) for v in input_shape)
    c_stem = space.stem_channels  # type: ignore[attr-defined]
    out = [BlockSpec("stem", c, c_stem, h0, w0, stem_stride)]
    c_in = c_stem
    stages = arch.stages  # type: ignore[attr-defined]
    bases = space.stage_channels  # type: ignore[attr-defined]
    for stage, base, stride, (h, w) in zip(stages, bases, strides, sizes, strict=False):
        c_out = stage_channels(stage, base)
        for i, block in enumerate(stage.blocks):
            first = i == 0
            size = (h, w) if first else (-(-h // stride), -(-w // stride))
            out.append(
                BlockSpec(
                    "block",
                    c_in,
                    c_out,
                    *size,
                    stride=stride if first else 1,
                    kernel=block.kernel,
                    expand=block.expand,
                    act=stage.act,
                    se=stage.se,
                )
            )
            c_in = c_out
    head = space.head_channels  # type: ignore[attr-defined]
    out.append(BlockSpec("head", c_in, head, *sizes[-1]))
    return out


def all_blocks(space: SearchSpace, input_shape: Sequence[int]) -> list[BlockSpec]:
    """Every table entry any architecture of ``space`` can use at ``input_shape``."""
    from hwnas.spaces.mbconv import make_divisible

    stem_stride, strides, sizes = _geometry(space, input_shape)
    c, h0, w0 = (int(v) for v in input_shape)
    sp: Any = space
    specs = [BlockSpec("stem", c, sp.stem_channels, h0, w0, stem_stride)]
    seen: set[str] = set()
    previous = [sp.stem_channels]
    for base, stride, (h, w) in zip(sp.stage_channels, strides, sizes, strict=False):
        widths = sorted({make_divisible(base * width) for width in sp.widths})
        inner = (-(-h // stride), -(-w // stride))
        for c_out in widths:
            inputs = [(c_in, (h, w), stride) for c_in in previous]
            if max(sp.depths) > 1:
                inputs.append((c_out, inner, 1))
            for c_in, size, s in inputs:
                for kernel in sp.kernels:
                    for expand in sp.expands:
                        for act in sp.activations:
                            for se in sp.se:
                                spec = BlockSpec(
                                    "block", c_in, c_out, *size, s, kernel, expand, act, bool(se)
                                )
                                if spec.key not in seen:
                                    seen.add(spec.key)
                                    specs.append(spec)
        previous = widths
    for c_in in previous:
        specs.append(BlockSpec("head", c_in, sp.head_channels, *sizes[-1]))
    return specs


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
    """Measure every block of :func:`all_blocks` on ``runtime`` into the device's table.

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

    shape = check_input_shape(tuple(int(v) for v in input_shape), num_classes)
    fingerprint = device_fingerprint(runtime, batch=batch, input_shape=shape)
    device_id = str(fingerprint["device_id"])
    path = lut_path(root, device_id, space)
    done: set[str] = set()
    if path.exists():
        table = read_lut(path)
        if table["device_id"] != device_id or table["space_fingerprint"] != space.fingerprint():
            raise HwnasError(f"{path}: a table of another device or space configuration")
        done = set(table["ms"])
    specs = all_blocks(space, shape)
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
    "BlockSpec",
    "all_blocks",
    "arch_blocks",
    "lut_feature_block",
    "lut_path",
    "measure_lut",
    "read_lut",
]
