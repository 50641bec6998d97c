"""Profiling a device: sample architectures across the MAC range and measure each one.

:func:`profile_space` samples ``n`` architectures stratified over the MAC range (not only
uniformly: uniform sampling of a space concentrates on mid-sized models, while a predictor
must also be right at the cheap and expensive ends), measures each on a runtime with the
protocol of :mod:`hwnas.profiling.protocol`, and appends one line per architecture to
``profiles/<device-id>/<space>.jsonl``. Re-running the same command resumes: architectures
already in the profile are skipped, and the sample is fixed by the seed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from hwnas.costs import count_costs_fast
from hwnas.errors import ConfigError, HwnasError
from hwnas.profiling.fingerprint import device_fingerprint
from hwnas.profiling.protocol import measure_model
from hwnas.profiling.runtimes import Runtime
from hwnas.profiling.store import (
    ProfileRecord,
    append_records,
    classes_stem,
    profile_path,
    read_profile,
)
from hwnas.progress import maybe, progress_bar
from hwnas.spaces.base import Arch, SearchSpace

if TYPE_CHECKING:
    import torch


@dataclass
class ProfileRun:
    """What a call of :func:`profile_space` did."""

    path: Path
    device_id: str
    measured: int
    skipped: int
    total: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "path": str(self.path),
            "device_id": self.device_id,
            "measured": self.measured,
            "skipped": self.skipped,
            "total": self.total,
        }


def stratified_sample(
    space: SearchSpace,
    n: int,
    rng: np.random.Generator,
    input_shape: Sequence[int],
    num_classes: int,
    pool_factor: int = 20,
) -> list[Arch]:
    """``n`` distinct architectures spread evenly over the log-MAC range of the space.

    A pool of ``pool_factor * n`` random architectures (plus the space's smallest and
    largest, where it has them) is costed with the closed-form counter; the range of
    log-MACs is cut into ``n`` equal-width bins and each bin takes the unused pool member
    nearest its centre.
    """
    if n < 1:
        raise ConfigError("n", "a positive number of architectures", n)
    pool: dict[str, Arch] = {}
    for extreme in ("smallest", "largest"):
        if hasattr(space, extreme):
            arch = getattr(space, extreme)()
            pool[str(arch)] = arch
    for _ in range(pool_factor * n):
        arch = space.sample(rng)
        pool.setdefault(str(arch), arch)
    archs = list(pool.values())
    if len(archs) <= n:
        return archs
    log_macs = np.log([count_costs_fast(space, a, input_shape, num_classes).macs for a in archs])
    lo, hi = float(log_macs.min()), float(log_macs.max())
    centres = np.linspace(lo, hi, n) if n > 1 else np.array([(lo + hi) / 2])
    order = rng.permutation(len(archs))  # random tie-breaking among equal MACs
    log_macs, archs = log_macs[order], [archs[i] for i in order]
    used = np.zeros(len(archs), dtype=bool)
    chosen: list[Arch] = []
    for centre in centres:
        distance = np.where(used, np.inf, np.abs(log_macs - centre))
        best = int(np.argmin(distance))
        used[best] = True
        chosen.append(archs[best])
    return chosen


def profile_space(
    space: SearchSpace,
    runtime: Runtime,
    *,
    n: int | None = None,
    archs: Sequence[Arch] | None = None,
    input_shape: Sequence[int],
    num_classes: int,
    batch: int = 1,
    seed: int = 0,
    root: str | Path = "profiles",
    progress: bool = False,
    protocol: dict[str, Any] | None = None,
    on_record: Callable[[ProfileRecord], None] | None = None,
    stem: str | None = None,
) -> ProfileRun:
    """Measure architectures of ``space`` on ``runtime`` and append them to its profile.

    Args:
        space: The search space.
        runtime: Where latency is measured (see :func:`hwnas.profiling.create_runtime`).
        n: How many architectures to sample (stratified over MACs); or give ``archs``.
        archs: Measure exactly these architectures instead of sampling.
        input_shape: ``(C, H, W)`` of one input.
        num_classes: Number of classes of the models.
        batch: Batch size of the timed inference.
        seed: Fixes the sample and the models' random weights.
        root: The profiles folder.
        progress: Show a progress bar with ETA on stderr.
        protocol: Keyword arguments for :func:`hwnas.profiling.protocol.measure`.
        on_record: Called after each architecture is measured and saved.
        stem: The profile's file name without ``.jsonl`` (default the space's
            ``file_stem``, or :func:`~hwnas.profiling.store.classes_stem` of it when that
            file is of models with another number of classes).

    Returns:
        Where the profile is and how many architectures were measured or skipped.
    """
    import torch

    from hwnas.nn import build_model, check_input_shape, recalibrate_batchnorm

    # An image (C, H, W) or token ids (L,); the measuring helpers still declare the image
    # shape but pass it through to hwnas.data.inputs.
    shape = cast(tuple[int, int, int], check_input_shape(input_shape, num_classes, space))
    if (n is None) == (archs is None):
        raise ConfigError("n", "either a number of architectures or a list of them")
    fingerprint = device_fingerprint(runtime, batch=batch, input_shape=shape)
    path = profile_path(root, fingerprint["device_id"], stem or space.file_stem)
    records = read_profile(path) if path.exists() else []
    if stem is None and records and records[0].num_classes != num_classes:
        # The device's profile is of models with another number of classes: these get
        # their own file (classes_stem), the other is left as it is.
        path = profile_path(
            root, fingerprint["device_id"], classes_stem(space.file_stem, num_classes)
        )
        records = read_profile(path) if path.exists() else []
    # Refuse to append to a corrupt (read_profile raises) or foreign profile: every line
    # must describe the same models (the device id already fixes input shape and batch).
    if records and records[0].num_classes != num_classes:
        raise HwnasError(
            f"{path}: a profile of models with {records[0].num_classes} classes; these "
            f"have {num_classes}: profile into another folder (hwnas profile --out-dir)"
        )
    if records and records[0].space_fingerprint not in (None, space.fingerprint()):
        raise HwnasError(f"{path}: a profile of another configuration of {space.name}")
    if archs is None:
        assert n is not None
        archs = stratified_sample(space, n, np.random.default_rng(seed), shape, num_classes)
    done = {r.arch for r in records}
    todo = [a for a in dict.fromkeys(archs) if str(a) not in done]
    run = ProfileRun(path, fingerprint["device_id"], 0, len(archs) - len(todo), len(archs))
    bar = progress_bar(progress)
    with maybe(bar), tempfile.TemporaryDirectory() as workdir:
        task = bar.add_task("profiling", total=len(todo)) if bar is not None else None
        for i, arch in enumerate(todo):
            generator = torch.Generator().manual_seed(seed + i)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed + i)
                model = build_model(space, arch, shape, num_classes)
            # Realistic activations (no exploding untrained statistics, no denormals).
            recalibrate_batchnorm(model, [calibration_batch(shape, generator)])
            stats = measure_model(
                runtime,
                model,
                shape,
                batch,
                Path(workdir),
                **(protocol or {}),
            )
            costs = count_costs_fast(space, arch, shape, num_classes)
            record = ProfileRecord(
                space=space.name,
                arch=str(arch),
                input_shape=shape,
                batch=batch,
                num_classes=num_classes,
                runtime=runtime.name,
                device_id=fingerprint["device_id"],
                fingerprint=fingerprint,
                latency_ms=_latency_dict(stats.to_dict()),
                macs=costs.macs,
                params=costs.params,
                space_fingerprint=space.fingerprint(),
            )
            append_records(path, [record])
            run.measured += 1
            if on_record is not None:
                on_record(record)
            if bar is not None and task is not None:
                bar.update(task, advance=1, description=f"profiling {stats.median_ms:.3f} ms")
    return run


def _latency_dict(stats: dict[str, Any]) -> dict[str, Any]:
    """``LatencyStats.to_dict()`` with the ``_ms`` suffixes dropped (the field says ms)."""
    return {k.removesuffix("_ms"): v for k, v in stats.items()}


def calibration_batch(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Eight random inputs to estimate batch-norm statistics on: standard-normal images, or
    token ids without padding (:mod:`hwnas.data.inputs`)."""
    import torch

    from hwnas.data.inputs import RANDOM_TOKEN_IDS, is_sequence_shape

    if is_sequence_shape(shape):
        return torch.randint(1, RANDOM_TOKEN_IDS, (8, *shape), generator=generator)
    return torch.randn(8, *shape, generator=generator)
