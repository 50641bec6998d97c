"""What ``hwnas bench`` compares: a pydantic model of the YAML keys and CLI options.

Types, ranges and defaults are declared on the fields; the YAML / CLI shorthands (``"a,b"``
for a list, a count ``n`` for seeds ``0..n-1``, integers written as text) are read by
before-validators; rules across items (known, distinct, increasing) are field validators.
Every failure becomes a :class:`~hwnas.errors.ConfigError` naming the field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

from hwnas.bench.baselines import EXTERNAL_BASELINES
from hwnas.config import config_error, read_yaml
from hwnas.errors import ConfigError

__all__ = [
    "DEFAULT_STRATEGIES",
    "MAX_PROFILE_ARCHS",
    "STRATEGY_KEY",
    "BenchConfig",
    "load_bench_config",
]

#: The most architectures a latency predictor of the bench may be fitted on.
MAX_PROFILE_ARCHS = 300
#: The key of ``strategy_options`` that makes a name a label for a configured strategy.
STRATEGY_KEY = "strategy"
#: Strategies compared by default (hwnas strategies and external baselines).
DEFAULT_STRATEGIES = ("surrogate-ehvi", "nsga2", "evolution", "random", "optuna-nsga2")


def _known_names() -> list[str]:
    from hwnas.strategies import list_strategies

    return sorted(set(list_strategies()) | set(EXTERNAL_BASELINES))


def _expects(expected: str) -> WrapValidator:
    """Pydantic's own type and range errors of a field, reported as ``expected``."""

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise ValueError(expected) from None

    return WrapValidator(validate)


def _listed(value: Any) -> Any:
    """The shorthands of a list: ``"a, b"`` is ``["a", "b"]``, a lone number ``[number]``."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, int | np.integer):
        return [value]
    return value


def _integer_text(value: Any) -> Any:
    """Integers written as text (every CLI option is) or as numpy integers, as ``int``; the
    strict check that follows refuses the rest (booleans, fractions)."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return int(value) if isinstance(value, np.integer) else value


def _seed_count(value: Any) -> Any:
    """A count ``n`` (``3`` or ``"3"``) means seeds ``0..n-1``; anything else is a list."""
    value = _integer_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return list(range(value))  # a count below 1 gives no seeds, refused below
    return _listed(value)


def _path_text(value: Any) -> Any:
    return os.fspath(value) if isinstance(value, os.PathLike) else value


_Integer = Annotated[int, Strict(), BeforeValidator(_integer_text)]
_Text = Annotated[str, Field(min_length=1), _expects("a non-empty string")]
_Names = Annotated[
    tuple[Annotated[str, Field(min_length=1)], ...],
    Field(min_length=1),
    BeforeValidator(_listed),
]


