"""``export_run``: train, export, verify and re-measure the models a run found.

See :mod:`hwnas.export` for the steps; this module holds the loop and the manifest.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwnas.config import MAX_SEED
from hwnas.errors import BudgetsUnmetError, ConfigError, HwnasError, NothingFeasibleError
from hwnas.export.keep import add_hand_designed, hand_designed_by_key, keep_best, mark_pareto
from hwnas.export.manifest import load_calibration
from hwnas.export.measure import measure_latency_ms, measure_onnx_ms, runtime_here
from hwnas.export.selection import (
    nothing_feasible_message,
    select_candidates,
    untrained_latency_ms,
)
from hwnas.export.training import train_models
from hwnas.export.variants import VARIANTS, choose_deploy, make_variant
from hwnas.io import atomic_write_json
from hwnas.parts import Parts
from hwnas.profiling.drift import speed_spread

if TYPE_CHECKING:
    from hwnas.config import SearchConfig
    from hwnas.train import Recipe

PARITY_TOLERANCE = 1e-4


@dataclass
class ExportedModel:
    """One exported model and its measured numbers."""

    name: str
    arch: str
    files: dict[str, str]
    val_accuracy: float
    test_accuracy: float
    predicted_latency_ms: float | None
    measured_latency_ms: float | None
    macs: int
    params: int
    max_abs_diff: float
    feasible: bool
    broken_budgets: list[str]
    variants: dict[str, dict[str, Any]]
    search_accuracy: float | None
    train_seconds: float
    #: Non-domination rank among the search's feasible candidates (0: its Pareto front).
    search_rank: int = 0
    #: Non-dominated among the exported feasible models, on trained accuracy and measured
    #: latency (set once all are trained).
    pareto: bool = False
    #: Latency measured before selection (untrained weights), ``None`` when not measured.
    selection_latency_ms: float | None = None
    #: The file to deploy (``fp32``, ``fp16`` or ``int8``) and why.
    deploy: str = "fp32"
    deploy_reason: str = field(default="no variant made")
    #: The hand-designed network this model is (a baseline of the space, chosen by the
    #: search or competing for the exported set), else ``None``.
    hand_designed: str | None = None
    #: What the search's predictor said (``predicted_latency_ms`` is it times
    #: ``prediction_bias``, see :func:`pool_bias`), and that factor (``None``: not corrected).
    search_predicted_latency_ms: float | None = None
    prediction_bias: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (the manifest entry)."""
        return {
            "name": self.name,
            "file": self.files["fp32"],
            "arch": self.arch,
            "val_accuracy": self.val_accuracy,
            "test_accuracy": self.test_accuracy,
            "search_accuracy": self.search_accuracy,
            "predicted_latency_ms": self.predicted_latency_ms,
            "search_predicted_latency_ms": self.search_predicted_latency_ms,
            "prediction_bias": self.prediction_bias,
            "selection_latency_ms": self.selection_latency_ms,
            "measured_latency_ms": self.measured_latency_ms,
            "macs": self.macs,
            "params": self.params,
            "max_abs_diff": self.max_abs_diff,
            "feasible": self.feasible,
            "broken_budgets": self.broken_budgets,
            "search_rank": self.search_rank,
            "pareto": self.pareto,
            "variants": self.variants,
            "deploy": self.deploy,
            "deploy_reason": self.deploy_reason,
            "deploy_file": self.files[self.deploy],
            "train_seconds": round(self.train_seconds, 2),
            "hand_designed": self.hand_designed,
        }


def _slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit] or "model"


