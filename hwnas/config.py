"""Search configuration: YAML validated once, at the edge, with messages naming the field.

A config maps onto explicit keyword constructors: each component section has a ``name``
(resolved through its registry) and the rest of its keys are that component's keyword
arguments, e.g. ``strategy: {name: nsga2, population: 20}``. See ``configs/`` for
documented examples.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from hwnas.errors import ConfigError, HwnasError
from hwnas.objectives import Budget, parse_budget, parse_objectives

if TYPE_CHECKING:
    from hwnas.data import Dataset
    from hwnas.data.readers.text import TextOptions


#: Seeds go to numpy, torch and Python alike: numpy takes 0 <= seed < 2**32.
MAX_SEED = 2**32 - 1
#: What ``export.variants`` may list (:mod:`hwnas.export.variants`).
Variant = Literal["fp32", "fp16", "int8"]


def _yaml_switch(value: Any, on: str | None) -> Any:
    """YAML reads an unquoted ``off`` (``on``) as false (true): the word it stands for."""
    if value is False:
        return "off"
    if value is True and on is not None:
        return on
    return value


class _Section(BaseModel):
    """A section whose extra keys are keyword arguments of the component it names."""

    model_config = ConfigDict(extra="allow")
    name: str

    def options(self) -> dict[str, Any]:
        """The component's keyword arguments (every key but ``name``)."""
        return dict(self.model_extra or {})


class SpaceSection(_Section):
    name: str = "mbconv"


class StrategySection(_Section):
    name: str = "nsga2"


class EvaluatorSection(_Section):
    name: str = "supernet"
    #: During the search, accuracy floors are lowered (error ceilings raised) by this much:
    #: a low-fidelity estimate (inherited supernet weights, a few epochs) understates the
    #: accuracy the exported model reaches after its final training; export checks the
    #: real floor on the trained model.
    accuracy_slack: float = Field(default=0.0, ge=0, lt=1)


class ExecutorSection(_Section):
    name: str = "inline"


#: One side of an image size: strict so that YAML `true` or "32" is refused, not read as 1 / 32.
_Side = Annotated[int, Field(strict=True, gt=0)]


class DataSection(BaseModel):
    """The dataset (:func:`hwnas.data.load_dataset`); the text keys are for text sources
    (``reviews``, ``text:PATH``) only, and unset ones keep the reader's defaults."""

    model_config = ConfigDict(extra="forbid")
    name: str = "digits"
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    val_fraction: float = Field(default=0.15, gt=0, lt=1)
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    #: The CSV column / JSON key of the text and of the label (``text:PATH``).
    text_column: str | None = Field(default=None, min_length=1)
    label_column: str | None = Field(default=None, min_length=1)
    #: Tokens kept per text: the model's input length (longer texts are cut).
    sequence_length: int | None = Field(default=None, ge=1)
    #: Vocabulary size cap, padding and unknown included; at most the space's vocab_size.
    max_vocab: int | None = Field(default=None, ge=3)
    #: How texts become tokens: characters (char) or lower-cased words and punctuation (word).
    tokenizer: Literal["char", "word"] | None = None
    #: Resize every image to [height, width], or to a square of this side. Unset: each
    #: source keeps its size (an image folder: the most common size of its train images).
    image_size: _Side | tuple[_Side, _Side] | None = None

    def text_options(self) -> TextOptions | None:
        """The text keys as reader options, or ``None`` when none is set."""
        from hwnas.data.readers.text import TextOptions

        keys = ("text_column", "label_column", "sequence_length", "max_vocab", "tokenizer")
        if all(getattr(self, key) is None for key in keys):
            return None
        default = TextOptions()
        return TextOptions(
            text_column=self.text_column or default.text_column,
            label_column=self.label_column or default.label_column,
            length=self.sequence_length or default.length,
            max_vocab=self.max_vocab or default.max_vocab,
            tokenizer=self.tokenizer or default.tokenizer,
        )

    def load(self) -> Dataset:
        """The dataset this section names, split and normalised.

        Raises:
            ConfigError: Text keys for an image dataset, or an invalid setting.
            DataError: The data is missing or malformed.
        """
        from hwnas.data import load_dataset

        return load_dataset(
            self.name,
            seed=self.seed,
            val_fraction=self.val_fraction,
            test_fraction=self.test_fraction,
            text=self.text_options(),
            image_size=self.image_size,
        )


