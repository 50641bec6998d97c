"""Hand-designed baselines: built, trained, exported and measured at any input size; one
that fails is recorded and the others still come out."""

from __future__ import annotations

import onnx
import pytest
import torch

from hwnas.baselines import BASELINES, space_baselines, train_baselines
from hwnas.data import Dataset, Split
from hwnas.nn import build_model, handmade
from hwnas.parts import Parts
from hwnas.train import Recipe

#: A short measurement: these tests check that a latency comes out, not its value.
QUICK = {"warmup": 2, "min_repeats": 5, "min_seconds": 0.02, "max_seconds": 0.2}


def synthetic(shape: tuple[int, int, int], classes: int = 3, n: int = 24) -> Dataset:
    """``n`` random images per split, labels cycling through ``classes``."""
    g = torch.Generator().manual_seed(0)

    def split() -> Split:
        return Split(torch.randn(n, *shape, generator=g), torch.arange(n) % classes)

    c = shape[0]
    return Dataset(
        name=f"synthetic-{'x'.join(map(str, shape))}",
        train=split(),
        val=split(),
        test=split(),
        classes=tuple(str(i) for i in range(classes)),
        mean=(0.0,) * c,
        std=(1.0,) * c,
        fingerprint="synthetic",
    )


@pytest.fixture(scope="module")
def runtime():
    from hwnas.profiling import create_runtime

    return create_runtime("onnxruntime-cpu", threads=1)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_every_baseline_exports_and_measures_at_any_input_size(shape, runtime, tmp_path) -> None:
    # 28x28 used to fail: LeNet-5's adaptive pooling from 7x7 to 2x2 has no ONNX export.
    parts = Parts()
    rows = train_baselines(
        synthetic(shape),
        Recipe(epochs=1, batch_size=8),
        tmp_path / "baselines",
        runtime=runtime,
        protocol=QUICK,
        parts=parts,
    )
    assert parts.failures == []
    assert [r["name"] for r in rows] == list(BASELINES)
    for row in rows:
        assert row["error"] is None
        proto = onnx.load(tmp_path / row["file"])
        onnx.checker.check_model(proto)
        assert {p.key: p.value for p in proto.metadata_props}["hwnas.baseline"] == row["name"]
        assert row["max_abs_diff"] <= 1e-4
        assert row["measured_latency_ms"] > 0
        assert 0 <= row["val_accuracy"] <= 1 and 0 <= row["test_accuracy"] <= 1
        assert row["macs"] > 0 and row["params"] > 0


def test_lenet5_pools_odd_maps_as_adaptive_pooling_would() -> None:
    for h, w in [(7, 7), (3, 5), (9, 4), (2, 2)]:
        x = torch.randn(2, 16, h, w)
        expected = torch.nn.AdaptiveAvgPool2d(2)(x)
        torch.testing.assert_close(handmade._pool_to_2x2(h, w)(x), expected)


def test_a_failing_baseline_is_recorded_and_the_others_come_out(
    monkeypatch, runtime, tmp_path
) -> None:
    def broken(shape, classes):
        raise RuntimeError("cannot build this one")

    monkeypatch.setitem(handmade.HANDMADE, "lenet5", broken)
    said: list[str] = []
    parts = Parts(said.append)
    rows = train_baselines(
        synthetic((1, 8, 8)),
        Recipe(epochs=1, batch_size=8),
        tmp_path,
        runtime=runtime,
        protocol=QUICK,
        parts=parts,
    )
    by_name = {r["name"]: r for r in rows}
    assert [f.to_dict() for f in parts.failures] == [
        {"part": "baseline lenet5: build", "error": "RuntimeError: cannot build this one"}
    ]
    assert said == ["baseline lenet5: build failed: RuntimeError: cannot build this one"]
    assert (
        by_name["lenet5"]["error"] == "baseline lenet5: build: RuntimeError: cannot build this one"
    )
    assert by_name["lenet5"]["test_accuracy"] is None and by_name["lenet5"]["file"] is None
    for name in ("mobilenetv2", "resnet8"):
        assert by_name[name]["error"] is None and by_name[name]["measured_latency_ms"] > 0


def test_a_failing_export_keeps_the_trained_numbers(monkeypatch, tmp_path) -> None:
    import hwnas.onnx_export

    def no_export(*args, **kwargs):
        raise ValueError("exporter says no")

    monkeypatch.setattr(hwnas.onnx_export, "export_onnx", no_export)
    rows = train_baselines(
        synthetic((1, 8, 8)), Recipe(epochs=1, batch_size=8), tmp_path, names=("resnet8",)
    )
    (row,) = rows
    assert row["error"] == "baseline resnet8: export: ValueError: exporter says no"
    assert row["val_accuracy"] is not None and row["file"] is None
    assert row["measured_latency_ms"] is None  # no runtime given: not measured


@pytest.mark.parametrize("name,built_from", [("convnet", "convnet"), ("mbconv", "handmade")])
def test_baselines_come_from_the_space_when_it_has_them(name, built_from, tmp_path) -> None:
    from hwnas.costs import count_costs
    from hwnas.spaces import create_space

    space = create_space(name)
    rows = train_baselines(
        synthetic((1, 8, 8)), Recipe(epochs=1, batch_size=8), tmp_path / "b", space=space
    )
    assert [r["error"] for r in rows] == [None] * len(BASELINES)
    for row in rows:
        assert row["built_from"] == built_from
        if built_from == "handmade":
            assert row["arch"] is None
            expected = count_costs(handmade.build_handmade(row["name"], (1, 8, 8), 3), (1, 8, 8))
        else:
            assert row["arch"] == space_baselines(space)[row["name"]]
            model = build_model(space, space.parse(row["arch"]), (1, 8, 8), 3)
            expected = count_costs(model, (1, 8, 8))
        assert (row["macs"], row["params"]) == (expected.macs, expected.params)


def test_space_baselines_is_empty_for_spaces_without_them() -> None:
    from hwnas.spaces import create_space

    assert space_baselines(None) == {}
    assert space_baselines(create_space("nb201")) == {}
    assert set(space_baselines(create_space("convnet"))) == set(BASELINES)
