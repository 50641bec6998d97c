"""What every predictor shares: the fitted metadata, the space and device checks, and the
predictor file format.

A predictor file is one JSON object, written atomically::

    {"format": "hwnas-predictor", "format_version": 1, "kind": "latency" | "transfer",
     "hwnas_version": "0.1.0", "created": "2026-11-27T17:00:00Z",
     "space": {"name": "nb201", "config": {...}, "fingerprint": "..."},
     "device": {"id": "...", "fingerprint": {...}, "runtime": "...", "batch": 1},
     "input_shape": [3, 32, 32], "num_classes": 10, "n_train": 800,
     "metrics": {... held-out metrics ...},
     ... kind-specific fields (model, features, sources, weights) ...}

Its default place is ``predictors/<device-id>/<space>.json``
(:func:`default_predictor_path`).
"""

from __future__ import annotations

import abc
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from hwnas.errors import ConfigError, HwnasError
from hwnas.profiling.store import ProfileRecord, classes_stem
from hwnas.registry import Registry
from hwnas.spaces.base import Arch, SearchSpace

PREDICTOR_FORMAT = "hwnas-predictor"
PREDICTOR_FORMAT_VERSION = 1
#: Predictor files larger than this are refused before parsing.
MAX_PREDICTOR_BYTES = 256 * 1024 * 1024


def default_predictor_path(
    device_id: str, space: str, root: str | os.PathLike[str] = "predictors"
) -> Path:
    """``root/<device_id>/<space>.json``."""
    return Path(root) / device_id / f"{space}.json"


def predictor_classes(path: str | os.PathLike[str]) -> int | None:
    """The ``num_classes`` of the predictor file at ``path`` (``None``: no such file, or
    one that does not say)."""
    try:
        value = json.loads(Path(path).read_text()).get("num_classes")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


@dataclass(frozen=True)
class ProfileInfo:
    """What all records of one profile share."""

    space: SearchSpace
    fingerprint: dict[str, Any]
    device_id: str
    input_shape: tuple[int, int, int]
    num_classes: int
    batch: int
    runtime: str


def check_profile_records(
    records: Sequence[ProfileRecord], space: SearchSpace | None = None, what: str = "records"
) -> ProfileInfo:
    """Check that ``records`` come from one profile and return what they share.

    Args:
        records: Profile records (see :mod:`hwnas.profiling.store`).
        space: The search space they were measured in; by default the space registered
            under their name with its default configuration.
        what: How to name the records in messages.

    Raises:
        HwnasError: No records, a non-record, or records that disagree on space, space
            fingerprint, device fingerprint, input shape, batch or number of classes; or a
            space whose fingerprint differs from the one recorded.
    """
    from hwnas.profiling.fingerprint import check_compatible
    from hwnas.spaces import create_space

    if isinstance(records, ProfileRecord) or not isinstance(records, Sequence):
        raise HwnasError(f"{what}: expected a list of ProfileRecord, got {type(records).__name__}")
    if not records:
        raise HwnasError(f"{what}: expected at least one profile record, got none")
    first = records[0]
    for i, record in enumerate(records):
        if not isinstance(record, ProfileRecord):
            raise HwnasError(f"{what}[{i}]: expected a ProfileRecord, got {type(record).__name__}")
        for field in ("space", "space_fingerprint", "input_shape", "batch", "num_classes"):
            mine, theirs = getattr(record, field), getattr(first, field)
            if mine != theirs and not (field == "space_fingerprint" and None in (mine, theirs)):
                raise HwnasError(
                    f"{what}[{i}].{field}: expected {theirs!r} as in {what}[0] (one profile), "
                    f"got {mine!r}"
                )
        if i:
            check_compatible(first.fingerprint, record.fingerprint, f"{what}[{i}]")
    recorded = next((r.space_fingerprint for r in records if r.space_fingerprint), None)
    if space is None:
        space = create_space(first.space)
        if recorded is not None and space.fingerprint() != recorded:
            raise HwnasError(
                f"{what}: measured in a configuration of space {first.space!r} with fingerprint "
                f"{recorded}, but the default configuration has {space.fingerprint()}; pass "
                "the space it was measured in"
            )
    else:
        space.check_recorded(first.space, what)
        if recorded is not None and space.fingerprint() != recorded:
            raise HwnasError(
                f"space: expected the configuration of {what} (fingerprint {recorded}), "
                f"got fingerprint {space.fingerprint()}"
            )
    shape = first.input_shape
    return ProfileInfo(
        space=space,
        fingerprint=dict(first.fingerprint),
        device_id=first.device_id,
        input_shape=tuple(int(v) for v in shape),  # type: ignore[arg-type]
        num_classes=int(first.num_classes),
        batch=int(first.batch),
        runtime=first.runtime,
    )