def _at_most_max_seconds(value: float, info: ValidationInfo) -> float:
    """A ``min_seconds`` validated after its section's ``max_seconds``: not above it."""
    most = info.data.get("max_seconds")
    if most is not None and value > most:
        raise ValueError(f"a number <= max_seconds ({most})")
    return value


class ProtocolSection(BaseModel):
    """How each latency of a run is measured (:func:`hwnas.profiling.protocol.measure`):
    the calibration's points, export's candidates and models and the baselines alike,
    and a profile's architectures within the caps of :class:`ProfileProtocolSection`. The
    defaults suit a shared machine; a quiet one can measure quicker
    (``min_seconds: 0.2``), a noisy one longer."""

    model_config = ConfigDict(extra="forbid")
    #: Calls run first and discarded.
    warmup: int = Field(default=10, ge=0)
    #: Timed calls taken at least (as far as ``max_seconds`` allows).
    min_repeats: int = Field(default=20, ge=1)
    #: Timed calls taken at most.
    max_repeats: int = Field(default=100_000, ge=1)
    #: Seconds each measurement may take at most, warm-up included.
    max_seconds: float = Field(default=5.0, gt=0)
    #: Seconds of timed calls before the median may be called stable (averages out drift).
    min_seconds: float = Field(default=1.0, ge=0, validate_default=True)
    #: The median is stable once a window of calls moves it by less than this (relative).
    rel_tol: float = Field(default=0.01, gt=0, lt=1)
    #: Drift correction against a fixed anchor model (:mod:`hwnas.profiling.drift`):
    #: ``auto`` leaves it to the runtime (on for the CPU ones).
    anchor: Literal["auto", "on", "off"] = "auto"

    @field_validator("anchor", mode="before")
    @classmethod
    def _anchor_words(cls, value: Any) -> Any:
        return _yaml_switch(value, "on")

    @field_validator("max_repeats", "min_seconds")
    @classmethod
    def _not_below_the_minimum(cls, value: float, info: ValidationInfo) -> float:
        if info.field_name == "max_repeats":
            least = info.data.get("min_repeats")
            if least is not None and value < least:
                raise ValueError(f"an integer >= min_repeats ({least})")
        else:
            _at_most_max_seconds(value, info)
        return value

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`hwnas.profiling.protocol.measure_model`."""
        return self.model_dump()


class ProfileProtocolSection(BaseModel):
    """How architectures measured as a predictor's data points are measured (the profile
    fitted when no predictor fits this machine; every architecture calibration measures:
    reference, fresh and re-profiled) and how export screens its untrained candidates:
    ``device.protocol``, with its two durations capped at these. A profile measures a
    hundred or more architectures and a predictor learns from all of them; a quarter of a
    second of calls per architecture gives the same level as a second, and repeats as well,
    on the build VM: 65 architectures measured both ways an hour after their profile,
    median ratios 1.002 and 0.998 to it (1.077 and 1.072 for 65 others); 33 measured twice
    each way, 82 % of the short measurements within ±10 % of their repeat against 79 % of
    the long ones, median ratio between the two 0.98-1.01, in 31 s instead of 83 s. The
    models export trains, and the baselines, keep ``device.protocol``."""

    model_config = ConfigDict(extra="forbid")
    #: Seconds each architecture's measurement may take at most, warm-up included.
    max_seconds: float = Field(default=1.0, gt=0)
    #: Seconds of timed calls before the median may be called stable.
    min_seconds: float = Field(default=0.25, ge=0, validate_default=True)

    _min_seconds = field_validator("min_seconds")(_at_most_max_seconds)


class DeviceSection(BaseModel):
    """The target device: a fitted latency predictor, or how to profile the device."""

    model_config = ConfigDict(extra="forbid")
    predictor: str | None = None
    runtime: str = "onnxruntime-cpu"
    threads: int = Field(default=1, ge=1)
    batch: int = Field(default=1, ge=1)
    profile_archs: int = Field(default=150, ge=10)
    #: During the search, latency ceilings are tightened by this fraction so that predictor
    #: error leaves models within the real ceiling when measured (export checks the real one).
    safety_margin: float = Field(default=0.0, ge=0, lt=1)
    #: A predictor not fitted in this run is first checked on ``calibration_points``
    #: reference architectures measured here (:mod:`hwnas.profiling.calibration`); when it
    #: is off beyond the tolerance below, ``rescale`` corrects it (re-profiling when the
    #: ranks disagree too), ``reprofile`` profiles and refits, ``off`` skips the check.
    calibration: Literal["rescale", "reprofile", "off"] = "rescale"
    calibration_points: int = Field(default=12, ge=3, le=200)
    #: The check passes when at least this share of the points is predicted within 10 % ...
    calibration_min_within_10pct: float = Field(default=0.8, ge=0, le=1)
    #: ... and the median measured / predicted ratio is within this of 1.
    calibration_max_ratio_error: float = Field(default=0.1, gt=0, lt=1)
    #: Below this Spearman correlation ranks disagree: ``rescale`` re-profiles instead.
    calibration_min_spearman: float = Field(default=0.8, ge=-1, le=1)

    @field_validator("calibration", mode="before")
    @classmethod
    def _calibration_words(cls, value: Any) -> Any:
        return _yaml_switch(value, None)

    #: How each latency is measured (every measurement of the run but a profile's).
    protocol: ProtocolSection = Field(default_factory=ProtocolSection)
    #: How a profile's architectures are measured: ``protocol``, its durations capped.
    profile_protocol: ProfileProtocolSection = Field(default_factory=ProfileProtocolSection)


def check_recipe(section: str, value: dict[str, Any], reserved: tuple[str, ...]) -> None:
    """Other fields of a training recipe (:class:`hwnas.train.Recipe`), checked by building
    one; ``reserved`` fields are set by the section's own keys.

    Raises:
        ConfigError: An unknown or reserved field, or a bad value, named
            ``<section>.recipe.<field>``.
    """
    from hwnas.train import Recipe

    defaults = Recipe().to_dict()
    for key in value:
        if key not in defaults or key in reserved:
            allowed = [k for k in defaults if k not in reserved]
            raise ConfigError(f"{section}.recipe", f"fields among {', '.join(allowed)}", key)
    try:
        Recipe(**{**defaults, **value})
    except ConfigError as error:
        raise ConfigError(f"{section}.recipe.{error.field}", error.expected, error.got) from None


#: Recipe fields the supernet and export sections set through keys of their own.
_SUPERNET_KEYS = ("epochs", "lr", "batch_size", "threads", "channels_last")
_EXPORT_KEYS = ("epochs", "threads", "channels_last")


class SupernetSection(BaseModel):
    """How the run trains its supernet (for ``evaluator: {name: supernet}`` without a path)."""

    model_config = ConfigDict(extra="forbid")
    epochs: int = Field(default=20, ge=1)
    num_random: int = Field(default=2, ge=0)
    distill: bool = True
    lr: float = Field(default=0.1, gt=0)
    batch_size: int = Field(default=64, ge=1)
    #: Torch threads while training (None: every usable core). One by default: on a busy
    #: machine two threads ran 2-200x slower than one (benchmarks/results/train_step.json).
    threads: int | None = Field(default=1, ge=1)
    #: channels_last memory format while training (0.4-0.8x the step time of NCHW here).
    channels_last: bool = True
    #: Other recipe fields (optimizer, weight_decay, augment, ...), e.g. AdamW for text.
    recipe: dict[str, Any] = {}


class ExportSection(BaseModel):
    """How ``hwnas run`` exports the Pareto set (``hwnas export`` flags override)."""

    model_config = ConfigDict(extra="forbid")
    top_k: int | None = Field(default=None, ge=1)
    #: Candidates trained beyond top_k; the top_k best once trained are kept (and when
    #: fewer than top_k of them meet the budgets, more of the measured pool are trained).
    spare: int = Field(default=0, ge=0)
    #: With top_k: the space's hand-designed networks that the search evaluated and that
    #: meet the budgets compete too (trained, kept when among the top_k best once trained).
    hand_designed: bool = True
    epochs: int | None = Field(default=None, ge=1)
    variants: list[Variant] = Field(default=["fp32"], min_length=1)
    report_baselines: bool = True
    #: Torch threads and memory format of the final (and baseline) training; as in supernet.
    threads: int | None = Field(default=1, ge=1)
    channels_last: bool = True
    #: Other fields of the final (and baseline) training recipe: optimizer, lr, ...
    recipe: dict[str, Any] = {}


class TerminationSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    evaluations: int = Field(default=100, ge=1)
    seconds: float | None = Field(default=None, gt=0)
    hv_patience: int | None = Field(default=None, ge=1)


class SearchConfig(BaseModel):
    """The whole search configuration."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="search", max_length=100)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    space: SpaceSection = SpaceSection()
    data: DataSection = DataSection()
    device: DeviceSection | None = None
    objectives: list[str] = ["error", "latency_ms"]
    budgets: list[str] = []
    strategy: StrategySection = StrategySection()
    evaluator: EvaluatorSection = EvaluatorSection()
    executor: ExecutorSection = ExecutorSection()
    supernet: SupernetSection = SupernetSection()
    export: ExportSection = ExportSection()
    termination: TerminationSection = TerminationSection()
    batch_size: int = Field(default=10, ge=1)

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, value: list[str]) -> list[str]:
        return list(parse_objectives(value))

    @field_validator("budgets")
    @classmethod
    def _budgets(cls, value: list[str]) -> list[str]:
        budgets = [parse_budget(b) for b in value]
        seen: dict[tuple[str, str, str | None], Budget] = {}
        for budget in budgets:
            # accuracy >= a and error <= 1 - a are one bound in two words.
            key = (budget.metric, budget.op, budget.device)
            if budget.metric == "error":
                key = ("accuracy", ">=" if budget.op == "<=" else "<=", budget.device)
            other = seen.setdefault(key, budget)
            if other is not budget:
                raise ConfigError(
                    "budgets",
                    f"one bound per metric, direction and device ({other} and {budget} "
                    "bound the same)",
                    [str(b) for b in budgets],
                )
        return [str(b) for b in budgets]

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value or not all(ch.isalnum() or ch in "-_." for ch in value):
            raise ValueError("letters, digits, '-', '_' or '.'")
        return value

    def parsed_budgets(self) -> tuple[Budget, ...]:
        """The budgets as :class:`Budget` values."""
        return tuple(parse_budget(b) for b in self.budgets)

    def protocol(self) -> dict[str, Any]:
        """How this run measures latency: ``device.protocol`` as keyword arguments of
        :func:`hwnas.profiling.protocol.measure_model` (none without a device)."""
        return self.device.protocol.kwargs() if self.device is not None else {}

    def profile_protocol(self) -> dict[str, Any]:
        """How this run measures a profile's architectures: :meth:`protocol` with its
        ``min_seconds`` and ``max_seconds`` capped by ``device.profile_protocol`` (none
        without a device)."""
        if self.device is None:
            return {}
        protocol, caps = self.protocol(), self.device.profile_protocol
        return {
            **protocol,
            "min_seconds": min(protocol["min_seconds"], caps.min_seconds),
            "max_seconds": min(protocol["max_seconds"], caps.max_seconds),
        }

    def to_dict(self) -> dict[str, Any]:
        """The validated config as plain data (defaults filled in)."""
        return self.model_dump(mode="json")


