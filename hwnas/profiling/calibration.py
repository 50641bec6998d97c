"""Check a latency predictor against this machine before trusting it.

A predictor file names the device it was fitted on, but machines with the same device id
differ in speed: a shipped predictor was 2.6-2.9x off on another machine of the same kind,
and nothing noticed. :func:`calibrate` measures ``points`` reference architectures (12 by
default, spread evenly over the log of the predicted latency of a few hundred sampled
architectures, so that the cheap end, where latency budgets usually sit, is covered as
well as the expensive one; fixed by ``seed``) with the profiling protocol, on the given
runtime, and compares them with the predictions (:func:`hwnas.predictors.calibration.
agreement`: median measured / predicted ratio, Spearman, share within 10 %).

When they disagree beyond the :class:`Tolerance`:

- ``rescale`` fits a correction on the reference points
  (:class:`~hwnas.predictors.calibration.CalibratedPredictor`) when the ranks agree, and
  checks it on ``points`` fresh architectures; when that check fails with the ranks still
  agreeing, it refits on every point measured so far and checks on ``points`` new ones
  (:data:`RESCALE_ROUNDS`); when the ranks disagree, or the rescaled predictor still
  fails, it re-profiles as below, and keeps whichever of the two predictors has more of
  its predictions within ±10 % on points it was not fitted on: the last fresh points for
  both, the refit's held-out fifth of the re-profile, and the re-profiled architectures
  for the rescaled one
  (:func:`~hwnas.profiling.corrections.shares_beyond_the_fresh_points`; the fresh points
  alone break ties). That re-profile goes in two stages: a third of the architectures
  first (spread over the same range); when the predictor fitted on them is clearly worse
  on those fresh points than the rescaled one (median relative error over
  :data:`REPROFILE_SLACK` times), the rest is not measured and the rescaled predictor is
  kept: a machine whose latencies no fit follows saves two
  thirds of the re-profile. A fit that is merely no better goes on, since a refit gains
  from the other two thirds (``benchmarks/reprofile_sizes.py``: 1.2x the rescaled
  predictor's median error on a third of the sample, 0.8x on all of it). A rescale that
  is kept after fresh points were measured has its correction refitted at the end on every
  point measured inside the checked range (``refitted_on``); the figures reported after
  it stay those of the fit checked on points it had not seen;
- ``reprofile`` profiles ``profile_archs`` architectures into the calibration's own
  profile (never the shipped one, which has the same device id) and fits a fresh
  predictor, checked on the fresh points;
- ``off`` does nothing; ``check`` (``hwnas predict --check``) measures and compares only.

A predictor of a device this machine cannot run as (its runtime is missing here, or the
device fingerprint differs) is used as is: the result says ``checked: false`` and why.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwnas.errors import ConfigError
from hwnas.predictors.calibration import Points, Tolerance, reference_archs
from hwnas.profiling.corrections import (
    REPROFILE_SLACK,
    REPROFILE_STAGE,
    RESCALE_ROUNDS,
    attempt,
    better,
    figures_text,
    median_error,
    reprofile,
    rescale,
    shares_beyond_the_fresh_points,
)
from hwnas.validate import check_int

if TYPE_CHECKING:
    from hwnas.predictors.base import BasePredictor
    from hwnas.profiling.runtimes import Runtime
    from hwnas.spaces.base import Arch, SearchSpace

#: What :func:`calibrate` does when the check fails (``device.calibration``, and ``check``:
#: compare only).
POLICIES: tuple[str, ...] = ("rescale", "reprofile", "off", "check")
#: Reference architectures measured by default.
DEFAULT_POINTS = 12
#: A check that passes with its median measured / predicted ratio further than this from 1
#: still scales the predictions by that ratio (policy ``rescale``): the median of 12 points
#: moves by about 1 % between checks here, a machine 6 % faster than the predictor's is
#: not noise, and it eats most of a 10 % error budget.
BIAS = 0.03
#: The run folder's files: the check, and the predictor the search uses.
CALIBRATION_FILE = "calibration.json"
RUN_PREDICTOR_FILE = "predictor.json"


@dataclass
class CalibrationResult:
    """What :func:`calibrate` measured and did.

    Attributes:
        checked: Whether anything was measured; ``reason`` says why not, or what was found.
        action: ``none`` (it passed), ``scale`` (it passed, with a median ratio more than
            :data:`BIAS` from 1, which the predictions are scaled by), ``rescale``,
            ``reprofile`` or ``not checked``.
        before: The reference points with the predictor's predictions.
        after: Fresh points with the corrected predictor's predictions (after an action).
        corrected: The corrected predictor (``None`` unless ``action`` corrected).
        profile: The re-profile, when ``action`` is ``reprofile``.
        judged: After a full re-profile following a failed rescale, the share within
            ±10 % of the refitted and the rescaled predictor on the points that decided
            between them (see
            :func:`hwnas.profiling.corrections.shares_beyond_the_fresh_points`), else ``None``.
        refitted_on: When a rescale is kept after fresh points: the number of points its
            correction was refitted on at the end (every architecture measured, inside
            the checked range), else ``None``. ``after`` still holds the figures of the
            correction fitted before those fresh points were measured (held out).
    """

    checked: bool
    reason: str
    runtime: str
    device_id: str
    predictor: str
    points: int
    action: str = "not checked"
    before: Points | None = None
    after: Points | None = None
    tolerance: Tolerance = field(default_factory=Tolerance)
    profile: str | None = None
    used: str | None = None
    seconds: float = 0.0
    attempts: list[dict[str, Any]] = field(default_factory=list)
    judged: dict[str, Any] | None = None
    refitted_on: int | None = None
    corrected: BasePredictor | None = field(default=None, repr=False, compare=False)

    @property
    def passed(self) -> bool:
        """Whether the predictor used from now on is within tolerance (the corrected one
        when there is one); ``False`` when not checked."""
        final = self.after or self.before
        return final is not None and self.tolerance.passes(final.figures())

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``calibration.json``."""
        before, after = self.before, self.after
        correction = getattr(self.corrected, "correction_", None)
        return {
            "checked": self.checked,
            "reason": self.reason,
            "runtime": self.runtime,
            "device_id": self.device_id,
            "predictor": self.predictor,
            "points": self.points,
            "action": self.action,
            "before": None if before is None else before.figures(),
            "after": None if after is None else after.figures(),
            "archs": [] if before is None else before.archs,
            "measured_ms": [] if before is None else before.measured_ms,
            "predicted_ms": [] if before is None else before.predicted_ms,
            "passed": self.passed,
            "tolerance": self.tolerance.to_json(),
            "correction": None if correction is None else correction.to_json(),
            "after_points": None if after is None else vars(after),
            "profile": self.profile,
            "used": self.used,
            "seconds": self.seconds,
            "attempts": list(self.attempts),
            "judged": self.judged,
            "refitted_on": self.refitted_on,
        }

    def lines(self) -> list[str]:
        """One or two lines for people."""
        if not self.checked or self.before is None:
            return [f"calibration: not checked ({self.reason})"]
        out = [
            f"calibration: {self.points} points on {self.runtime}: "
            f"{figures_text(self.before.figures())} -> {self.action}"
        ]
        if self.after is not None:
            out.append(
                f"  after {self.action} ({len(self.after.archs)} fresh points): "
                f"{figures_text(self.after.figures())}; {self.reason}"
            )
        else:
            out[0] += f" ({self.reason})"
        if not self.passed:
            out.append(
                "  still off beyond tolerance: the search goes on with the best predictor it "
                "has, and export measures every model it chooses"
            )
        return out


