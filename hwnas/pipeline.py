"""``hwnas run``: profile (if needed), fit, check the predictor, search, export and report,
end to end."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwnas.config import SearchConfig, check_runnable_here, load_config, validate_config


@dataclass
class PipelineResult:
    """Where ``hwnas run`` put everything.

    Attributes:
        report: ``index.html``, or ``None`` when the report could not be written.
        baselines: ``export/baselines.json``, or ``None`` when the baselines were not run.
        failures: Every part that failed (``source``: ``run``, ``export``, ``baselines``
            or ``report``; ``part``; ``error``); the rest of the job went on.
        calibration: The run's ``calibration.json`` (the predictor checked against this
            machine), or ``None`` without a latency predictor.
        predictor_used: The run's own ``predictor.json``: the predictor the search used
            (``predictor`` as calibration left it), or ``None`` without one.
    """

    profile: str | None
    predictor: str | None
    predictor_metrics: dict[str, Any] | None
    run: str
    manifest: dict[str, Any]
    report: str | None
    baselines: str | None = None
    failures: list[dict[str, str]] = field(default_factory=list)
    calibration: dict[str, Any] | None = None
    predictor_used: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary."""
        models = self.manifest["models"]
        return {
            "profile": self.profile,
            "predictor": self.predictor,
            "predictor_used": self.predictor_used,
            "predictor_held_out": (self.predictor_metrics or {}).get("held_out"),
            "run": self.run,
            "manifest": str(Path(self.run) / "export" / "manifest.json"),
            "report": self.report,
            "baselines": self.baselines,
            "exported": len(models),
            "feasible": sum(1 for m in models if m["feasible"]),
            "search_front": sum(1 for m in models if m.get("search_rank", 0) == 0),
            "pareto": sum(1 for m in models if m.get("pareto")),
            "failures": self.failures,
            "calibration": self.calibration,
        }


def ensure_predictor(
    config: SearchConfig,
    *,
    profiles_dir: str | Path = "profiles",
    predictors_dir: str | Path = "predictors",
    progress: bool = False,
    log: Any = None,
) -> tuple[str, str | None, dict[str, Any] | None]:
    """A latency predictor for the config's device, profiling and fitting if needed.

    A predictor already at ``predictors/<device-id>/<space>.json`` for this machine,
    runtime, input shape and space is reused; otherwise ``device.profile_archs``
    architectures are profiled (resuming any earlier profile) and a predictor is fitted.
    When the files there are of models with another number of classes, this one's are
    ``<space>-<N>classes.json`` (and ``.jsonl``): neither is touched. A file there that
    cannot be used (unreadable, of a newer hwnas, of other space options) is never
    written over: once a new one is fitted it is moved to ``<name>.replaced-<time>.json``,
    and ``log`` says so.

    Returns:
        ``(predictor path, profile path or None, held-out metrics or None)``; the metrics
        say under ``profile`` how many architectures were measured now (``measured``) and
        how many the profile held already (``skipped``).
    """
    from hwnas.predictors import fit_profile
    from hwnas.profiling.profiler import profile_space

    found = _lookup(config, profiles_dir, predictors_dir)
    if found.why is None:
        return str(found.path), None, None
    if found.path.is_file():
        (log or _warn)(f"{found.path}: {found.why}; profiling and fitting a new one")
    device, path, dataset = config.device, found.path, found.dataset
    assert device is not None
    run = profile_space(
        found.space,
        found.runtime,
        n=device.profile_archs,
        input_shape=dataset.input_shape,
        num_classes=dataset.num_classes,
        batch=device.batch,
        seed=config.seed,
        root=profiles_dir,
        progress=progress,
        protocol=config.profile_protocol(),
        stem=found.stem,
    )
    predictor, metrics = fit_profile(run.path, seed=config.seed, space=found.space)
    if path.is_file():
        # Moved aside only now that a new one is fitted: a profile that fails leaves the
        # old file where it was.
        aside = path.with_name(f"{path.stem}.replaced-{time.strftime('%Y%m%d-%H%M%S')}.json")
        path.rename(aside)
        (log or _warn)(f"{path}: the one that could not be used moved to {aside}")
    saved = predictor.save(path)
    return str(saved), str(run.path), {**metrics, "profile": run.to_dict()}


