"""Features of architectures for latency predictors, computed from the architecture alone.

A :class:`FeatureSpec` is a list of feature blocks; each block turns architectures into
columns. Built in:

- ``onehot``: one column per (encoding dimension, choice); genes that have no effect (the
  block slots beyond a stage's depth in ``mbconv``) are all-zero rather than choice 0.
- ``costs``: ``macs_m`` (MACs / 1e6), ``params_m`` (parameters / 1e6) and ``log_macs``
  (natural log of ``macs_m``), from the closed-form counter
  :func:`hwnas.costs.count_costs_fast` (tens of thousands of architectures a second).
- ``ops``: per-operator-kind counts, elements and MACs (split by kernel size) from the
  closed-form operator list :func:`hwnas.costs.count_layers`; with ``costs`` the default,
  because latency is close to a non-negative sum over operators (see :class:`OpsBlock`).
- ``ops-shape``: the convolutions' counts, MACs and output elements split by kind, kernel,
  channel width and map size (:class:`OpsShapeBlock`): the per-MAC cost of a convolution
  depends on its shape (onnxruntime picks other kernels for 8 channels than for 64).

More blocks (a lookup-table sum of measured per-layer latencies, for instance) plug in with
:func:`register_feature_block`: a block has a ``name``, JSON ``config()`` that is stored in
the predictor file and rebuilds it, its ``columns()``, which of them are ``additive()``
(may enter a sum-of-costs model such as ``lut``) and ``compute()``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwnas.errors import ArchError, HwnasError
from hwnas.registry import Registry
from hwnas.spaces.base import Arch, SearchSpace


@dataclass(frozen=True)
class FeatureContext:
    """What features are computed for: the space, the input shape and the classes."""

    space: SearchSpace
    input_shape: tuple[int, int, int]
    num_classes: int


class FeatureBlock(abc.ABC):
    """A group of feature columns computed from architectures."""

    name: str

    def config(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments (stored in predictor files)."""
        return {}

    @abc.abstractmethod
    def columns(self, context: FeatureContext) -> list[str]:
        """The names of the columns, in order."""

    @abc.abstractmethod
    def additive(self, context: FeatureContext) -> list[bool]:
        """For each column, whether latency may be modelled as a non-negative sum over it."""

    @abc.abstractmethod
    def compute(
        self, context: FeatureContext, archs: Sequence[Arch], encodings: np.ndarray
    ) -> np.ndarray:
        """The ``(len(archs), len(columns))`` float matrix of this block."""


FEATURE_BLOCKS: Registry[FeatureBlock] = Registry("feature block")


def register_feature_block(name: str) -> Callable[[Callable[..., Any]], Any]:
    """Class decorator registering a :class:`FeatureBlock` under ``name``."""
    return FEATURE_BLOCKS.register(name)


@register_feature_block("onehot")
class OneHotBlock(FeatureBlock):
    """One column per (gene, choice); inactive genes are all zero."""

    name = "onehot"

    def columns(self, context: FeatureContext) -> list[str]:
        return [f"g{i}={j}" for i, n in enumerate(context.space.n_choices) for j in range(int(n))]

    def additive(self, context: FeatureContext) -> list[bool]:
        return [True] * sum(int(n) for n in context.space.n_choices)

    def compute(
        self, context: FeatureContext, archs: Sequence[Arch], encodings: np.ndarray
    ) -> np.ndarray:
        n_choices = np.asarray(context.space.n_choices, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(n_choices)[:-1]])
        out = np.zeros((len(encodings), int(n_choices.sum())))
        if len(encodings):
            rows = np.repeat(np.arange(len(encodings)), len(n_choices))
            cols = (encodings + offsets).ravel()
            values = context.space.active_genes(encodings).ravel().astype(float)
            out[rows, cols] = values
        return out


@register_feature_block("costs")
class CostsBlock(FeatureBlock):
    """``macs_m``, ``params_m`` and ``log_macs`` from the closed-form cost counter."""

    name = "costs"

    def columns(self, context: FeatureContext) -> list[str]:
        return ["macs_m", "params_m", "log_macs"]

    def additive(self, context: FeatureContext) -> list[bool]:
        return [True, True, False]

    def compute(
        self, context: FeatureContext, archs: Sequence[Arch], encodings: np.ndarray
    ) -> np.ndarray:
        from hwnas.costs import count_costs_fast

        out = np.empty((len(archs), 3))
        for i, arch in enumerate(archs):
            costs = count_costs_fast(context.space, arch, context.input_shape, context.num_classes)
            out[i, 0] = costs.macs / 1e6
            out[i, 1] = costs.params / 1e6
        out[:, 2] = np.log(np.maximum(out[:, 0], 1e-6))
        return out


