"""Profile files: round trips, atomic appends, torn lines, and clear errors."""

from __future__ import annotations

import json

import pytest

from hwnas.errors import HwnasError
from hwnas.profiling.store import (
    ProfileRecord,
    append_records,
    measured_archs,
    profile_path,
    read_profile,
)

FINGERPRINT = {
    "fingerprint_version": 1,
    "device_kind": "cpu",
    "cpu_model": "test cpu",
    "runtime": "onnxruntime-cpu",
    "threads": 1,
    "batch": 1,
    "input_shape": [1, 8, 8],
}


def record(arch: str, median: float = 1.0, **changes) -> ProfileRecord:
    fields = dict(
        space="nb201",
        arch=arch,
        input_shape=(1, 8, 8),
        batch=1,
        num_classes=10,
        runtime="onnxruntime-cpu",
        device_id="cpu-test",
        fingerprint=dict(FINGERPRINT),
        latency_ms={
            "median": median,
            "mean": median,
            "p90": median,
            "std": 0.0,
            "min": median,
            "n": 5,
        },
    )
    fields.update(changes)
    return ProfileRecord(**fields)


def test_round_trip_and_resume_set(tmp_path) -> None:
    path = profile_path(tmp_path, "cpu-test", "nb201")
    assert append_records(path, [record("a", 1.5), record("b", 2.5)]) == 2
    append_records(path, [record("c")])
    records = read_profile(path)
    assert [r.arch for r in records] == ["a", "b", "c"]
    assert records[0].median_ms == 1.5
    assert records[0] == record("a", 1.5, timestamp=records[0].timestamp)
    assert measured_archs(path) == {"a", "b", "c"}
    assert measured_archs(tmp_path / "none.jsonl") == set()


def test_torn_last_line_is_ignored_then_repaired(tmp_path) -> None:
    path = tmp_path / "p.jsonl"
    append_records(path, [record("a"), record("b")])
    with path.open("ab") as handle:  # a crash in the middle of a write
        handle.write(b'{"format": 1, "space": "nb2')
    assert [r.arch for r in read_profile(path)] == ["a", "b"]
    append_records(path, [record("c")])
    assert [r.arch for r in read_profile(path)] == ["a", "b", "c"]
    assert path.read_bytes().endswith(b"\n")


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: "not json at all", "line 2: not valid JSON"),
        (lambda d: {**d, "format": 99}, "line 2: format"),
        (lambda d: {**d, "latency_ms": {**d["latency_ms"], "median": -1}}, "latency_ms.median"),
        (lambda d: {**d, "latency_ms": {**d["latency_ms"], "p90": "x"}}, "latency_ms.p90"),
        (lambda d: {**d, "input_shape": [1, 8]}, "input_shape"),
        (lambda d: {**d, "space": "mbconv"}, "space 'mbconv' differs"),
        (lambda d: {**d, "fingerprint": {**d["fingerprint"], "threads": 4}}, "'threads'"),
        (lambda d: {**d, "num_classes": 3}, "num_classes"),
    ],
)
def test_corrupted_or_mismatched_lines_name_the_line(tmp_path, mutate, message) -> None:
    path = tmp_path / "p.jsonl"
    append_records(path, [record("a")])
    bad = mutate(record("b").to_json())
    with path.open("a") as handle:
        handle.write((bad if isinstance(bad, str) else json.dumps(bad)) + "\n")
    with pytest.raises(HwnasError, match=message):
        read_profile(path)


def test_missing_profile(tmp_path) -> None:
    with pytest.raises(HwnasError, match="no such file"):
        read_profile(tmp_path / "missing.jsonl")