def export_run(
    run_dir: str | Path,
    *,
    top_k: int | None = None,
    spare: int = 0,
    epochs: int | None = None,
    seed: int | None = None,
    opset: int = 17,
    variants: Sequence[str] = ("fp32",),
    measure: bool = True,
    progress: bool = False,
    protocol: Mapping[str, Any] | None = None,
    baselines: bool = False,
) -> dict[str, Any]:
    """Train, export, verify and re-measure the Pareto set of ``run_dir``.

    Args:
        run_dir: A run folder (``runs/<id>``).
        top_k: Export this many models (when that many are feasible): the search's Pareto
            front, spread evenly along it when it is larger (its most accurate and fastest
            models always kept), filled from the next non-dominated fronts when smaller.
            Default: the whole front. Where the run's runtime is available, the choice is
            made on latency measured here (:mod:`hwnas.export.selection`).
        spare: Train this many candidates beyond ``top_k`` (the next ones of the
            selection) and keep the ``top_k`` best once trained: feasible first, then by
            non-domination on validation accuracy and measured latency. The search ranked
            candidates on short-training estimates; full training reorders them (a model
            the estimates put on the front can be dominated once trained). The others'
            files are removed (a hand-designed network's stay, with its figures in its
            entry, for the baselines) and the manifest lists them under ``not_kept``. When fewer
            than ``top_k`` of those kept meet the budgets once trained and measured (or
            fill-ins gave way to a hand-designed network, see ``baselines``), the next
            candidates of the same pool are trained too, at most as many more as the first
            round (the manifest's ``trained`` and ``refilled`` count them).
        epochs: Final training epochs (default: the recipe's).
        seed: Training seed (default: the run's).
        opset: ONNX opset.
        variants: Any of ``fp32`` (always), ``fp16``, ``int8``.
        measure: Measure latency on the run's runtime. When it is off or the runtime is
            not available here, selection and flags use predicted latency and the
            manifest says so (``selection``, ``selection_reason``).
        progress: Show progress on stderr.
        protocol: Keyword arguments of :func:`hwnas.profiling.protocol.measure` (default:
            the run's ``device.protocol`` for the trained models, and its profile protocol,
            :meth:`hwnas.config.SearchConfig.profile_protocol`, to screen the untrained
            candidates).
        baselines: With ``top_k``, the space's hand-designed networks that the search
            evaluated and that meet the budgets (measured latency included; an accuracy
            floor is checked once they are trained, not on the search's short estimate)
            compete too:
            trained like the spares, kept when they are among the ``top_k`` best once
            trained (the manifest names them in ``hand_designed``). The search ranked them
            on the same short estimates as everything else; trained in full, the
            hand-designed network can be the better model of its region, and then it is
            the one to deploy. Either way, a model that is a hand-designed network says so
            (``hand_designed`` in the manifest), and a model is passed over when a
            hand-designed network trained with it is as good on every objective once
            trained (:func:`hwnas.export.keep.keep_best`; ``not_kept`` says so).

    Returns:
        The manifest (also written to ``runs/<id>/export/manifest.json``).

    Raises:
        HwnasError: Missing or corrupted run folder, or no exported model meeting the
            budgets (the manifest is written first, with the flags).
    """
    from hwnas.runs import open_run

    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ConfigError("--variants", f"a subset of {', '.join(VARIANTS)}", unknown)
    if top_k is not None and top_k < 1:
        raise ConfigError("--top-k", "a positive integer", top_k)
    if epochs is not None and epochs < 1:
        raise ConfigError("--epochs", "an integer >= 1", epochs)
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise ConfigError("--seed", f"an integer from 0 to {MAX_SEED}", seed)
    from hwnas.onnx_export import MAX_OPSET, MIN_OPSET

    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ConfigError("--opset", f"an ONNX opset from {MIN_OPSET} to {MAX_OPSET}", opset)
    if spare < 0 or (spare and top_k is None):
        raise ConfigError("--spare", "an integer >= 0, with --top-k", spare)
    run = open_run(run_dir)
    config, components = run.config, run.components
    space, dataset = components.space, components.dataset
    shape = dataset.input_shape
    batch = config.device.batch if config.device is not None else 1
    # Untrained candidates are screened on the profile protocol (their latency ranks
    # them; the models kept are measured again, trained, on the full one).
    screen = config.profile_protocol() if protocol is None else dict(protocol)
    protocol = config.protocol() if protocol is None else dict(protocol)
    parts = Parts(say=_warn if progress else None)
    runtime, why_not = runtime_here(config, measure)
    if measure and runtime is None:
        _warn(f"{why_not}; selecting on predicted latency")

    measure_untrained = (
        None
        if runtime is None
        else partial(
            untrained_latency_ms,
            runtime,
            space,
            shape=shape,
            classes=dataset.num_classes,
            batch=batch,
            protocol=screen,
        )
    )
    with run.store() as store:
        selection = select_candidates(
            store.candidates(),
            objectives=tuple(components.objectives),
            budgets=tuple(components.budgets),
            search_budgets=tuple(components.search_budgets),
            top_k=None if top_k is None else top_k + spare,
            key=lambda c: space.network_key(space.parse(c.arch)),  # one model per network
            measure=measure_untrained,
            reason=why_not,
        )
        if baselines and top_k is not None:
            add_hand_designed(store.candidates(), selection, space, measure_untrained, components)
        hand_designed = hand_designed_by_key(space)
        device_fingerprint = store.get_meta("device_fingerprint")
        searched_ms = {c.arch: c.metrics.get("latency_ms") for c in store.candidates()}
    if not selection.chosen:
        with run.store() as store:
            message = nothing_feasible_message(
                store.candidates(), components.budgets, components.search_budgets
            )
        raise NothingFeasibleError(f"{run.path}: {message}")
    recipe = export_recipe(config, epochs)
    seed = config.seed if seed is None else seed
    # Written into a folder of its own and put in place whole at the end: an export that
    # stops half-way (killed, a failure) leaves the last finished one, if any, as it was,
    # and a finished one replaces it with nothing of the old left in (its baselines
    # included: they reuse the models export trained).
    final_dir = run.path / "export"
    out_dir = run.path / ".export.partial"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir()
    device_id = str((device_fingerprint or {}).get("device_id", ""))

    def train(pairs: Sequence[tuple[Any, int]], start: int) -> list[ExportedModel]:
        # Every model of the round trained first (in the run's worker processes when it
        # has them), then each exported and measured here, one after the other.
        archs = [space.parse(candidate.arch) for candidate, _ in pairs]
        trained = train_models(archs, components, recipe, seed, progress=progress)
        out = []
        for index, ((candidate, rank), done) in enumerate(zip(pairs, trained, strict=True), start):
            model = _export_one(
                index,
                candidate,
                rank,
                done,
                bias=pool_bias(candidate.arch, selection.measured_ms, searched_ms),
                components=components,
                out_dir=out_dir,
                opset=opset,
                runtime=runtime,
                batch=batch,
                protocol=protocol,
                device_id=device_id,
            )
            model.selection_latency_ms = selection.measured_ms.get(candidate.arch)
            network = str(space.network_key(space.parse(model.arch)))
            model.hand_designed = hand_designed.get(network)
            out.append(model)
        return out

    models = train(selection.chosen, 0)
    kept, not_kept, not_kept_reasons = keep_best(models, components.objectives, top_k)
    # Too few kept that meet the budgets (fill-ins passed over, or over a budget once
    # trained and measured): train the next candidates of the same pool, at most as many
    # more as the first round trained.
    refills = 0
    room = len(models) if top_k is not None else 0
    while top_k is not None and room > 0:
        short = top_k - sum(m.feasible for m in kept)
        more = selection.more(min(short, room), {m.arch for m in models})
        if short < 1 or not more:
            break
        if progress:
            _warn(
                f"{top_k - short} of the {top_k} places filled once trained (the others over "
                "a budget once measured, or no better than a hand-designed network): "
                f"training {len(more)} more of the measured pool"
            )
        models += train(more, len(models))
        room -= len(more)
        refills += len(more)
        kept, not_kept, not_kept_reasons = keep_best(models, components.objectives, top_k)
    models = kept
    # Variants (made, checked, measured) for the kept models only: nothing decides on
    # them before, and a spare's would be thrown away.
    for model in models:
        _add_variants(model, variants, out_dir, dataset, runtime, batch, protocol, screen, parts)
    for model in not_kept:
        # A hand-designed network's files stay: the baselines reuse its training and
        # measurement (one figure per network in a run, not a second draw of the noise).
        if not model.hand_designed:
            shutil.rmtree(out_dir / model.name, ignore_errors=True)
    mark_pareto(models, components.objectives)
    calibration = parts.attempt("calibration record", partial(load_calibration, run.path))
    manifest = {
        "run": str(run.path),
        "space": space.name,
        "objectives": list(components.objectives),
        "budgets": [str(b) for b in components.budgets],
        **_budget_maxima(components.budgets),
        "device_fingerprint": device_fingerprint,
        "measured_on": runtime.name if runtime is not None else None,
        # How far the machine's speed moved while this process measured (the figures are
        # at its typical speed; hwnas.profiling.drift).
        "speed": None
        if runtime is None
        else speed_spread(runtime, batch, protocol.get("anchor", "auto")),
        **selection.summary(),
        "trained": len(models) + len(not_kept),
        "refilled": refills,
        "calibration": calibration,
        "dataset": dataset.summary(),
        "recipe": recipe.to_dict(),
        "seed": seed,
        "opset": opset,
        "models": [m.to_dict() for m in models],
        "not_kept": [
            {
                "name": m.name,
                "arch": m.arch,
                "val_accuracy": m.val_accuracy,
                "measured_latency_ms": m.measured_latency_ms,
                "feasible": m.feasible,
                "hand_designed": m.hand_designed,
                "reason": not_kept_reasons[m.name],
                **(_baseline_figures(m) if m.hand_designed else {}),
            }
            for m in not_kept
        ],
        "failures": parts.to_list(),
    }
    atomic_write_json(out_dir / "manifest.json", manifest)
    _replace_dir(out_dir, final_dir)
    unmet = budgets_unmet(manifest, final_dir / "manifest.json")
    if unmet is not None:
        raise unmet
    return manifest