@dataclass
class _Found:
    """Where this machine's predictor for a config is, and why it cannot be used
    (``why``: ``None`` when it can)."""

    path: Path
    why: str | None
    space: Any
    dataset: Any
    runtime: Any
    stem: str


def _lookup(config: SearchConfig, profiles_dir: str | Path, predictors_dir: str | Path) -> _Found:
    """The predictor ``ensure_predictor`` would use for ``config`` on this machine: the
    file at ``predictors/<device-id>/<space>.json`` (``<space>-<N>classes.json`` when the
    files there are of models with another number of classes) and whether it fits."""
    from hwnas.errors import HwnasError
    from hwnas.predictors import default_predictor_path, load_predictor
    from hwnas.profiling import device_fingerprint
    from hwnas.profiling.runtimes import runtime_with_threads
    from hwnas.profiling.store import classes_stem, profile_path
    from hwnas.spaces import create_space

    device = config.device
    assert device is not None
    space = create_space(config.space.name, **config.space.options())
    dataset = config.data.load()  # its input shape: a text's sequence length is a data key
    runtime = runtime_with_threads(device.runtime, device.threads)
    fingerprint = device_fingerprint(runtime, batch=device.batch, input_shape=dataset.input_shape)
    stem = space.file_stem
    path = default_predictor_path(fingerprint["device_id"], stem, predictors_dir)
    if _classes_differ(path, profile_path(profiles_dir, fingerprint["device_id"], stem), dataset):
        # This device's profile and predictor are of models with another number of
        # classes (a shipped 10-class one, a 5-class image folder): files of their own.
        stem = classes_stem(stem, dataset.num_classes)
        path = default_predictor_path(fingerprint["device_id"], stem, predictors_dir)
    if not path.is_file():
        return _Found(path, "there is none", space, dataset, runtime, stem)
    try:
        predictor = load_predictor(path)
        why = (
            "it is of other space options"
            if predictor.space_fingerprint_ != space.fingerprint()
            else f"it is of {predictor.num_classes_}-class models"
            if int(predictor.num_classes_) != dataset.num_classes
            else None
        )
    except HwnasError as error:
        why = f"it cannot be used ({error})"
    return _Found(path, why, space, dataset, runtime, stem)


def find_predictor(
    config: SearchConfig,
    *,
    profiles_dir: str | Path = "profiles",
    predictors_dir: str | Path = "predictors",
) -> tuple[str | None, str]:
    """This machine's predictor in ``predictors/`` for ``config`` (as ``hwnas run`` would
    use it), without profiling: ``(path, "")``, or ``(None, why not)``."""
    found = _lookup(config, profiles_dir, predictors_dir)
    return (str(found.path), "") if found.why is None else (None, f"{found.path}: {found.why}")


def _measured_now(metrics: dict[str, Any] | None) -> bool:
    """Whether most of the profile a predictor was just fitted on was measured now."""
    done = (metrics or {}).get("profile") or {}
    return int(done.get("measured", 0)) >= int(done.get("skipped", 0))


def _warn(message: str) -> None:
    print(f"hwnas: {message}", file=sys.stderr, flush=True)


def _classes_differ(predictor_path: Path, profile: Path, dataset: Any) -> bool:
    """Whether the predictor or (without one) the profile at these paths is of models with
    another number of classes than ``dataset``'s (an unreadable profile counts as not
    differing: profiling refuses it by name)."""
    from hwnas.errors import HwnasError
    from hwnas.predictors.base import predictor_classes
    from hwnas.profiling.store import read_profile

    classes = predictor_classes(predictor_path)
    if classes is None and profile.is_file():
        try:
            records = read_profile(profile)
        except HwnasError:
            return False
        classes = records[0].num_classes if records else None
    return classes is not None and classes != dataset.num_classes


