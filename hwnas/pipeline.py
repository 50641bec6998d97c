"""``hwnas run``: profile (if needed), fit, search, export and report, end to end."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwnas.config import SearchConfig, load_config, validate_config


@dataclass
class PipelineResult:
    """Where ``hwnas run`` put everything."""

    profile: str | None
    predictor: str | None
    predictor_metrics: dict[str, Any] | None
    run: str
    manifest: dict[str, Any]
    report: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary."""
        models = self.manifest["models"]
        return {
            "profile": self.profile,
            "predictor": self.predictor,
            "predictor_held_out": (self.predictor_metrics or {}).get("held_out"),
            "run": self.run,
            "manifest": str(Path(self.run) / "export" / "manifest.json"),
            "report": self.report,
            "exported": len(models),
            "feasible": sum(1 for m in models if m["feasible"]),
            "search_front": sum(1 for m in models if m.get("search_rank", 0) == 0),
            "pareto": sum(1 for m in models if m.get("pareto")),
        }


def ensure_predictor(
    config: SearchConfig,
    *,
    profiles_dir: str | Path = "profiles",
    predictors_dir: str | Path = "predictors",
    progress: bool = False,
) -> tuple[str, str | None, dict[str, Any] | None]:
    """A latency predictor for the config's device, profiling and fitting if needed.

    A predictor already at ``predictors/<device-id>/<space>.json`` for this machine,
    runtime, input shape and space is reused; otherwise ``device.profile_archs``
    architectures are profiled (resuming any earlier profile) and a predictor is fitted.

    Returns:
        ``(predictor path, profile path or None, held-out metrics or None)``.
    """
    from hwnas.data import load_dataset
    from hwnas.errors import HwnasError
    from hwnas.predictors import default_predictor_path, fit_profile, load_predictor
    from hwnas.profiling import device_fingerprint
    from hwnas.profiling.profiler import profile_space
    from hwnas.profiling.runtimes import runtime_with_threads
    from hwnas.spaces import create_space

    device = config.device
    assert device is not None
    space = create_space(config.space.name, **config.space.options())
    dataset = load_dataset(config.data.name, seed=config.data.seed)
    runtime = runtime_with_threads(device.runtime, device.threads)
    fingerprint = device_fingerprint(runtime, batch=device.batch, input_shape=dataset.input_shape)
    path = default_predictor_path(fingerprint["device_id"], space.file_stem, predictors_dir)
    if path.is_file():
        try:
            predictor = load_predictor(path)
            if (
                predictor.space_fingerprint_ == space.fingerprint()
                and int(predictor.num_classes_) == dataset.num_classes
            ):
                return str(path), None, None
        except HwnasError:
            pass  # unreadable or foreign: profile and fit a fresh one below
    run = profile_space(
        space,
        runtime,
        n=device.profile_archs,
        input_shape=dataset.input_shape,
        num_classes=dataset.num_classes,
        batch=device.batch,
        seed=config.seed,
        root=profiles_dir,
        progress=progress,
    )
    predictor, metrics = fit_profile(run.path, seed=config.seed, space=space)
    saved = predictor.save(path)
    return str(saved), str(run.path), metrics


def run_pipeline(
    config: SearchConfig | dict[str, Any] | str | Path,
    *,
    runs_dir: str | Path = "runs",
    run_id: str | None = None,
    profiles_dir: str | Path = "profiles",
    predictors_dir: str | Path = "predictors",
    progress: bool = False,
    log: Any = None,
) -> PipelineResult:
    """Profile, fit, search, export and report for ``config``."""
    from hwnas.export import export_run
    from hwnas.report import report_run
    from hwnas.runs import search

    if isinstance(config, str | Path):
        config = load_config(config)
    elif isinstance(config, dict):
        config = validate_config(config)
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
            )
            say(f"latency predictor: {predictor_path}")
            device = config.device.model_copy(update={"predictor": predictor_path})
            config = validate_config({**config.to_dict(), "device": device.model_dump()})
    say("searching")
    run = search(config, runs_dir=runs_dir, run_id=run_id, progress=progress)
    say(f"run folder: {run.path}; exporting the Pareto set")
    settings = config.export
    manifest = export_run(
        run.path,
        top_k=settings.top_k,
        epochs=settings.epochs,
        variants=("fp32", *[v for v in settings.variants if v != "fp32"]),
        progress=progress,
    )
    say("writing the report")
    page = report_run(run.path, baselines=settings.report_baselines)
    return PipelineResult(profile, predictor_path, metrics, str(run.path), manifest, str(page))