def measure_archs(
    space: SearchSpace,
    runtime: Runtime,
    archs: Sequence[Arch],
    *,
    input_shape: tuple[int, int, int],
    num_classes: int,
    batch: int,
    root: Path,
    seed: int = 0,
    protocol: dict[str, Any] | None = None,
    progress: bool = False,
) -> list[float]:
    """Median latencies (ms) of ``archs``, measured as the profiler measures them, kept in
    a profile under ``root`` (architectures already there are not measured again)."""
    from hwnas.profiling.profiler import profile_space
    from hwnas.profiling.store import read_profile

    run = profile_space(
        space,
        runtime,
        archs=list(archs),
        input_shape=input_shape,
        num_classes=num_classes,
        batch=batch,
        seed=seed,
        root=root,
        progress=progress,
        protocol=protocol,
    )
    median = {r.arch: r.median_ms for r in read_profile(run.path)}
    return [median[str(a)] for a in archs]


def predictor_runtime(predictor: BasePredictor) -> Runtime:
    """The runtime ``predictor`` was fitted with, with its recorded settings (threads,
    optimisation level...), not checked for availability.

    Raises:
        ConfigError: The predictor's runtime is not registered in this hwnas.
    """
    import inspect

    from hwnas.profiling.runtimes import RUNTIMES, create_runtime

    if predictor.runtime_ not in RUNTIMES:
        # An imported table's predictor ("published"): no runtime here measures it.
        raise ConfigError(
            "--runtime",
            f"a runtime to measure this machine on: the predictor's latencies (device "
            f"{predictor.device_id_}) were imported (runtime {predictor.runtime_!r}), and "
            "no runtime here measures that device (e.g. --runtime onnxruntime-cpu compares "
            "this machine with it)",
        )
    settings = predictor.fingerprint_.get("runtime_settings") or {}
    parameters = inspect.signature(RUNTIMES.get(predictor.runtime_)).parameters
    options = {k: v for k, v in settings.items() if k in parameters}
    return create_runtime(predictor.runtime_, check=False, **options)


