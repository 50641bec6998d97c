"""Profile a GPU and fit its latency predictors in one time-boxed run (see docs/gpu.md).

Run through ``benchmarks/gpu/run.sh``, which installs the carried wheels first:

    bash benchmarks/gpu/run.sh              # on the GPU machine: torch-cuda, under $OUT
    bash benchmarks/gpu/run.sh --dry-run    # on any CPU: torch-cpu, tiny sizes, 15-30 s

Steps: ``hwnas devices --json``; for each job (space, input shape, batch) a stratified
sample of architectures, shuffled, is profiled with :func:`hwnas.profiling.profiler.
profile_space` until the sample or the job's share of the time budget runs out (the
shuffle keeps a cut-short sample spread over the MAC range); ``hwnas fit`` fits a predictor
per profile with its held-out report. Everything lands in OUT: ``results.json`` and
``hwnas-gpu.tar.gz`` (``profiles/`` and ``predictors/``, to unpack at the repository root).

Time budget (GPU): the device call may take 8 minutes. Installing the wheels takes about
15 s, importing torch and starting CUDA about 10 s, each fit 5-15 s (about 6 s for 400
records on one core here). Profiling gets ``--budget-s`` (420 s) less a 90 s reserve for
the fits: 330 s over five jobs, about 66 s a job. One architecture costs its protocol (at
least 0.3 s, at most 1 s of timed calls), the runtime's 0.3 s warm-up, the cuDNN autotuning
call and building the model on the CPU with its BatchNorm statistics (up to about 0.3 s at
3x224x224): about 1 to 1.5 s, so 45 to 65 architectures a job of the 100 planned. Each job
stops at its deadline whatever the estimate, so the run ends inside the budget.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Job:
    """One profile: a space at an input shape and batch size."""

    space: str
    input_shape: tuple[int, int, int]
    classes: int
    batch: int
    stem: str  # the predictor's file name, predictors/<device-slug>/<stem>.json


GPU_JOBS = (
    Job("mbconv", (3, 224, 224), 1000, 1, "mbconv-224-b1"),
    Job("mbconv", (3, 224, 224), 1000, 64, "mbconv-224-b64"),
    Job("nb201", (3, 32, 32), 10, 1, "nb201-32-b1"),
    Job("nb201", (3, 32, 32), 10, 256, "nb201-32-b256"),
    # The embedded digits data's shape: what configs/digits-h200.yaml searches with.
    Job("mbconv", (1, 8, 8), 10, 1, "mbconv-digits-b1"),
)
DRY_JOBS = (
    Job("nb201", (3, 8, 8), 10, 1, "nb201-8-b1"),
    Job("mbconv", (1, 8, 8), 10, 2, "mbconv-digits-b2"),
)


@dataclass(frozen=True)
class Plan:
    """How one mode runs: runtime, jobs, sample sizes, protocol and time budget."""

    runtime: str
    options: dict[str, Any]
    jobs: tuple[Job, ...]
    n: int
    protocol: dict[str, Any]
    budget_s: float
    fit_reserve_s: float


PLANS = {
    # GPU timings are event-timed and steady: 0.3-1 s of repeats per architecture suffices.
    "gpu": Plan(
        "torch-cuda", {}, GPU_JOBS, 100, {"min_seconds": 0.3, "max_seconds": 1.0}, 420.0, 90.0
    ),
    "dry-run": Plan(
        "torch-cpu",
        {"threads": 1},
        DRY_JOBS,
        10,
        {"warmup": 1, "min_repeats": 3, "min_seconds": 0.0, "max_seconds": 0.03, "window": 2},
        40.0,
        15.0,
    ),
}


class _OutOfTime(Exception):
    """Raised after a saved record once a job's deadline has passed."""


def hwnas_cli(*argv: str) -> tuple[int, str]:
    """Run ``hwnas ARGV`` in this process; its exit code and stdout."""
    from hwnas.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