class BenchConfig(BaseModel):
    """What :func:`~hwnas.bench.run_bench` compares; every field is also a YAML key and a
    CLI option, and its ``description`` says what it holds.

    Lists may be given as comma-separated strings; :meth:`updated` and
    :meth:`from_mapping` return checked configs and raise :class:`ConfigError` naming the
    field.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategies: Annotated[
        _Names,
        _expects("one or more strategy names (a list or a comma-separated string)"),
        Field(description="strategies and baselines, comma-separated"),
    ] = DEFAULT_STRATEGIES
    device_columns: Annotated[
        _Names,
        _expects("one or more latency columns (a list or a comma-separated string)"),
        Field(
            description="latency column(s) (ms) of the table, one benchmark each; "
            "comma-separated or repeated (default pixel3_ms, 1080ti_1_ms)"
        ),
    ] = ("pixel3_ms", "1080ti_1_ms")
    accuracy_column: Annotated[
        _Text, Field(description="accuracy column, fractions or percentages (acc_cifar10_test)")
    ] = "acc_cifar10_test"
    queries: Annotated[
        tuple[Annotated[_Integer, Field(ge=1)], ...],
        Field(min_length=1),
        BeforeValidator(_listed),
        _expects("positive numbers of queries (a list or a comma-separated string)"),
        Field(
            description="accuracy queries at which to score (50,100,200,300); the largest is "
            "each search's budget"
        ),
    ] = (50, 100, 200, 300)
    seeds: Annotated[
        tuple[Annotated[_Integer, Field(ge=0)], ...],
        Field(min_length=1),
        BeforeValidator(_seed_count),
        _expects("an integer count n (seeds 0..n-1) or a list of non-negative seeds"),
        Field(description="a number of seeds (0..N-1) or a list of seeds"),
    ] = tuple(range(10))
    profile_archs: Annotated[
        _Integer,
        Field(ge=2, le=MAX_PROFILE_ARCHS),
        _expects(f"an integer in 2..{MAX_PROFILE_ARCHS} (a realistic profiling budget)"),
        Field(description="architectures profiled per device for the latency predictor (<= 300)"),
    ] = MAX_PROFILE_ARCHS
    table: Annotated[
        str | None,
        BeforeValidator(_path_text),
        _expects("the path of a CSV table, or null for NAS-Bench-201"),
        Field(description="a CSV table of the same form instead of the shipped NB201 one"),
    ] = None
    arch_column: Annotated[
        _Text, Field(description="architecture column of the table (arch_str)")
    ] = "arch_str"
    space: Annotated[
        _Text, Field(description="search space of the architecture strings (nb201)")
    ] = "nb201"
    batch_size: Annotated[
        _Integer,
        Field(ge=1),
        _expects("an integer >= 1"),
        Field(description="architectures asked per step of the search loop"),
    ] = 10
    predictor: Annotated[
        _Text,
        Field(
            description="latency predictor model(s), joined by '+' for the mean of their "
            "predictions (lut+gbr); 'exact' gives the true column, a diagnostic only"
        ),
    ] = "lut+gbr"
    predictor_features: Annotated[
        str,
        _expects("comma-separated feature blocks"),
        Field(
            description="the predictor's feature blocks, e.g. onehot,costs (the default, with "
            "which the committed results were made) or ops,costs"
        ),
    ] = "onehot,costs"
    strategy_options: Annotated[
        dict[Annotated[str, BeforeValidator(str)], dict[str, Any]],
        _expects("a mapping of strategy name -> mapping of options"),
        Field(description="keyword arguments per strategy name"),
    ] = {}

    @field_validator("strategies")
    @classmethod
    def _distinct_strategies(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(names)) != len(names):
            raise ValueError("distinct names")
        return names

    @model_validator(mode="after")
    def _known_strategies(self) -> BenchConfig:
        """Each name is a strategy, a baseline, or a label whose ``strategy_options`` name
        the strategy it configures (``nsga2+gp: {strategy: nsga2, predictor: gp}``)."""
        known = _known_names()
        for name in self.strategies:
            if name in known:
                continue
            base = self.strategy_options.get(name, {}).get(STRATEGY_KEY)
            if base is None:
                raise ConfigError(
                    "strategies",
                    f"names from {', '.join(known)}, or a label with a "
                    f"'{STRATEGY_KEY}:' entry in strategy_options naming one of them",
                    name,
                )
        for label, options in self.strategy_options.items():
            base = options.get(STRATEGY_KEY)
            if base is not None and (not isinstance(base, str) or base not in known):
                raise ConfigError(
                    f"strategy_options.{label}.{STRATEGY_KEY}",
                    f"a strategy from {', '.join(known)}",
                    base,
                )
        return self

    def base_strategy(self, name: str) -> tuple[str, dict[str, Any]]:
        """The strategy (or baseline) a name of :attr:`strategies` runs and its options:
        a label's ``strategy`` entry, else the name itself."""
        options = dict(self.strategy_options.get(name, {}))
        return str(options.pop(STRATEGY_KEY, name)), options

    @field_validator("queries")
    @classmethod
    def _increasing(cls, queries: tuple[int, ...]) -> tuple[int, ...]:
        if list(queries) != sorted(set(queries)):
            raise ValueError("increasing numbers of queries")
        return queries

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("distinct seeds")
        return seeds

    @field_validator("predictor_features")
    @classmethod
    def _feature_blocks(cls, value: str) -> str:
        from hwnas.predictors.features import FEATURE_BLOCKS

        blocks = [block.strip() for block in value.split(",")]
        if any(block not in FEATURE_BLOCKS for block in blocks):
            raise ValueError(
                f"comma-separated feature blocks from {', '.join(FEATURE_BLOCKS.names())}"
            )
        return ",".join(blocks)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> BenchConfig:
        """A checked config from a mapping (YAML keys; ``None`` means the default)."""
        if not isinstance(data, Mapping):
            raise ConfigError("config", "a mapping of bench options", type(data).__name__)
        return cls()._with({key: value for key, value in data.items() if value is not None})

    def updated(self, **changes: Any) -> BenchConfig:
        """A copy with ``changes`` applied and checked."""
        return self._with(changes)

    def _with(self, changes: Mapping[Any, Any]) -> BenchConfig:
        fields = type(self).model_fields
        for key in changes:
            if key not in fields:
                raise ConfigError(str(key), f"a bench option ({', '.join(sorted(fields))})", key)
        try:
            return type(self).model_validate({**self.model_dump(), **changes})
        except ValidationError as error:
            cause = error.errors()[0].get("ctx", {}).get("error")
            if isinstance(cause, ConfigError):  # raised by a validator with its own field
                raise cause from None
            raise config_error(error) from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (the YAML form)."""
        return self.model_dump(mode="json")


def load_bench_config(path: str | os.PathLike[str]) -> BenchConfig:
    """Read and check a bench YAML file (see ``configs/nb201-bench.yaml``).

    The keys may also sit under one top-level ``bench:`` key.
    """
    data = read_yaml(path)
    data = {} if data is None else data
    if isinstance(data, Mapping) and "bench" in data and len(data) == 1:
        data = data["bench"]
    return BenchConfig.from_mapping(data)