def run_pipeline(
    config: SearchConfig | dict[str, Any] | str | Path,
    *,
    runs_dir: str | Path = "runs",
    run_id: str | None = None,
    profiles_dir: str | Path = "profiles",
    predictors_dir: str | Path = "predictors",
    progress: bool = False,
    log: Any = None,
    on_created: Any = None,
) -> PipelineResult:
    """Profile, fit, search, export, run the baselines and report for ``config``
    (``on_created``: called with the run folder once it exists).

    A latency predictor that was not fitted here (given in the config, or found in
    ``predictors/`` for this machine) is first checked against this machine and corrected
    per ``device.calibration`` (see :func:`hwnas.runs.search`).

    The baselines (when ``export.report_baselines``) and the report are parts: when one
    fails, or a part inside it (a baseline, a plot, a variant), the failure is listed in
    the result (and the JSON files and report) and the rest goes on.

    Raises:
        HwnasError: An invalid config, a failed search or export, or no exported model
            meeting the budgets once measured (raised after the baselines and the report).
        NothingFeasibleError: The search evaluated no candidate meeting the budgets
            (raised after the report of the search).
    """
    from hwnas.runs import check_text_data, new_run_folder, search

    if isinstance(config, str | Path):
        config = load_config(config)
    elif isinstance(config, dict):
        config = validate_config(config)
    check_text_data(config)
    check_runnable_here(config)
    if run_id is not None:  # refused before the device is profiled, not after
        new_run_folder(runs_dir, run_id)
    say = log or (lambda message: None)
    profile = metrics = None
    predictor_path = None
    if config.device is not None:
        predictor_path = config.device.predictor
        if predictor_path is None:
            say("profiling the device and fitting a latency predictor (if none fits yet)")
            predictor_path, profile, metrics = ensure_predictor(
                config,
                profiles_dir=profiles_dir,
                predictors_dir=predictors_dir,
                progress=progress,
                log=say,
            )
            say(f"latency predictor: {predictor_path}")
            device = config.device.model_copy(update={"predictor": predictor_path})
            config = validate_config({**config.to_dict(), "device": device.model_dump()})
    say("searching")
    run = search(
        config,
        runs_dir=runs_dir,
        run_id=run_id,
        progress=progress,
        # Fitted on a profile measured now (most of it): nothing to check. One fitted on
        # a profile measured before (another day, another speed) is checked as any other.
        fitted_here=profile is not None and _measured_now(metrics),
        log=say,
        on_created=on_created,
    )
    return _finish(run, say, progress, (profile, predictor_path, metrics), resumed=False)


def resume_pipeline(
    run_dir: str | Path, *, progress: bool = False, log: Any = None
) -> PipelineResult:
    """Finish an interrupted ``hwnas run`` (killed, out of time, a machine restarted).

    The search goes on from its store where it stopped (:func:`hwnas.runs.resume`; a
    finished one is left as it is), with the predictor and calibration the run started
    with (nothing is profiled or checked again); export runs unless it had finished
    (``export/manifest.json`` is written last, and an unfinished export leaves the last
    finished one, if any, in place), the baselines likewise (``export/baselines.json``),
    and the report is written again.

    Raises:
        HwnasError: Not a run folder, or as :func:`run_pipeline`.
    """
    from hwnas.runs import check_run_folder, resume

    say = log or (lambda message: None)
    check_run_folder(run_dir)  # refused before anything is said
    say(f"resuming {run_dir}: the search goes on where it stopped")
    run = resume(run_dir, progress=progress)
    device = run.config.device
    predictor = None if device is None else device.predictor
    return _finish(run, say, progress, (None, predictor, None), resumed=True)