def budgets_unmet(manifest: dict[str, Any], path: Path) -> BudgetsUnmetError | None:
    """The error of an export (its ``manifest``, written at ``path``) with budgets that
    none of its models meets once trained and measured; ``None`` when one does."""
    if not manifest["budgets"] or any(m["feasible"] for m in manifest["models"]):
        return None
    return BudgetsUnmetError(
        f"no exported model meets the budgets ({', '.join(manifest['budgets'])}) once "
        f"trained and measured; see {path}",
        manifest,
    )


def _replace_dir(new: Path, old: Path) -> None:
    """Put folder ``new`` in the place of ``old`` (renames: an interruption leaves one of
    them whole, or both, and the next export clears what is left)."""
    aside = old.with_name(f".{old.name}.old")
    shutil.rmtree(aside, ignore_errors=True)
    if old.exists():
        old.rename(aside)
    new.rename(old)
    shutil.rmtree(aside, ignore_errors=True)


def _baseline_figures(model: ExportedModel) -> dict[str, Any]:
    """What the baselines reuse of a hand-designed network export trained but did not keep
    (:func:`hwnas.baselines.run_baselines`): its file and the figures of its row."""
    entry = model.to_dict()
    keys = ("file", "test_accuracy", "macs", "params", "max_abs_diff", "train_seconds")
    return {key: entry[key] for key in keys}