def unchecked_reason(
    predictor: BasePredictor, runtime: Runtime, batch: int, *, check_device: bool = True
) -> str | None:
    """Why ``predictor`` cannot be checked on ``runtime`` here, or ``None`` when it can.

    It cannot when the runtime is not available here, or (with ``check_device``) when this
    machine's device fingerprint for that runtime differs from the predictor's.
    """
    from hwnas.profiling.fingerprint import device_fingerprint, first_difference

    ok, why = runtime.available()
    if not ok:
        return f"runtime {runtime.name!r} is not available here: {why}"
    if check_device:
        here = device_fingerprint(runtime, batch=batch, input_shape=predictor.input_shape_)
        differs = first_difference(predictor.fingerprint_, here)
        if differs is not None:
            return (
                f"the predictor is for device {predictor.device_id_}, this machine is "
                f"{here['device_id']} ({differs!r} differs)"
            )
    return None


def _refit_on_every_point(
    result: CalibrationResult, predictor: BasePredictor, folder: Path, max_ms: float | None
) -> None:
    """Refit the kept rescale's correction on every architecture calibration measured
    (reference, fresh and re-profiled points, inside the checked range when at least 3
    are): the check has been made on points it was not fitted on, and the correction the
    search uses should not leave out the latest of them. A main-job run on a 2-core VM had
    its exports measured at 1.14x the predictions of a correction fitted on 22 points,
    1.08x with the same correction refitted on all 63 points in range."""
    from hwnas.predictors.calibration import CalibratedPredictor
    from hwnas.profiling.store import read_profile

    if result.corrected is None:
        return
    ms: dict[str, float] = {}
    for path in sorted(folder.glob("*/*/*.jsonl")):
        for record in read_profile(path):
            ms.setdefault(record.arch, record.median_ms)
    inside = {a: v for a, v in ms.items() if max_ms is None or v <= max_ms}
    points = inside if len(inside) >= 3 else ms
    if len(points) <= int(result.corrected.n_train_):
        return
    result.corrected = CalibratedPredictor().fit(predictor, list(points), list(points.values()))
    result.refitted_on = len(points)
    result.reason += (
        f"; its correction refitted on all {len(points)} points measured (the figures "
        "after are those of the fit before the last fresh points)"
    )


@contextlib.contextmanager
def _folder(workdir: str | Path | None) -> Iterator[Path]:
    if workdir is not None:
        yield Path(workdir)
        return
    with tempfile.TemporaryDirectory(prefix="hwnas-calibration-") as tmp:
        yield Path(tmp)