def _finish(
    run: Any,
    say: Any,
    progress: bool,
    fitted: tuple[str | None, str | None, dict[str, Any] | None],
    *,
    resumed: bool,
) -> PipelineResult:
    """Export, baselines and report of a searched run (``fitted``: the profile, predictor
    and held-out metrics of :func:`ensure_predictor`). A resumed run keeps an export or
    baselines that finished before."""
    from hwnas.baselines import BASELINES_FILE, run_baselines
    from hwnas.errors import BudgetsUnmetError, HwnasError, NothingFeasibleError
    from hwnas.export import export_run
    from hwnas.export.manifest import load_manifest
    from hwnas.export.run import budgets_unmet
    from hwnas.parts import Parts
    from hwnas.profiling.calibration import RUN_PREDICTOR_FILE
    from hwnas.report import report_run

    found = run.result
    say(
        f"search: {found.evaluations} evaluations in {found.seconds:.0f} s, stopped by "
        f"{found.stopped_by}; "
        + (
            f"{len(found.pareto)} on its Pareto front"
            if found.pareto
            else "none meets every budget (as searched)"
        )
    )
    settings = run.config.export
    unmet = None
    manifest_file = run.path / "export" / "manifest.json"
    kept = None
    if resumed and manifest_file.is_file():
        try:
            kept = load_manifest(run.path)
        except HwnasError as error:
            say(f"{error}: exporting again")
    try:
        if kept is not None:
            say(f"run folder: {run.path}; its export had finished: kept")
            manifest = kept
            unmet = budgets_unmet(manifest, manifest_file)
        else:
            say(f"run folder: {run.path}; exporting the Pareto set")
            manifest = export_run(
                run.path,
                top_k=settings.top_k,
                spare=settings.spare if settings.top_k is not None else 0,
                baselines=settings.hand_designed,
                epochs=settings.epochs,
                variants=("fp32", *[v for v in settings.variants if v != "fp32"]),
                progress=progress,
            )
    except BudgetsUnmetError as error:
        # The manifest is written with the flags: the baselines and the report show it
        # before the error. Any other export error ends the job here.
        manifest, unmet = error.manifest, error
    except NothingFeasibleError as error:
        # Nothing to export or to compare with: the report still shows what the search
        # found (its front, hypervolume, calibration) before the error.
        say("nothing to export; writing the report of the search")
        page = Parts(say).attempt("report", lambda: report_run(run.path, baselines=False, say=say))
        raise NothingFeasibleError(f"{error}; report: {page or 'not written'}") from None
    parts = Parts(say)
    baselines = None
    done = None
    if settings.report_baselines:
        baselines_file = run.path / "export" / BASELINES_FILE
        if resumed and baselines_file.is_file():
            say("the baselines had finished: kept")
            baselines = str(baselines_file)
        else:
            say("training, exporting and measuring the hand-designed baselines")
            done = parts.attempt(
                "baselines", lambda: run_baselines(run.path, progress=progress, say=say)
            )
            baselines = None if done is None else str(baselines_file)
    say("writing the report")
    page = parts.attempt(
        "report", lambda: report_run(run.path, baselines=settings.report_baselines, say=say)
    )
    if unmet is not None:
        raise HwnasError(f"{unmet}; report: {page or 'not written'}") from None
    profile, predictor_path, metrics = fitted
    used = run.path / RUN_PREDICTOR_FILE
    return PipelineResult(
        profile,
        predictor_path,
        metrics,
        str(run.path),
        manifest,
        None if page is None else str(page),
        baselines,
        _failures(run.path, parts, manifest, done, report_written=page is not None),
        run.calibration,
        str(used) if used.is_file() else None,
    )


def _failures(
    run_path: Path,
    parts: Any,
    manifest: dict[str, Any],
    baselines: dict[str, Any] | None,
    *,
    report_written: bool,
) -> list[dict[str, str]]:
    """Every failed part of the job: this run's own, the export's, the baselines' (when they
    ran now) and the report's."""
    import json

    found = [{"source": "run", **f} for f in parts.to_list()]
    found += [{"source": "export", **f} for f in manifest.get("failures", [])]
    found += [{"source": "baselines", **f} for f in (baselines or {}).get("failures", [])]
    if report_written:
        report = json.loads((run_path / "report" / "report.json").read_text())
        found += [f for f in report["failures"] if f.get("source") == "report"]
    return found