def export_recipe(config: SearchConfig, epochs: int | None = None) -> Recipe:
    """The final-training recipe of a run: the default recipe with the config's
    ``export.recipe`` fields, export threads and memory format, and ``epochs`` when given."""
    from hwnas.train import Recipe

    changes = {"threads": config.export.threads, "channels_last": config.export.channels_last}
    fields = {**Recipe().to_dict(), **config.export.recipe, **changes}
    return Recipe(**{**fields, **({"epochs": epochs} if epochs else {})})


#: Pool candidates (the model itself left out) needed to correct its prediction.
MIN_BIAS_POINTS = 5


def pool_bias(
    arch: str, measured_ms: Mapping[str, float], predicted_ms: Mapping[str, float | None]
) -> float | None:
    """The median measured / predicted latency over export's measured pool, ``arch`` left
    out: the factor by which the search's predictor is off on the candidates the search
    chose. Those are the ones it predicted fast, so it underestimates them (on this VM the
    six exports of a run measured 4-19 % over their predictions, all of them over, with a
    predictor 64 % within ±10 % on random architectures); the median over the rest of the
    pool takes that bias out without the model's own measurement. ``None`` with fewer than
    ``MIN_BIAS_POINTS`` others (selection on predictions: no pool measured)."""
    import statistics

    ratios = [
        ms / float(predicted)
        for other, ms in measured_ms.items()
        if other != arch and (predicted := predicted_ms.get(other)) and predicted > 0
    ]
    return statistics.median(ratios) if len(ratios) >= MIN_BIAS_POINTS else None