def nvidia_smi() -> str | None:
    """Clocks, temperature, power and load of the GPU now (read only), or ``None``."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    fields = "name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,"
    fields += "power.draw,utilization.gpu,memory.used,memory.total"
    out = subprocess.run(
        [exe, f"--query-gpu={fields}", "--format=csv"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    return out.stdout.strip() or out.stderr.strip()


def profile_job(job: Job, plan: Plan, root: Path, deadline: float, seed: int) -> dict[str, Any]:
    """Profile ``job`` until its sample is done or ``deadline`` (``time.monotonic``) passes."""
    from hwnas.profiling.profiler import profile_space, stratified_sample
    from hwnas.profiling.runtimes import runtime_with_threads
    from hwnas.profiling.store import read_profile
    from hwnas.spaces import create_space

    space = create_space(job.space)
    threads = plan.options.get("threads", 1)
    options = {k: v for k, v in plan.options.items() if k != "threads"}
    runtime = runtime_with_threads(plan.runtime, threads, **options)
    rng = np.random.default_rng(seed)
    sample = stratified_sample(space, plan.n, rng, job.input_shape, job.classes)
    archs = [sample[i] for i in rng.permutation(len(sample))]

    def stop_at_deadline(record: Any) -> None:
        if time.monotonic() >= deadline:
            raise _OutOfTime

    started = time.monotonic()
    stopped_by = "sample"
    run = None
    try:
        run = profile_space(
            space,
            runtime,
            archs=archs,
            input_shape=job.input_shape,
            num_classes=job.classes,
            batch=job.batch,
            seed=seed,
            root=root,
            protocol=plan.protocol,
            on_record=stop_at_deadline,
        )
    except _OutOfTime:
        stopped_by = "time"
    seconds = time.monotonic() - started
    from hwnas.profiling.fingerprint import device_fingerprint

    fingerprint = device_fingerprint(runtime, batch=job.batch, input_shape=job.input_shape)
    path = Path(run.path) if run else root / fingerprint["device_id"] / f"{space.file_stem}.jsonl"
    records = read_profile(path) if path.exists() else []
    medians = np.array([r.median_ms for r in records]) if records else np.array([np.nan])
    return {
        "space": job.space,
        "input_shape": list(job.input_shape),
        "classes": job.classes,
        "batch": job.batch,
        "planned": len(archs),
        "measured": len(records),
        "stopped_by": stopped_by,
        "seconds": round(seconds, 1),
        "seconds_per_arch": round(seconds / max(len(records), 1), 3),
        "device_id": fingerprint["device_id"],
        "fingerprint": fingerprint,
        "profile": str(path.relative_to(root.parent)),
        "latency_ms": {
            "min": float(np.nanmin(medians)),
            "median": float(np.nanmedian(medians)),
            "max": float(np.nanmax(medians)),
        },
        "unstable": sum(1 for r in records if not r.latency_ms.get("stable", True)),
    }


def fit_job(result: dict[str, Any], job: Job, work: Path) -> dict[str, Any]:
    """``hwnas fit`` the job's profile into predictors/<device-slug>/<stem>.json."""
    from hwnas.profiling.fingerprint import device_slug

    slug = device_slug(result["fingerprint"])
    out = work / "predictors" / slug / f"{job.stem}.json"
    started = time.monotonic()
    code, stdout = hwnas_cli("fit", str(work / result["profile"]), "--json", "--out", str(out))
    fit: dict[str, Any] = {"exit_code": code, "seconds": round(time.monotonic() - started, 1)}
    if code == 0:
        report = json.loads(stdout)
        fit.update(
            predictor=str(out.relative_to(work)),
            model=report.get("model"),
            held_out=report.get("held_out"),
            baseline_linear_macs=report.get("baseline_linear_macs"),
            n_train=report.get("n_train"),
            n_test=report.get("n_test"),
        )
    return fit