def validate_config(data: Any, source: str = "config") -> SearchConfig:
    """Validate plain data; raises :class:`ConfigError` naming the first bad field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, "a mapping of settings", type(data).__name__)
    try:
        config = SearchConfig.model_validate(data)
    except ValidationError as error:
        raise config_error(error, source) from None
    _check_components(config)
    return config


def config_error(error: ValidationError, source: str = "config") -> ConfigError:
    """The first error of a pydantic validation as a :class:`ConfigError` naming the field
    (dotted location; ``source`` when the error is about the whole mapping)."""
    first = error.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or source
    if first["type"] == "extra_forbidden":
        # An unknown key: say which keys its section takes (pydantic's message is "Extra
        # inputs are not permitted", which reads badly after "expected").
        *section, key = first["loc"]
        model: type[BaseModel] | None = SearchConfig
        for part in section:
            inner = model.model_fields.get(str(part)) if model is not None else None
            model = _model_of(inner.annotation) if inner is not None else None
        known = sorted(model.model_fields) if model is not None else []
        expected = f"one of {', '.join(known)}" if known else "a known key"
        return ConfigError(field, f"{expected} (unknown key {key!r})", first.get("input"))
    ctx = first.get("ctx") or {}
    if isinstance(ctx.get("error"), ConfigError):
        # A validator's own ConfigError (a budget, an objective): its words, this field.
        return ConfigError(field, ctx["error"].expected, ctx["error"].got)
    if first["type"] == "string_too_long":
        message = f"at most {ctx.get('max_length')} characters"
    elif first["type"] == "too_short":
        message = f"at least {ctx.get('min_length')} items"
    elif first["type"] == "too_long":
        message = f"at most {ctx.get('max_length')} items"
    else:
        message = first["msg"].removeprefix("Value error, ").removeprefix("Input should be ")
    return ConfigError(field, message, first.get("input"))


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model in a field's annotation (``X``, ``X | None``), if any."""
    import typing

    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """The data of a YAML file; a missing file or bad YAML is a :class:`ConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("config", "an existing YAML file", str(path))
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError("config", f"valid YAML ({error})", str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("config", "a YAML file of UTF-8 text", str(path)) from None
    except OSError as error:
        raise ConfigError("config", f"a readable YAML file ({error.strerror})", str(path)) from None


def load_config(path: str | Path) -> SearchConfig:
    """Read and validate a YAML config file."""
    return validate_config(read_yaml(path), str(path))


def _check_components(config: SearchConfig) -> None:
    """Names resolve through their registries and options match the constructors."""
    from hwnas.evaluators import EVALUATORS
    from hwnas.executors import EXECUTORS
    from hwnas.spaces import SPACES
    from hwnas.strategies import STRATEGIES

    for section, registry, skip in (
        ("space", SPACES, ()),
        ("strategy", STRATEGIES, ()),
        ("evaluator", EVALUATORS, ("space", "dataset")),
        ("executor", EXECUTORS, ("factory",)),
    ):
        part: _Section = getattr(config, section)
        try:
            factory = registry.get(part.name)
        except ConfigError:
            raise ConfigError(
                f"{section}.name", f"one of {', '.join(registry.names())}", part.name
            ) from None
        params = inspect.signature(factory).parameters
        accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        for key in part.options():
            if not accepts_any and (key not in params or key in skip):
                known = [k for k in params if k not in skip and k != "self"]
                raise ConfigError(
                    f"{section}.{key}",
                    f"an option of {section} {part.name!r} ({', '.join(known) or 'none'})",
                    key,
                )
    _build_components(config)
    check_recipe("supernet", config.supernet.recipe, _SUPERNET_KEYS)
    check_recipe("export", config.export.recipe, _EXPORT_KEYS)
    uses_latency = "latency_ms" in config.objectives or any(
        b.metric == "latency_ms" for b in config.parsed_budgets()
    )
    if uses_latency and config.device is None:
        raise ConfigError(
            "device",
            "a device section (a predictor, or a runtime to profile) for "
            "latency_ms objectives and budgets",
        )


def _build_components(config: SearchConfig) -> None:
    """The space, strategy and executor built once (cheap: no data, no worker started)
    and the evaluator's recipe checked, so that their values are checked here, before a
    run folder exists, with errors naming ``<section>.<key>``."""
    from hwnas.executors import create_executor
    from hwnas.spaces import create_space
    from hwnas.strategies import create_strategy

    try:
        create_space(config.space.name, **config.space.options())
    except ConfigError as error:
        raise ConfigError(f"space.{error.field}", error.expected, error.got) from None
    except HwnasError as error:  # the space's own words (an ArchError)
        raise ConfigError(
            "space", f"options that make a {config.space.name} space", str(error)
        ) from None
    create_strategy(config.strategy.name, **config.strategy.options())
    create_executor(config.executor.name, _no_evaluator, **config.executor.options()).close()
    recipe = config.evaluator.options().get("recipe")
    if recipe is not None:
        if not isinstance(recipe, dict):
            raise ConfigError("evaluator.recipe", "a mapping of recipe fields", recipe)
        check_recipe("evaluator", recipe, ())


def check_runnable_here(config: SearchConfig) -> None:
    """Refuse, by field, what this machine cannot run of a validated ``config`` (its
    executor's :meth:`~hwnas.executors.Executor.check_here`): before a search starts or
    resumes, not when a run folder is opened (a run searched on a Ray cluster with GPUs is
    still exported and reported here)."""
    from hwnas.executors import create_executor

    executor = create_executor(config.executor.name, _no_evaluator, **config.executor.options())
    try:
        executor.check_here()
    finally:
        executor.close()


def _no_evaluator() -> Any:
    raise AssertionError("only built to check the executor's options")