def _export_one(
    index: int,
    candidate: Any,
    rank: int,
    trained: tuple[Any, Any, float],
    *,
    bias: float | None,
    components: Any,
    out_dir: Path,
    opset: int,
    runtime: Any,
    batch: int,
    protocol: Mapping[str, Any],
    device_id: str,
) -> ExportedModel:
    """Export one trained candidate (``trained``: model, result and seconds of
    :func:`~hwnas.export.training.train_models`) to ONNX, check parity, measure it and
    flag it."""
    from hwnas.data.readers.text import token_metadata
    from hwnas.objectives import metric_value
    from hwnas.onnx_export import export_onnx, onnx_parity

    space, dataset = components.space, components.dataset
    shape = dataset.input_shape
    arch = space.parse(candidate.arch)
    model, result, train_seconds = trained
    name = f"{index:02d}-{_slug(str(arch))}"
    searched = candidate.metrics.get("latency_ms")
    predicted = None if searched is None else searched * (bias or 1.0)
    # Measured after training, never during it: timing shares no core with training.
    measured = None
    if runtime is not None:
        measured = measure_latency_ms(runtime, model, shape, batch, **protocol)
    metrics = {
        **candidate.metrics,
        "accuracy": result.val_accuracy,
        "error": 1 - result.val_accuracy,
    }
    if measured is not None:
        metrics["latency_ms"] = measured
    broken = [str(b) for b in components.budgets if not b.met(metric_value(metrics, b.metric))]
    # Latencies to six significant digits (a 0.007 ms model keeps them; fixed decimals
    # would not).
    metadata = {
        "hwnas.space": space.name,
        "hwnas.arch": str(arch),
        "hwnas.val_accuracy": f"{result.val_accuracy:.6f}",
        "hwnas.test_accuracy": f"{result.test_accuracy:.6f}",
        "hwnas.predicted_latency_ms": "" if predicted is None else f"{predicted:.6g}",
        "hwnas.search_predicted_latency_ms": "" if searched is None else f"{searched:.6g}",
        "hwnas.measured_latency_ms": "" if measured is None else f"{measured:.6g}",
        "hwnas.device_id": device_id,
        "hwnas.input_mean": ",".join(f"{m:.6f}" for m in dataset.mean),
        "hwnas.input_std": ",".join(f"{s:.6f}" for s in dataset.std),
        # Images: what a deployed model's input is made of (text: token ids, below).
        **(
            {}
            if dataset.input_scale is None
            else {
                "hwnas.input_scale": str(dataset.input_scale),
                "hwnas.preprocess": "x = (pixels / input_scale - input_mean) / input_std per "
                "channel, float32, NCHW (channels: grayscale or RGB, as input_mean has)",
            }
        ),
        # Label i is classes[i] (an image folder's sub-folder names): JSON, so that names
        # with commas survive.
        "hwnas.classes": json.dumps(list(dataset.classes)),
        "hwnas.feasible": str(not broken).lower(),
        "hwnas.broken_budgets": "; ".join(broken),
        # Text only: the vocabulary and how to pad, so that plain onnxruntime can read text.
        **token_metadata(dataset.vocabulary, shape[0], dataset.tokenizer or "char"),
    }
    path = export_onnx(model, out_dir / name / "model.onnx", shape, opset=opset, metadata=metadata)
    diff = onnx_parity(model, path, dataset.val.x[:64])
    if diff > PARITY_TOLERANCE:
        raise HwnasError(
            f"{path}: onnxruntime differs from PyTorch by {diff:.2e} (> {PARITY_TOLERANCE})"
        )
    return ExportedModel(
        name=name,
        arch=str(arch),
        files={"fp32": str(path.relative_to(out_dir))},
        val_accuracy=result.val_accuracy,
        test_accuracy=float(result.test_accuracy or 0.0),
        predicted_latency_ms=predicted,
        measured_latency_ms=measured,
        macs=int(candidate.metrics["macs"]),
        params=int(candidate.metrics["params"]),
        max_abs_diff=diff,
        feasible=not broken,
        broken_budgets=broken,
        variants={},
        search_accuracy=candidate.metrics.get("accuracy"),
        train_seconds=train_seconds,
        search_rank=rank,
        search_predicted_latency_ms=searched,
        prediction_bias=bias,
    )


def _add_variants(
    model: ExportedModel,
    variants: Sequence[str],
    out_dir: Path,
    dataset: Any,
    runtime: Any,
    batch: int,
    protocol: Mapping[str, Any],
    screen: Mapping[str, Any],
    parts: Parts,
) -> None:
    """Make, check and measure the variants of ``model`` (screened first on ``screen``,
    :func:`hwnas.export.variants.make_variant`); choose the file to deploy."""
    fp32_path = out_dir / model.files["fp32"]
    measure, quick = (
        partial(measure_onnx_ms, runtime, shape=dataset.input_shape, batch=batch, protocol=p)
        for p in (protocol, screen)
    )
    for variant in variants:
        if variant == "fp32":
            continue
        # A variant is an extra: one that cannot be made is recorded, the model stays.
        info = parts.attempt(
            f"{model.name}: {variant} variant",
            partial(
                make_variant,
                variant,
                fp32_path,
                dataset,
                measure,
                screen=None if screen == protocol else quick,
                fp32_ms=model.measured_latency_ms,
            ),
        )
        if info is None:
            continue
        model.files[variant] = str((fp32_path.parent / info.pop("file")).relative_to(out_dir))
        model.variants[variant] = {"file": model.files[variant], **info}
    model.deploy, model.deploy_reason, offered = choose_deploy(
        model.measured_latency_ms, model.variants
    )
    for variant, ok in offered.items():
        model.variants[variant]["offered"] = ok


def _budget_maxima(budgets: Sequence[Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for b in budgets:
        out[f"{b.metric}_{'max' if b.op == '<=' else 'min'}"] = b.bound
    return out


def _warn(message: str) -> None:
    print(f"hwnas export: {message}", file=sys.stderr, flush=True)