def _json_safe(value: Any) -> Any:
    """``value`` with non-finite floats replaced by ``None`` (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def _require(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise HwnasError(f"{where}.{key}: expected a {names}, got {value!r}")
    return value


def read_predictor_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON object of a predictor file, with its format checked.

    Raises:
        HwnasError: Missing file, too large, not valid JSON, or not a predictor file of a
            format version this hwnas reads.
    """
    path = Path(path)
    if path.is_dir():
        raise HwnasError(
            f"predictor {path}: a folder, not a predictor file (e.g. predictors/<device-id>/"
            "<space>.json, or a run's runs/<id>/predictor.json)"
        )
    if not path.is_file():
        raise HwnasError(f"predictor {path}: no such file")
    if path.stat().st_size > MAX_PREDICTOR_BYTES:
        raise HwnasError(f"predictor {path}: larger than {MAX_PREDICTOR_BYTES} bytes")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise HwnasError(f"predictor {path}: not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise HwnasError(
            f"predictor {path}: not valid JSON ({error.msg} at line {error.lineno})"
        ) from None
    where = f"predictor {path}"
    if not isinstance(data, dict):
        raise HwnasError(f"{where}: expected a JSON object")
    if data.get("format") != PREDICTOR_FORMAT:
        raise HwnasError(
            f"{where}: format: expected {PREDICTOR_FORMAT!r}, got {data.get('format')!r}"
        )
    if data.get("format_version") != PREDICTOR_FORMAT_VERSION:
        raise HwnasError(
            f"{where}: format_version: expected {PREDICTOR_FORMAT_VERSION}, "
            f"got {data.get('format_version')!r}"
        )
    return data


