"""Synthetic device profiles: latency is a known function of the architecture encoding."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from hwnas.profiling.fingerprint import device_id
from hwnas.profiling.store import ProfileRecord, append_records
from hwnas.spaces.base import SearchSpace

SHAPE = (3, 32, 32)


def synthetic_fingerprint(name: str, batch: int = 1) -> dict:
    """A fingerprint of an imaginary CPU called ``name``."""
    fp = {
        "fingerprint_version": 1,
        "device_kind": "cpu",
        "cpu_model": name,
        "logical_cores": 4,
        "machine": "x86_64",
        "os": "Linux",
        "runtime": "onnxruntime-cpu",
        "runtime_settings": {"threads": 1},
        "threads": 1,
        "batch": batch,
        "input_shape": list(SHAPE),
    }
    fp["device_id"] = device_id(fp)
    return fp


def additive_latency(seed: int = 0) -> Callable[[tuple[int, ...]], float]:
    """Latency = 1 ms + a cost per operation, the same on every edge.

    As on real devices, where every cell computes every edge: an operation costs the same
    wherever it sits, ``skip_connect`` (an identity) is free and ``none`` (a multiplication
    by zero) is cheap, so both one-hot and per-operator (``ops``) features can fit it.
    """
    costs = np.random.default_rng(seed).uniform(0.3, 3.0, size=5)
    costs[0] = 0.05  # none
    costs[1] = 0.0  # skip_connect
    return lambda enc: 1.0 + float(sum(costs[op] for op in enc))


def synthetic_record(
    space: SearchSpace,
    arch: object,
    ms: float,
    fingerprint: dict,
    input_shape: tuple[int, int, int] = SHAPE,
) -> ProfileRecord:
    """One profile line of ``arch`` measuring ``ms`` on the device of ``fingerprint``."""
    return ProfileRecord(
        space=space.name,
        arch=str(arch),
        input_shape=input_shape,
        batch=1,
        num_classes=10,
        runtime="onnxruntime-cpu",
        device_id=fingerprint["device_id"],
        fingerprint=fingerprint,
        latency_ms={"median": ms, "mean": ms, "p90": ms, "std": 0.0, "min": ms, "n": 5},
        space_fingerprint=space.fingerprint(),
    )


def make_records(
    space: SearchSpace,
    n: int,
    latency: Callable[[tuple[int, ...]], float],
    device: str = "synthetic-a",
    seed: int = 0,
) -> list[ProfileRecord]:
    """``n`` distinct nb201 architectures measured on a synthetic device."""
    fp = synthetic_fingerprint(device)
    picks = np.random.default_rng(seed).choice(space.size(), size=n, replace=False)
    records = []
    for index in picks:
        enc = tuple(int(index) // 5**i % 5 for i in range(6))
        arch = space.decode(enc)
        records.append(synthetic_record(space, arch, latency(enc), fp))
    return records


def write_profile(path: Path, records: list[ProfileRecord]) -> Path:
    append_records(path, records)
    return path