def calibrate(
    predictor: BasePredictor,
    runtime: Runtime,
    space: SearchSpace | None = None,
    *,
    policy: str = "rescale",
    points: int = DEFAULT_POINTS,
    tolerance: Tolerance | None = None,
    profile_archs: int = 150,
    refit_model: str = "auto",
    seed: int = 0,
    batch: int | None = None,
    protocol: dict[str, Any] | None = None,
    profile_protocol: dict[str, Any] | None = None,
    workdir: str | Path | None = None,
    max_ms: float | None = None,
    check_device: bool = True,
    predictor_path: str = "",
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> CalibrationResult:
    """Measure reference architectures, compare, and correct the predictor per ``policy``.

    Args:
        predictor: A fitted predictor.
        runtime: Where to measure (the predictor's device: single-threaded if it was).
        space: The space the caller searches (checked against the predictor's).
        policy: ``rescale``, ``reprofile``, ``off`` or ``check`` (see the module
            docstring).
        points: Reference architectures measured (and as many fresh ones after a
            correction).
        tolerance: When the check passes (default :class:`Tolerance`).
        profile_archs: Architectures profiled when re-profiling.
        refit_model: The model of the refitted predictor (see
            :class:`~hwnas.predictors.LatencyPredictor`).
        seed: Fixes the reference points, the models' weights and the re-profile.
        batch: Batch size (default the predictor's).
        protocol: Keyword arguments of :func:`hwnas.profiling.protocol.measure` (default:
            the profiling protocol).
        profile_protocol: The same for the re-profile's architectures (default:
            ``protocol``).
        workdir: Where the measurements are kept (``profile/`` for the reference points
            and any re-profile, ``check/`` for the fresh points); a temporary folder by
            default.
        max_ms: Where the checked range ends (see :func:`reference_archs`).
        check_device: Refuse (``checked: false``) a predictor of another device
            fingerprint; without it, compare with this runtime whatever the predictor's
            device.
        predictor_path: The predictor's file, for the result.
        progress: Show measuring progress on stderr.
        log: Called with a line before each slow step.
    """
    from hwnas.predictors.calibration import CalibratedPredictor
    from hwnas.profiling.store import read_profile

    if policy not in POLICIES:
        raise ConfigError("policy", f"one of {', '.join(POLICIES)}", policy)
    points = check_int("points", points, 3)
    tolerance = tolerance or Tolerance()
    say = log or (lambda line: None)
    if space is not None:
        predictor.check_space(space)
    batch = predictor.batch_ if batch is None else check_int("batch", batch, 1)
    result = CalibrationResult(
        False, "", runtime.name, predictor.device_id_, predictor_path, points, tolerance=tolerance
    )
    if policy == "off":
        result.reason = "device.calibration is off"
        return result
    reason = unchecked_reason(predictor, runtime, batch, check_device=check_device)
    if reason is not None:
        result.reason = reason
        return result
    start = time.perf_counter()
    space = predictor.space()
    shape, classes = predictor.input_shape_, int(predictor.num_classes_)

    def measured(archs: list[Arch], root: Path) -> Points:
        ms = measure_archs(
            space,
            runtime,
            archs,
            input_shape=shape,
            num_classes=classes,
            batch=batch,
            root=root,
            seed=seed,
            protocol=protocol,
            progress=progress,
        )
        return Points([str(a) for a in archs], ms, [0.0] * len(archs)).predicted_by(predictor)

    with _folder(workdir) as folder:
        say(f"calibration: measuring {points} reference architectures on {runtime.name}")
        reference = reference_archs(predictor, points, seed=seed, max_ms=max_ms)
        result.checked = True
        result.before = measured(reference, folder / "profile")
        before = result.before.figures()
        if tolerance.passes(before) or policy == "check":
            passed = tolerance.passes(before)
            result.action = "none"
            result.reason = "within tolerance" if passed else "off beyond tolerance"
            ratio = before["ratio"]
            bias = 0.0 if ratio is None else abs(ratio - 1.0)
            if passed and policy == "rescale" and bias > BIAS and tolerance.ranks_agree(before):
                # Within tolerance, but a median ratio this far from 1 is the machine's
                # speed, not noise: remove it (one factor, the median; nothing else moves).
                result.corrected = CalibratedPredictor(form="scale").fit(
                    predictor, reference, result.before.measured_ms
                )
                result.action = "scale"
                result.reason = (
                    f"within tolerance; the median ratio {ratio:.2f}x is more than "
                    f"{BIAS:.0%} from 1: predictions scaled by it"
                )
            result.seconds = time.perf_counter() - start
            return result
        if policy == "rescale" and tolerance.ranks_agree(before):
            if rescale(result, predictor, reference, measured, folder, max_ms, seed, say):
                _refit_on_every_point(result, predictor, folder, max_ms)
                result.seconds = time.perf_counter() - start
                return result
        elif policy == "rescale":
            result.reason = (
                f"ranks disagree (Spearman below {tolerance.min_spearman}): "
                "re-profiled and refitted"
            )
        else:
            result.reason = "off beyond tolerance: re-profiled and refitted"
        say(f"calibration: {result.reason}: profiling {profile_archs} architectures")
        rescaled, rescaled_after = result.corrected, result.after

        def not_clearly_worse(refit: BasePredictor, measured_so_far: int) -> bool:
            assert rescaled_after is not None
            after = rescaled_after.predicted_by(refit)
            result.attempts.append(attempt("reprofile", measured_so_far, after))
            refit_error, rescaled_error = median_error(after), median_error(rescaled_after)
            go_on = refit_error <= REPROFILE_SLACK * rescaled_error
            if not go_on:
                say(
                    f"calibration: a predictor fitted on {measured_so_far} re-profiled "
                    f"architectures does clearly worse on the fresh points (median error "
                    f"{refit_error:.0%} against {rescaled_error:.0%}): re-profile stopped"
                )
            return go_on

        refit, result.profile, complete = reprofile(
            predictor,
            runtime,
            n=profile_archs,
            batch=batch,
            seed=seed,
            root=folder / "profile",
            model=refit_model,
            protocol=protocol if profile_protocol is None else profile_protocol,
            progress=progress,
            go_on=None if rescaled is None or rescaled_after is None else not_clearly_worse,
        )
        if not complete:
            result.action = "rescale"
            result.reason = result.reason.removesuffix(": re-profiled and refitted") + (
                f": re-profiled {len(read_profile(result.profile))} architectures, and a "
                "predictor fitted on them did clearly worse on the fresh points: the "
                "rescaled predictor is kept"
            )
            _refit_on_every_point(result, predictor, folder, max_ms)
            result.seconds = time.perf_counter() - start
            return result
        if result.after is None:
            profiled = [r.arch for r in read_profile(result.profile)]
            fresh = reference_archs(refit, points, seed=seed + 1, exclude=profiled, max_ms=max_ms)
            result.after = measured(fresh, folder / "check")
        result.action, result.corrected = "reprofile", refit
        result.after = result.after.predicted_by(refit)
        result.attempts.append(attempt("reprofile", profile_archs, result.after))
        if rescaled is not None and rescaled_after is not None:
            # Judged on points neither was fitted on: the same fresh points, and the
            # re-profile (the refit's held-out fifth; every re-profiled architecture
            # outside the rescale's own points for the rescaled one).
            fitted = set(result.before.archs if result.before is not None else [])
            fitted |= {r.arch for path in (folder / "check").glob("*/*.jsonl")
                       for r in read_profile(path)}  # fmt: skip
            refit_share, rescaled_share, n_refit, n_rescaled = shares_beyond_the_fresh_points(
                refit, rescaled, rescaled_after, result.after, result.profile, fitted
            )
            result.judged = {
                "refitted": {"within_10pct": refit_share, "points": n_refit},
                "rescaled": {"within_10pct": rescaled_share, "points": n_rescaled},
            }
            keep_rescaled = rescaled_share > refit_share or (
                rescaled_share == refit_share
                and better(rescaled_after.figures(), result.after.figures())
            )
            if keep_rescaled:
                result.action, result.corrected, result.after = "rescale", rescaled, rescaled_after
                _refit_on_every_point(result, predictor, folder, max_ms)
            sides = {"rescaled": (rescaled_share, n_rescaled), "refitted": (refit_share, n_refit)}
            won, lost = ("rescaled", "refitted") if keep_rescaled else ("refitted", "rescaled")
            result.reason += (
                f"; the {won} predictor did better ({100 * sides[won][0]:.0f} % of "
                f"{sides[won][1]} points within ±10 %, the {lost} "
                f"{100 * sides[lost][0]:.0f} % of {sides[lost][1]}): kept"
            )
    result.seconds = time.perf_counter() - start
    return result


__all__ = [
    "BIAS",
    "CALIBRATION_FILE",
    "DEFAULT_POINTS",
    "POLICIES",
    "REPROFILE_SLACK",
    "REPROFILE_STAGE",
    "RESCALE_ROUNDS",
    "RUN_PREDICTOR_FILE",
    "CalibrationResult",
    "calibrate",
    "measure_archs",
    "predictor_runtime",
    "unchecked_reason",
]