class BasePredictor(abc.ABC):
    """Shared behaviour of fitted latency predictors (scikit-learn style).

    Fitted attributes (set by ``fit`` or ``load``): ``space_`` (name), ``space_config_``,
    ``space_fingerprint_``, ``fingerprint_`` (device), ``device_id_``, ``input_shape_``,
    ``num_classes_``, ``batch_``, ``runtime_``, ``n_train_``, ``metrics_`` (held-out
    metrics, where known), ``created_``.
    """

    kind: ClassVar[str]

    space_: str
    space_config_: dict[str, Any]
    space_fingerprint_: str
    fingerprint_: dict[str, Any]
    device_id_: str
    input_shape_: tuple[int, int, int]
    num_classes_: int
    batch_: int
    runtime_: str
    n_train_: int
    metrics_: dict[str, Any]
    created_: str

    # -- fitted state ------------------------------------------------------------------
    def _is_fitted(self) -> bool:
        return hasattr(self, "n_train_")

    def _check_fitted(self) -> None:
        if not self._is_fitted():
            name = type(self).__name__
            raise HwnasError(
                f"this {name} is not fitted yet: call fit(...) or {name}.load(path) first"
            )

    def _set_profile_info(self, info: ProfileInfo, n_train: int) -> None:
        self.space_ = info.space.name
        self.space_config_ = info.space.config()
        self.space_fingerprint_ = info.space.fingerprint()
        self.fingerprint_ = dict(info.fingerprint)
        self.device_id_ = info.device_id
        self.input_shape_ = info.input_shape
        self.num_classes_ = info.num_classes
        self.batch_ = info.batch
        self.runtime_ = info.runtime
        self.n_train_ = int(n_train)
        self.metrics_ = {}
        self.created_ = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._space_obj: SearchSpace | None = info.space

    def space(self) -> SearchSpace:
        """The search space the predictor was fitted in (rebuilt from its configuration)."""
        self._check_fitted()
        space = getattr(self, "_space_obj", None)
        if space is None:
            from hwnas.spaces import create_space

            space = create_space(self.space_, **self.space_config_)
            if space.fingerprint() != self.space_fingerprint_:
                raise HwnasError(
                    f"space_fingerprint: expected {self.space_fingerprint_} (the space the "
                    f"predictor was fitted in), but space {self.space_!r} with its stored "
                    f"configuration now has {space.fingerprint()}: the space definition "
                    "changed; refit the predictor"
                )
            self._space_obj = space
        return space

    # -- checks --------------------------------------------------------------------------
    def check_space(self, space: SearchSpace) -> None:
        """Raise :class:`HwnasError` unless ``space`` is the space the predictor was fitted in."""
        self._check_fitted()
        space.check_recorded(self.space_, "this predictor")
        if space.fingerprint() != self.space_fingerprint_:
            raise HwnasError(
                f"space: this predictor is for space {self.space_!r} with fingerprint "
                f"{self.space_fingerprint_} (config {self.space_config_}), got fingerprint "
                f"{space.fingerprint()} (config {space.config()})"
            )

    def check_device(self, fingerprint: Mapping[str, Any] | ProfileRecord) -> None:
        """Raise :class:`HwnasError` unless ``fingerprint`` is of the predictor's device.

        Args:
            fingerprint: A device fingerprint (see :mod:`hwnas.profiling.fingerprint`) or a
                profile record carrying one.
        """
        from hwnas.profiling.fingerprint import check_compatible

        self._check_fitted()
        if isinstance(fingerprint, ProfileRecord):
            fingerprint = fingerprint.fingerprint
        if not isinstance(fingerprint, Mapping):
            raise HwnasError(
                f"fingerprint: expected a device fingerprint dict, got {type(fingerprint).__name__}"
            )
        check_compatible(
            self.fingerprint_, dict(fingerprint), f"predictor of device {self.device_id_}"
        )

    def check_profile(self, records: Sequence[ProfileRecord] | str | os.PathLike[str]) -> None:
        """Raise :class:`HwnasError` unless a profile (records or path) matches the predictor:
        same space and configuration, same device fingerprint, input shape and classes."""
        from hwnas.profiling.store import read_profile

        self._check_fitted()
        if isinstance(records, str | os.PathLike):
            records = read_profile(records)
        info = check_profile_records(records, self.space(), what="profile")
        self.check_device(info.fingerprint)
        if info.input_shape != self.input_shape_ or info.num_classes != self.num_classes_:
            raise HwnasError(
                f"profile: expected input shape {self.input_shape_} and {self.num_classes_} "
                f"classes, got {info.input_shape} and {info.num_classes}"
            )

    # -- prediction ----------------------------------------------------------------------
    def parse_archs(self, archs: Sequence[Arch | str] | Arch | str) -> list[Arch]:
        """Architectures of the predictor's space from values or strings (each checked)."""
        from hwnas.predictors.features import as_archs

        return as_archs(self.space(), archs)

    def predict(self, archs: Sequence[Arch | str] | Arch | str) -> np.ndarray:
        """Predicted latencies in milliseconds, one per architecture.

        Args:
            archs: Architectures of the predictor's space, as values or strings.

        Raises:
            HwnasError: Not fitted, or an architecture of another space or that does not
                parse.
        """
        self._check_fitted()
        return self._predict_archs(self.parse_archs(archs), {})

    @abc.abstractmethod
    def _predict_archs(self, archs: list[Arch], cache: dict[Any, np.ndarray]) -> np.ndarray:
        """Predictions for parsed architectures; ``cache`` shares feature matrices."""

    # -- persistence ---------------------------------------------------------------------
    def _header(self) -> dict[str, Any]:
        from hwnas import __version__

        return {
            "format": PREDICTOR_FORMAT,
            "format_version": PREDICTOR_FORMAT_VERSION,
            "kind": self.kind,
            "hwnas_version": __version__,
            "created": self.created_,
            "space": {
                "name": self.space_,
                "config": self.space_config_,
                "fingerprint": self.space_fingerprint_,
            },
            "device": {
                "id": self.device_id_,
                "fingerprint": self.fingerprint_,
                "runtime": self.runtime_,
                "batch": self.batch_,
            },
            "input_shape": list(self.input_shape_),
            "num_classes": self.num_classes_,
            "n_train": self.n_train_,
            "metrics": _json_safe(self.metrics_),
        }

    def _read_header(self, data: Mapping[str, Any], where: str) -> None:
        if data.get("kind") != self.kind:
            raise HwnasError(
                f"{where}: kind: expected {self.kind!r}, got {data.get('kind')!r}"
                + (" (load it with load_predictor)" if data.get("kind") else "")
            )
        space = _require(data, "space", dict, where)
        device = _require(data, "device", dict, where)
        self.space_ = _require(space, "name", str, f"{where}.space")
        self.space_config_ = _require(space, "config", dict, f"{where}.space")
        self.space_fingerprint_ = _require(space, "fingerprint", str, f"{where}.space")
        self.device_id_ = _require(device, "id", str, f"{where}.device")
        self.fingerprint_ = _require(device, "fingerprint", dict, f"{where}.device")
        self.runtime_ = _require(device, "runtime", str, f"{where}.device")
        self.batch_ = _require(device, "batch", int, f"{where}.device")
        shape = _require(data, "input_shape", list, where)
        if len(shape) not in (1, 3) or not all(isinstance(v, int) and v > 0 for v in shape):
            raise HwnasError(
                f"{where}.input_shape: expected 3 positive integers C,H,W (or one, L, for "
                f"token sequences), got {shape!r}"
            )
        self.input_shape_ = tuple(shape)  # type: ignore[assignment]
        self.num_classes_ = _require(data, "num_classes", int, where)
        self.n_train_ = _require(data, "n_train", int, where)
        metrics = data.get("metrics", {})
        self.metrics_ = metrics if isinstance(metrics, dict) else {}
        created = data.get("created")
        self.created_ = created if isinstance(created, str) else ""
        self._space_obj = None
        self.space()  # rebuild now: a changed space definition fails at load time

    @abc.abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The predictor as the JSON object of its file."""

    @classmethod
    @abc.abstractmethod
    def from_json(cls, data: dict[str, Any], where: str = "predictor") -> BasePredictor:
        """Rebuild a fitted predictor from :meth:`to_json`'s object, validating it."""

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the predictor to one JSON file, atomically.

        Args:
            path: Where to write; default ``predictors/<device-id>/<space>.json``.

        Returns:
            The path written.
        """
        from hwnas.io import atomic_write_text

        self._check_fitted()
        stem = self.space().file_stem
        target = default_predictor_path(self.device_id_, stem) if path is None else path
        if path is None and predictor_classes(target) not in (None, int(self.num_classes_)):
            # The device's predictor there is for models with another number of classes.
            target = default_predictor_path(
                self.device_id_, classes_stem(stem, int(self.num_classes_))
            )
        text = json.dumps(self.to_json(), indent=1, allow_nan=False) + "\n"
        return atomic_write_text(target, text)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    @abc.abstractmethod
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments."""


