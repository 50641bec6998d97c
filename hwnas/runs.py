"""Runs: a validated config becomes a run folder; a run folder resumes.

``runs/<id>/`` holds ``config.yaml`` (the validated config, defaults filled in),
``run.db`` (the run store: versions, device fingerprint, every candidate) and, when the
search ends, ``pareto.json``. With a latency predictor it also holds ``calibration.json``
(the predictor checked against this machine, :mod:`hwnas.profiling.calibration`) and
``predictor.json`` (the predictor the search uses, corrected where the check failed; a
resumed run, its export and its report use this file, never re-calibrate). A run folder
is created under a temporary name and renamed once its config, store and calibration are
written, so a bad config or a crash during set-up leaves no half-written run. For text
data it also holds ``vocabulary.json`` (the tokens and how to pad, to feed new text to the
run's models).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hwnas.config import SearchConfig, check_runnable_here, load_config, validate_config
from hwnas.data.checks import check_text_data, write_vocabulary
from hwnas.errors import ConfigError, DataError, HwnasError
from hwnas.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from hwnas.profiling.calibration import CALIBRATION_FILE, RUN_PREDICTOR_FILE
from hwnas.search import CheapMetrics, SearchResult, run_search
from hwnas.store import RunStore


@dataclass
class SearchRun:
    """A finished (or stopped) search and where its files are."""

    path: Path
    result: SearchResult
    config: SearchConfig

    @property
    def calibration(self) -> dict[str, Any] | None:
        """The run's ``calibration.json`` (``None`` without a latency predictor)."""
        import json

        path = self.path / CALIBRATION_FILE
        return json.loads(path.read_text()) if path.is_file() else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary."""
        return {"run": str(self.path), **self.result.to_dict(), "calibration": self.calibration}


def versions() -> dict[str, str]:
    """Versions of Python and the libraries a result depends on."""
    import numpy
    import torch

    from hwnas import __version__

    out = {
        "hwnas": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }
    for name in ("onnx", "onnxruntime", "pymoo", "sklearn", "fvcore"):
        try:
            module = __import__(name)
            out[name] = str(getattr(module, "__version__", "unknown"))
        except ImportError:
            continue
    return out


def search_budget(budget: Any, config: SearchConfig) -> Any:
    """The form of ``budget`` the search applies (export and reports check the original).

    A latency ceiling is tightened by ``device.safety_margin`` (a fraction of it), so that
    predictor error leaves the measured model under the real ceiling; an accuracy floor
    (error ceiling) is loosened by ``evaluator.accuracy_slack`` (absolute), because cheap
    estimates understate the accuracy of the trained model.
    """
    margin = config.device.safety_margin if config.device is not None else 0.0
    slack = config.evaluator.accuracy_slack
    if budget.metric == "latency_ms" and budget.op == "<=" and margin:
        return dataclasses.replace(budget, bound=budget.bound * (1 - margin))
    if budget.metric in ("accuracy", "error") and slack:
        sign = -1.0 if budget.op == ">=" else 1.0
        return dataclasses.replace(budget, bound=budget.bound + sign * slack)
    return budget


class _Components:
    """Everything a search needs, built from a validated config.

    ``calibrate`` (for a new run) gets the loaded predictor and returns the one to use,
    before anything is predicted with it.
    """

    def __init__(
        self,
        config: SearchConfig,
        run_dir: Path,
        calibrate: Callable[[_Components], Any] | None = None,
        dataset: Any = None,
    ) -> None:
        from hwnas.spaces import create_space

        self.config = config
        self.space = create_space(config.space.name, **config.space.options())
        self.dataset = config.data.load() if dataset is None else dataset
        check_text_data(config, self.dataset)
        self.run_dir = run_dir
        self.budgets = config.parsed_budgets()
        self.predictor = self._predictor()
        if calibrate is not None and self.predictor is not None:
            self.predictor = calibrate(self)
        self.cheap = CheapMetrics(
            self.space, self.dataset.input_shape, self.dataset.num_classes, self.predictor
        )
        #: The budgets the search applies: latency ceilings tightened by the device's safety
        #: margin, accuracy floors loosened by the evaluator's accuracy slack.
        self.search_budgets = tuple(search_budget(b, config) for b in self.budgets)
        self.objectives = tuple(config.objectives)
        self._check_feasible()

    def _predictor(self) -> Any:
        device = self.config.device
        if device is None:
            return None
        if device.predictor is None:
            raise ConfigError(
                "device.predictor",
                "the path of a fitted latency predictor (make one with 'hwnas profile' and "
                "'hwnas fit', or use one shipped in predictors/)",
            )
        from hwnas.predictors import load_predictor

        # A run keeps the predictor it started with (corrected by its calibration).
        own = self.run_dir / RUN_PREDICTOR_FILE
        predictor = load_predictor(own if own.is_file() else device.predictor)
        if predictor.space_ != self.space.name:
            raise ConfigError(
                "device.predictor",
                f"a predictor for space {self.space.name!r}",
                f"{device.predictor} (space {predictor.space_!r})",
            )
        shape = tuple(predictor.input_shape_)
        if shape != tuple(self.dataset.input_shape):
            raise ConfigError(
                "device.predictor",
                f"a predictor profiled at the data's input shape {self.dataset.input_shape}",
                f"{device.predictor} (input shape {shape})",
            )
        if int(predictor.num_classes_) != self.dataset.num_classes:
            raise ConfigError(
                "device.predictor",
                f"a predictor profiled with {self.dataset.num_classes} classes",
                f"{device.predictor} ({predictor.num_classes_} classes)",
            )
        return predictor

    def _check_feasible(self) -> None:
        """Cheap budgets that no architecture of a sample meets as the search applies them
        (latency ceilings less the safety margin) are caught before searching: the search
        would skip every candidate it asks, for good. The sample is the structurally
        smallest architecture and 255 random ones: the smallest is not always the fastest
        (NB201's all-``none`` cell predicted 0.77 ms where a pooling cell predicted 0.56)."""
        import numpy as np

        rng = np.random.default_rng(0)
        archs = [self.space.smallest(), *(self.space.sample(rng) for _ in range(255))]
        rows = self.cheap(archs)
        for budget, searched in zip(self.budgets, self.search_budgets, strict=True):
            if not budget.cheap:
                continue
            values = [row[budget.metric] for row in rows]
            if any(searched.met(v) for v in values):
                continue
            best = min(values) if budget.op == "<=" else max(values)
            margin = (
                f" ({searched} as searched, with device.safety_margin)"
                if str(searched) != str(budget)
                else ""
            )
            raise ConfigError(
                "budgets",
                f"a budget some architecture can meet{margin}: the best of the smallest "
                f"architecture and {len(archs) - 1} random ones has {budget.metric} = "
                f"{best:.6g}",
                str(budget),
            )

    def prepare_evaluator(self, progress: bool = False) -> None:
        """Train the run's supernet when the evaluator needs one and none was given.

        Training checkpoints every epoch into ``<run>/supernet``; a resumed run resumes it.
        """
        section = self.config.evaluator
        if section.name != "supernet" or "supernet" in section.options():
            return
        folder = self.run_dir / "supernet"
        if not (folder / "weights.pt").is_file():
            from hwnas.nn.supernet import build_supernet, train_supernet
            from hwnas.train import Recipe

            settings = self.config.supernet
            supernet = build_supernet(
                self.space,
                self.dataset.input_shape,
                self.dataset.num_classes,
                seed=self.config.seed,
            )
            train_supernet(
                supernet,
                self.dataset,
                Recipe(
                    **settings.recipe,
                    epochs=settings.epochs,
                    lr=settings.lr,
                    batch_size=settings.batch_size,
                    threads=settings.threads,
                    channels_last=settings.channels_last,
                ),
                seed=self.config.seed,
                num_random=settings.num_random,
                distill=settings.distill,
                out_dir=folder,
                progress=progress,
            )
        self._supernet_dir = folder

    def evaluator_factory(self) -> Any:
        from hwnas.evaluators import EVALUATORS

        section = self.config.evaluator
        factory = EVALUATORS.get(section.name)
        options = section.options()
        if section.name == "supernet" and "supernet" not in options:
            if getattr(self, "_supernet_dir", None) is None:
                raise HwnasError("the run's supernet is not trained (prepare_evaluator first)")
            options["supernet"] = str(self._supernet_dir)
        params = inspect.signature(factory).parameters
        if "space" in params:
            options["space"] = self.space
        if "dataset" in params:
            options["dataset"] = self.dataset
        if "seed" in params and "seed" not in options:
            options["seed"] = self.config.seed
        return functools.partial(factory, **options)

    def executor(self) -> Any:
        from hwnas.executors import create_executor

        section = self.config.executor
        return create_executor(section.name, self.evaluator_factory(), **section.options())

    def strategy(self) -> Any:
        from hwnas.strategies import create_strategy

        section = self.config.strategy
        return create_strategy(section.name, **section.options())


@dataclass
class OpenRun:
    """An existing run folder, validated, with its components rebuilt."""

    path: Path
    config: SearchConfig
    components: _Components

    def store(self) -> RunStore:
        """The run store (use as a context manager)."""
        return RunStore(self.path / "run.db")


def check_run_folder(run_dir: str | Path) -> Path:
    """``run_dir`` as a path, if it looks like a run folder (nothing is loaded).

    Raises:
        HwnasError: It does not exist, is a file, or lacks config.yaml or run.db.
    """
    run_dir = Path(run_dir)
    if run_dir.is_file():
        raise HwnasError(f"{run_dir}: not a run folder (a file; expected runs/<id>)")
    if not run_dir.is_dir():
        raise HwnasError(f"{run_dir}: no such run folder")
    if not (run_dir / "run.db").is_file() or not (run_dir / "config.yaml").is_file():
        raise HwnasError(f"{run_dir}: not a run folder (config.yaml and run.db expected)")
    return run_dir


def open_run(run_dir: str | Path, *, need_data: bool = True) -> OpenRun:
    """Open and check a run folder (config.yaml and run.db that agree).

    With ``need_data`` false (reading the run: a report), data that is no longer where the
    run found it is not an error: the run's recorded summary of it
    (:class:`StoredData`) stands in, with a warning.
    """
    run_dir = check_run_folder(run_dir)
    config = load_config(run_dir / "config.yaml")
    with RunStore(run_dir / "run.db") as store:
        # Compared after validation, so that a run started before a new config key (with
        # its default) was added still opens.
        started = validate_config(store.get_meta("config"), "run.db")
        if started.to_dict() != config.to_dict():
            raise HwnasError(f"{run_dir}: config.yaml differs from the one the run started with")
        stored = store.get_meta("dataset")
    try:
        components = _Components(config, run_dir)
    except DataError as error:
        if need_data or not isinstance(stored, dict):
            raise DataError(
                f"{error}; {run_dir} reads its data where its search found it (put the data "
                "back there, or link it; hwnas report reads the run without it)"
            ) from None
        import warnings

        warnings.warn(
            f"{error}: reading the run with what it recorded of its data (training, "
            "export and baselines need the data itself)",
            stacklevel=2,
        )
        from hwnas.data.dataset import StoredData

        data = StoredData.from_summary(stored)
        return OpenRun(run_dir, config, _Components(config, run_dir, dataset=data))
    was = stored.get("fingerprint") if isinstance(stored, dict) else None
    now = getattr(components.dataset, "fingerprint", None)
    if was and now and was != now:
        import warnings

        warnings.warn(
            f"{run_dir}: its data changed since the search (fingerprint {now}, the search's "
            f"{was}): figures read now (split sizes, training, evaluation) are of the data "
            "as it is, not as the search saw it",
            stacklevel=2,
        )
    return OpenRun(run_dir, config, components)


def new_run_folder(runs_dir: str | Path, run_id: str) -> Path:
    """The path of a new run folder ``runs_dir/run_id`` (not created).

    Raises:
        ConfigError: ``run_id`` is not a plain folder name.
        HwnasError: The folder exists already.
    """
    if (
        not isinstance(run_id, str)
        or not run_id
        or "/" in run_id
        or "\\" in run_id
        or run_id.startswith(".")
        or len(run_id) > 200
    ):
        raise ConfigError(
            "run_id",
            "a plain folder name (no '/' or '\\', not starting with '.') of at most 200 characters",
            run_id,
        )
    final = Path(runs_dir) / run_id
    if final.exists():
        raise HwnasError(f"run folder {final} exists already (resume it with --resume {final})")
    return final


def _new_run_id(config: SearchConfig) -> str:
    return f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def search(
    config: SearchConfig | dict[str, Any] | str | Path,
    *,
    runs_dir: str | Path = "runs",
    run_id: str | None = None,
    progress: bool = False,
    fitted_here: bool = False,
    log: Callable[[str], None] | None = None,
    on_created: Callable[[Path], None] | None = None,
) -> SearchRun:
    """Create a run folder for ``config``, check its latency predictor, and search.

    The predictor is checked against this machine and corrected per ``device.calibration``
    (:func:`hwnas.profiling.calibration.calibrate`) before the run folder appears: the
    folder always holds the result and the predictor the search uses.

    Args:
        config: A validated config, plain data, or the path of a YAML file.
        runs_dir: Where run folders go.
        run_id: The run folder's name (default: ``<name>-<date>-<time>``).
        progress: Show progress on stderr.
        fitted_here: The predictor was fitted in this process on a fresh profile of this
            machine: nothing to check.
        log: Called with the calibration's lines.
        on_created: Called with the run folder once it exists (before the search starts).
    """
    if isinstance(config, str | Path):
        config = load_config(config)
    elif isinstance(config, dict):
        config = validate_config(config)
    check_runnable_here(config)
    final = new_run_folder(runs_dir, run_id or _new_run_id(config))
    run_id = final.name
    from hwnas.data.load import absolute_spec

    # The run folder's config reads the same data from any working directory.
    data = config.data.model_copy(update={"name": absolute_spec(config.data.name)})
    config = config.model_copy(update={"data": data})
    partial = Path(runs_dir) / f".{run_id}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    try:
        components = _Components(
            config,
            final,
            functools.partial(
                _calibrate,
                partial=partial,
                final=final,
                fitted_here=fitted_here,
                log=log or (lambda line: None),
                progress=progress,
            ),
        )
        atomic_write_text(
            partial / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False)
        )
        with RunStore(partial / "run.db") as store:
            store.set_meta("config", config.to_dict())
            store.set_meta("versions", versions())
            store.set_meta("created", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            store.set_meta("seed", config.seed)
            store.set_meta("batch_size", config.batch_size)
            store.set_meta("dataset", components.dataset.summary())
            store.set_meta("space_fingerprint", components.space.fingerprint())
            if components.predictor is not None:
                store.set_meta("device_fingerprint", components.predictor.fingerprint_)
                store.set_meta("device_id", components.predictor.device_id_)
        write_vocabulary(partial, components.dataset)
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if on_created is not None:
        on_created(final)
    return _run(components, final, progress)


def _calibrate(
    components: _Components,
    *,
    partial: Path,
    final: Path,
    fitted_here: bool,
    log: Callable[[str], None],
    progress: bool,
) -> Any:
    """Check the run's predictor; write ``predictor.json`` (the one to use) and
    ``calibration.json`` into the new run folder; return the predictor to use."""
    from hwnas.profiling.calibration import Tolerance, calibrate
    from hwnas.profiling.runtimes import runtime_with_threads

    device, predictor = components.config.device, components.predictor
    assert device is not None and device.predictor is not None
    # Only the range a latency ceiling decides on matters: up to twice the tightest one.
    ceilings = [b.bound for b in components.budgets if b.metric == "latency_ms" and b.op == "<="]
    result = calibrate(
        predictor,
        runtime_with_threads(device.runtime, device.threads, check=False),
        components.space,
        policy="off" if fitted_here else device.calibration,
        points=device.calibration_points,
        tolerance=Tolerance(
            device.calibration_min_within_10pct,
            device.calibration_max_ratio_error,
            device.calibration_min_spearman,
        ),
        profile_archs=device.profile_archs,
        seed=components.config.seed,
        batch=device.batch,
        # Every architecture calibration measures is a predictor's data point (reference,
        # fresh or re-profiled): the profile protocol, as for the predictor's own profile.
        protocol=components.config.profile_protocol(),
        profile_protocol=components.config.profile_protocol(),
        workdir=partial / "calibration",
        max_ms=2 * min(ceilings) if ceilings else None,
        predictor_path=device.predictor,
        progress=progress,
        log=log,
    )
    if fitted_here:
        result.reason = "fitted in this run on a fresh profile of this machine: nothing to check"
    if result.corrected is not None:
        result.corrected.save(partial / RUN_PREDICTOR_FILE)
    else:  # an exact copy: a resumed run keeps it even if the original file changes
        atomic_write_bytes(partial / RUN_PREDICTOR_FILE, Path(device.predictor).read_bytes())
    result.used = str(final / RUN_PREDICTOR_FILE)
    if result.profile is not None:
        result.profile = str(final / Path(result.profile).relative_to(partial))
    atomic_write_json(partial / CALIBRATION_FILE, result.to_dict())
    for line in result.lines():
        log(line)
    return result.corrected or predictor


def resume(run_dir: str | Path, *, progress: bool = False) -> SearchRun:
    """Continue the search of an existing run folder from its store."""
    run = open_run(run_dir)
    check_runnable_here(run.config)
    return _run(run.components, run.path, progress)


def _run(components: _Components, run_dir: Path, progress: bool) -> SearchRun:
    config = components.config
    termination = config.termination
    components.prepare_evaluator(progress)
    executor = components.executor()
    # What strategies that train (differentiable) read: the loaded dataset and, with the
    # supernet evaluator, the trained supernet's folder (a path: loading is left to them).
    context: dict[str, Any] = {"dataset": components.dataset}
    if config.evaluator.name == "supernet":
        given = config.evaluator.options().get("supernet")
        context["supernet"] = given if given is not None else components._supernet_dir
    try:
        with RunStore(run_dir / "run.db") as store:
            result = run_search(
                space=components.space,
                strategy=components.strategy(),
                executor=executor,
                cheap=components.cheap,
                objectives=components.objectives,
                budgets=components.search_budgets,
                store=store,
                seed=config.seed,
                batch_size=config.batch_size,
                max_evaluations=termination.evaluations,
                max_seconds=termination.seconds,
                hv_patience=termination.hv_patience,
                progress=progress,
                context=context,
            )
    except BaseException:
        # Interrupted or failed: evaluations in flight are lost either way (a resume runs
        # them again), so the workers are stopped now rather than waited for.
        executor.abort()
        raise
    executor.close()
    atomic_write_json(
        run_dir / "pareto.json",
        {
            "objectives": list(components.objectives),
            "budgets": [str(b) for b in components.budgets],
            **result.to_dict(),
        },
    )
    with RunStore(run_dir / "run.db") as store:
        failed, done = store.candidates("failed"), store.count("done")
    if failed and not done:
        # Nothing to go on (a seed numpy refused, a broken data set, a bug): an error, not
        # an empty front that reads like a search that found nothing.
        raise HwnasError(
            f"{run_dir}: every evaluation failed ({len(failed)}); the first: "
            f"{failed[0].info.get('error', 'no error recorded')}"
        )
    return SearchRun(run_dir, result, config)