#: Operator kinds of :class:`hwnas.costs.Layer` that the ``ops`` block counts.
OP_KINDS: tuple[str, ...] = ("conv", "pw", "dw", "se", "fc", "pool", "add", "mul", "act", "bn")
#: Kinds whose multiply-accumulates the ``ops`` block splits by kernel size.
_KERNEL_KINDS = ("conv", "dw")


def _space_kernels(space: SearchSpace) -> tuple[int, ...]:
    kernels = set(getattr(space, "kernels", ())) | {1, 3}
    return tuple(sorted(int(k) for k in kernels))


@register_feature_block("ops")
class OpsBlock(FeatureBlock):
    """Per-operator-kind costs from the closed-form operator list (:func:`count_layers`).

    For every kind: the number of operators (``n_<kind>``), their output elements in
    millions (``out_<kind>``, memory traffic) and, for convolutions, their input elements
    (``in_<kind>``) and multiply-accumulates in millions (``macs_<kind>``, split by kernel
    size for dense and depthwise convolutions: ``macs_dw_k5``); elements through each
    activation (``act_relu``, ``act_hswish``). All columns are additive: a network's
    latency is about a non-negative sum of per-operator costs, which is what nn-Meter's
    kernel-level predictors exploit, here without measuring kernels one by one.
    """

    name = "ops"

    def columns(self, context: FeatureContext) -> list[str]:
        kernels = _space_kernels(context.space)
        cols = [f"n_{k}" for k in OP_KINDS] + [f"out_{k}" for k in OP_KINDS]
        cols += [f"in_{k}" for k in ("conv", "pw", "dw")]
        for kind in ("conv", "pw", "dw", "se", "fc"):
            if kind in _KERNEL_KINDS:
                cols += [f"macs_{kind}_k{k}" for k in kernels]
            else:
                cols.append(f"macs_{kind}")
        return [*cols, "act_relu", "act_hswish"]

    def additive(self, context: FeatureContext) -> list[bool]:
        return [True] * len(self.columns(context))

    def compute(
        self, context: FeatureContext, archs: Sequence[Arch], encodings: np.ndarray
    ) -> np.ndarray:
        from hwnas.costs import count_layers

        columns = self.columns(context)
        index = {c: i for i, c in enumerate(columns)}
        out = np.zeros((len(archs), len(columns)))
        for row, arch in enumerate(archs):
            values = out[row]
            for layer in count_layers(
                context.space, arch, context.input_shape, context.num_classes
            ):
                kind = layer.kind
                values[index[f"n_{kind}"]] += 1
                values[index[f"out_{kind}"]] += layer.out_elems / 1e6
                if kind in ("conv", "pw", "dw"):
                    values[index[f"in_{kind}"]] += layer.c_in * layer.h_out * layer.w_out / 1e6
                key = f"macs_{kind}_k{layer.kernel}" if kind in _KERNEL_KINDS else f"macs_{kind}"
                if key in index:
                    values[index[key]] += layer.macs / 1e6
                if layer.act:
                    values[index[f"act_{layer.act}"]] += layer.out_elems / 1e6
        return out


#: Upper bounds of the channel-width buckets of ``ops-shape`` (the last one is open).
_WIDTH_BUCKETS = (8, 16, 32, 64)
#: Map sizes (output pixels) of ``ops-shape``: 1-3, 4-15, 16-63, >= 64.
_SIZE_BUCKETS = 4


def _width_bucket(channels: int) -> int:
    return next((i for i, b in enumerate(_WIDTH_BUCKETS) if channels <= b), len(_WIDTH_BUCKETS))