#: Predictor file ``kind`` -> the ``from_json(data, where)`` of its class. The predictor
#: classes register themselves (:func:`register_predictor`), so this module, which they
#: build on, never imports them.
PREDICTOR_KINDS: Registry[BasePredictor] = Registry("predictor kind")

_PredictorClass = TypeVar("_PredictorClass", bound=type[BasePredictor])


def register_predictor(cls: _PredictorClass) -> _PredictorClass:
    """Class decorator: files of kind ``cls.kind`` load with ``cls.from_json``."""
    PREDICTOR_KINDS.register(cls.kind)(cls.from_json)
    return cls


def load_predictor(path: str | os.PathLike[str]) -> BasePredictor:
    """Load a predictor file of any registered kind (``latency`` or ``transfer``).

    Raises:
        HwnasError: What :func:`read_predictor_file` and the kind's ``from_json`` raise, or a
            ``kind`` that is not registered (the message lists the known ones).
    """
    data = read_predictor_file(path)
    kind = data.get("kind")
    where = f"predictor {path}"
    if not isinstance(kind, str) or kind not in PREDICTOR_KINDS:
        raise ConfigError(f"{where}: kind", f"one of {', '.join(PREDICTOR_KINDS.names())}", kind)
    return PREDICTOR_KINDS.get(kind)(data, where)