def run(mode: str, out_dir: Path, budget_s: float | None, seed: int) -> dict[str, Any]:
    """Every step of the check; returns the results (also written to OUT)."""
    plan = PLANS[mode]
    budget = plan.budget_s if budget_s is None else budget_s
    started = time.monotonic()
    profile_until = started + budget - plan.fit_reserve_s
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="hwnas-gpu-"))
    results: dict[str, Any] = {
        "mode": mode,
        "runtime": plan.runtime,
        "runtime_options": plan.options,
        "protocol": plan.protocol,
        "budget_s": budget,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": sys.version.split()[0],
        "nvidia_smi_before": nvidia_smi(),
    }
    code, stdout = hwnas_cli("devices", "--json")
    results["devices"] = json.loads(stdout) if code == 0 else stdout
    available = {d["name"]: d for d in results["devices"]} if code == 0 else {}
    jobs: list[dict[str, Any]] = []
    results["jobs"] = jobs
    if not available.get(plan.runtime, {}).get("available"):
        results["error"] = f"runtime {plan.runtime} not available: {available.get(plan.runtime)}"
    else:
        for i, job in enumerate(plan.jobs):
            # Each job gets an equal share of the time left; an early finish passes its
            # rest on to the jobs after it.
            share = (profile_until - time.monotonic()) / (len(plan.jobs) - i)
            print(f"[{time.monotonic() - started:6.1f} s] profiling {job.stem} ({share:.0f} s)")
            try:
                result = profile_job(job, plan, work / "profiles", time.monotonic() + share, seed)
                result["fit"] = fit_job(result, job, work)
            except Exception as error:  # one failed job must not lose the others
                result = {"stem": job.stem, "error": f"{type(error).__name__}: {error}"}
            result["stem"] = job.stem
            jobs.append(result)
    results["nvidia_smi_after"] = nvidia_smi()
    results["seconds"] = round(time.monotonic() - started, 1)
    results["ok"] = bool(jobs) and all(
        "error" not in j and j["fit"].get("exit_code") == 0 for j in jobs
    )
    text = json.dumps(results, indent=2, default=str)
    (work / "results.json").write_text(text)
    (out_dir / "results.json").write_text(text)
    with tarfile.open(out_dir / "hwnas-gpu.tar.gz", "w:gz") as tar:
        for name in ("profiles", "predictors", "results.json"):
            if (work / name).exists():
                tar.add(work / name, arcname=name)
    shutil.rmtree(work, ignore_errors=True)
    return results


def summary(results: dict[str, Any]) -> str:
    """A short table of the results (the device tool returns the end of the output)."""
    lines = [
        f"{'job':18s} {'archs':>9s} {'s/arch':>6s} {'median ms (min-max)':>26s} "
        f"{'model':>11s} {'within10%':>9s} {'MAPE':>6s} {'MACs-only':>9s}"
    ]
    for job in results["jobs"]:
        if "error" in job:
            lines.append(f"{job['stem']:18s} ERROR {job['error']}")
            continue
        lat, fit = job["latency_ms"], job["fit"]
        held, base = fit.get("held_out") or {}, fit.get("baseline_linear_macs") or {}
        lines.append(
            f"{job['stem']:18s} {job['measured']:4d}/{job['planned']:<4d} "
            f"{job['seconds_per_arch']:6.2f} "
            f"{lat['median']:9.4f} ({lat['min']:.4f}-{lat['max']:.4f}) "
            f"{fit.get('model') or 'FAILED':>11s} {_pct(held.get('within_10pct')):>9s} "
            f"{_pct(held.get('mape')):>6s} {_pct(base.get('within_10pct')):>9s}"
        )
    lines.append(f"{results['mode']}: {results['seconds']} s, ok={results['ok']}")
    if "error" in results:
        lines.append(f"error: {results['error']}")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run, print the summary; 0 when every job was profiled and fit."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="torch-cpu, tiny sizes")
    parser.add_argument("--out", default=os.environ.get("OUT", "gpu-out"), help="(default $OUT)")
    parser.add_argument("--budget-s", type=float, default=None, help="time budget in seconds")
    parser.add_argument("--seed", type=int, default=0, help="sample and weights seed")
    args = parser.parse_args(argv)
    results = run("dry-run" if args.dry_run else "gpu", Path(args.out), args.budget_s, args.seed)
    print(summary(results))
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