def _size_bucket(pixels: int) -> int:
    return min(_SIZE_BUCKETS - 1, int(np.log2(max(1, pixels))) // 2)


@register_feature_block("ops-shape")
class OpsShapeBlock(FeatureBlock):
    """Convolutions split by shape: for every (kind, kernel, width bucket, size bucket)
    the number of operators (``n:``), their MACs in millions (``macs:``) and output
    elements in millions (``out:``), e.g. ``macs:conv_k5_w0_s1`` (a 5x5 convolution of
    at most 8 channels on a 4-15 pixel map). Additive like ``ops``, beside which it is
    meant: it lets a sum-of-costs model give small and large convolutions their own cost
    per MAC (on this CPU's ``convnet`` profile at 1x8x8: 92 % of held-out architectures
    within ±10 % with ``ops,costs,ops-shape`` against 74 % with ``ops,costs``).
    """

    name = "ops-shape"

    def _keys(self, context: FeatureContext) -> list[str]:
        # Every odd kernel up to 7 (stems may use kernels the blocks do not), and the space's.
        kernels = sorted({1, 3, 5, 7} | set(_space_kernels(context.space)))
        keys = []
        for kind in ("conv", "pw", "dw"):
            for kernel in (1,) if kind == "pw" else kernels:
                for width in range(len(_WIDTH_BUCKETS) + 1):
                    keys += [f"{kind}_k{kernel}_w{width}_s{size}" for size in range(_SIZE_BUCKETS)]
        return keys

    def columns(self, context: FeatureContext) -> list[str]:
        return [f"{t}:{k}" for k in self._keys(context) for t in ("n", "macs", "out")]

    def additive(self, context: FeatureContext) -> list[bool]:
        return [True] * len(self.columns(context))

    def compute(
        self, context: FeatureContext, archs: Sequence[Arch], encodings: np.ndarray
    ) -> np.ndarray:
        from hwnas.costs import count_layers

        index = {c: i for i, c in enumerate(self.columns(context))}
        out = np.zeros((len(archs), len(index)))
        for row, arch in enumerate(archs):
            for layer in count_layers(
                context.space, arch, context.input_shape, context.num_classes
            ):
                if layer.kind not in ("conv", "pw", "dw"):
                    continue
                width = layer.c_out if layer.kind == "dw" else min(layer.c_in, layer.c_out)
                key = (
                    f"{layer.kind}_k{layer.kernel}_w{_width_bucket(width)}"
                    f"_s{_size_bucket(layer.h_out * layer.w_out)}"
                )
                for prefix, value in (
                    ("n", 1.0),
                    ("macs", layer.macs / 1e6),
                    ("out", layer.out_elems / 1e6),
                ):
                    column = index.get(f"{prefix}:{key}")
                    if column is not None:
                        out[row, column] += value
        return out


@register_feature_block("block-lut")
class BlockLutBlock(FeatureBlock):
    """``lut_ms``: the sum of an architecture's measured block latencies (additive).

    Args:
        ms: The table, ``{block key: median ms}``, stored in the predictor file so that a
            predictor stays self-contained (see :mod:`hwnas.profiling.lut`, which measures it).
        device_id: The device the table was measured on.
        input_shape: The network input shape the table was measured for.
    """

    name = "block-lut"

    def __init__(
        self,
        ms: dict[str, float] | None = None,
        device_id: str = "",
        input_shape: Sequence[int] = (),
    ) -> None:
        if not isinstance(ms, dict) or not ms:
            raise HwnasError("block-lut: expected a non-empty table {block key: ms}")
        self.ms = {str(k): float(v) for k, v in ms.items()}
        self.device_id = str(device_id)
        self.input_shape = [int(v) for v in input_shape]

    def config(self) -> dict[str, Any]:
        return {"ms": self.ms, "device_id": self.device_id, "input_shape": self.input_shape}

    def columns(self, context: FeatureContext) -> list[str]:
        return ["lut_ms"]

    def additive(self, context: FeatureContext) -> list[bool]:
        return [True]

    def compute(
        self, context: FeatureContext, archs: Sequence[Arch], encodings: np.ndarray
    ) -> np.ndarray:
        if self.input_shape and tuple(self.input_shape) != tuple(context.input_shape):
            raise HwnasError(
                f"block-lut: the table was measured for input shape {tuple(self.input_shape)}, "
                f"not {tuple(context.input_shape)}"
            )
        out = np.zeros((len(archs), 1))
        for i, arch in enumerate(archs):
            for spec in context.space.arch_table_blocks(arch, context.input_shape):
                value = self.ms.get(spec.key)
                if value is None:
                    raise ArchError(
                        f"archs[{i}]: block {spec.key} is not in the lookup table (another "
                        "space configuration?); measure it with 'hwnas profile --lut'"
                    )
                out[i, 0] += value
        return out


class FeatureSpec:
    """An ordered list of feature blocks.

    Args:
        blocks: Block names or :class:`FeatureBlock` objects; default ``("ops", "costs")``.
    """

    def __init__(self, blocks: Sequence[str | FeatureBlock] = ("ops", "costs")) -> None:
        built: list[FeatureBlock] = []
        for block in blocks:
            built.append(FEATURE_BLOCKS.create(block) if isinstance(block, str) else block)
        if not built:
            raise HwnasError("features: expected at least one feature block, got none")
        names = [b.name for b in built]
        if len(set(names)) != len(names):
            raise HwnasError(f"features: expected distinct feature blocks, got {names}")
        self.blocks: tuple[FeatureBlock, ...] = tuple(built)

    def columns(self, context: FeatureContext) -> list[str]:
        """All column names, block by block."""
        return [c for b in self.blocks for c in b.columns(context)]

    def additive(self, context: FeatureContext) -> np.ndarray:
        """A boolean mask of the columns a sum-of-costs model may use."""
        return np.array([a for b in self.blocks for a in b.additive(context)], dtype=bool)

    def matrix(self, context: FeatureContext, archs: Sequence[Arch]) -> np.ndarray:
        """The ``(len(archs), n_columns)`` feature matrix."""
        rows: list[tuple[int, ...]] = []
        for i, arch in enumerate(archs):
            try:
                rows.append(context.space.encode(arch))
            except ArchError as error:
                raise ArchError(f"archs[{i}]: {error}") from None
        encodings = np.array(rows, dtype=np.int64).reshape(len(archs), context.space.n_dims)
        parts = [b.compute(context, archs, encodings) for b in self.blocks]
        return np.hstack(parts) if parts else np.empty((len(archs), 0))

    def to_json(self) -> list[dict[str, Any]]:
        """``[{"name": ..., **config}, ...]``."""
        return [{"name": b.name, **b.config()} for b in self.blocks]

    @classmethod
    def from_json(cls, data: Any, where: str = "features") -> FeatureSpec:
        """The inverse of :meth:`to_json`; unknown blocks raise :class:`HwnasError`."""
        if not isinstance(data, list) or not data:
            raise HwnasError(f"{where}: expected a non-empty list of feature blocks, got {data!r}")
        blocks: list[FeatureBlock] = []
        for i, item in enumerate(data):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise HwnasError(f"{where}[{i}]: expected an object with a 'name', got {item!r}")
            config = {k: v for k, v in item.items() if k != "name"}
            if item["name"] not in FEATURE_BLOCKS:
                raise HwnasError(
                    f"{where}[{i}].name: expected one of {', '.join(FEATURE_BLOCKS.names())}, "
                    f"got {item['name']!r}"
                )
            try:
                blocks.append(FEATURE_BLOCKS.create(item["name"], **config))
            except TypeError as error:
                raise HwnasError(f"{where}[{i}]: bad configuration ({error})") from None
        return cls(blocks)


def as_archs(space: SearchSpace, archs: Sequence[Arch | str] | Arch | str) -> list[Arch]:
    """Architecture values of ``space`` from values or strings, each checked.

    Raises:
        ArchError: A string does not parse, or a value belongs to another space or has a
            choice outside this space's configuration; the message gives its position.
    """
    if isinstance(archs, str | Arch):
        archs = [archs]
    out: list[Arch] = []
    for i, item in enumerate(archs):
        if isinstance(item, str):
            try:
                arch = space.parse(item)
            except ArchError as error:
                raise ArchError(f"archs[{i}]: {error}") from None
        elif isinstance(item, Arch):
            try:
                arch = space.check_arch(item)
            except ArchError as error:
                raise ArchError(f"archs[{i}]: {error}") from None
        else:
            raise ArchError(
                f"archs[{i}]: expected an architecture or its string, got {type(item).__name__}"
            )
        out.append(arch)
    return out
