"""Feature blocks: one-hot with inactive genes masked, closed-form costs, the block hook."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hwnas.costs import count_costs_fast
from hwnas.errors import HwnasError
from hwnas.predictors import (
    FEATURE_BLOCKS,
    FeatureBlock,
    FeatureContext,
    FeatureSpec,
    LatencyPredictor,
    register_feature_block,
)
from hwnas.profiling.store import ProfileRecord
from hwnas.spaces import create_space

from .synthetic import synthetic_fingerprint


def test_onehot_masks_inactive_mbconv_slots() -> None:
    space = create_space("mbconv")
    arch = space.parse("w1-relu:k5e4|w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1")
    context = FeatureContext(space, (3, 32, 32), 10)
    spec = FeatureSpec()
    X = spec.matrix(context, [arch])
    columns = spec.columns(context)
    assert X.shape == (1, len(columns)) == (1, sum(space.n_choices) + 3)
    row = dict(zip(columns, X[0], strict=True))
    # Stage 0 has one block: slot 0 (genes 4, 5) is set, slots 1-3 (genes 6-11) are all zero.
    assert sum(row[f"g4={j}"] for j in range(3)) == 1 and row["g4=1"] == 1  # kernel 5
    assert all(row[f"g{g}={j}"] == 0 for g in range(6, 12) for j in range(space.n_choices[g]))
    costs = count_costs_fast(space, arch, (3, 32, 32), 10)
    assert row["macs_m"] == pytest.approx(costs.macs / 1e6)
    assert row["log_macs"] == pytest.approx(np.log(costs.macs / 1e6))


def test_mbconv_predictor_fits(rng) -> None:
    space = create_space("mbconv")
    archs = [space.sample(rng) for _ in range(40)]
    fp = synthetic_fingerprint("synthetic-m")
    records = []
    for arch in archs:
        ms = 0.5 + count_costs_fast(space, arch, (3, 32, 32), 10).macs / 2e7
        records.append(
            ProfileRecord(
                space="mbconv",
                arch=str(arch),
                input_shape=(3, 32, 32),
                batch=1,
                num_classes=10,
                runtime="onnxruntime-cpu",
                device_id=fp["device_id"],
                fingerprint=fp,
                latency_ms={"median": ms, "mean": ms, "p90": ms, "std": 0, "min": ms, "n": 3},
            )
        )
    predictor = LatencyPredictor(model="linear-macs").fit(records)
    np.testing.assert_allclose(predictor.predict(archs), [r.median_ms for r in records], rtol=1e-6)


def test_feature_spec_json_and_unknown_blocks() -> None:
    spec = FeatureSpec(["onehot", "costs"])
    assert FeatureSpec.from_json(spec.to_json()).to_json() == spec.to_json()
    with pytest.raises(HwnasError, match=r"features\[0\]\.name: expected one of"):
        FeatureSpec.from_json([{"name": "no-such-block"}])
    with pytest.raises(HwnasError, match="distinct"):
        FeatureSpec(["onehot", "onehot"])


class _TableBlock(FeatureBlock):
    """A stand-in for a lookup-table sum: one additive column from a per-operation table."""

    name = "test-table"

    def __init__(self, ms: dict[str, float] | None = None) -> None:
        self.ms = ms or {}

    def config(self) -> dict[str, Any]:
        return {"ms": self.ms}

    def columns(self, context: FeatureContext) -> list[str]:
        return ["table_ms"]

    def additive(self, context: FeatureContext) -> list[bool]:
        return [True]

    def compute(self, context, archs, encodings) -> np.ndarray:  # type: ignore[no-untyped-def]
        return np.array([[sum(self.ms.get(op, 0.0) for op in a.ops)] for a in archs])


def test_a_registered_block_is_used_and_persisted(records, tmp_path) -> None:
    if "test-table" not in FEATURE_BLOCKS:
        register_feature_block("test-table")(_TableBlock)
    block = _TableBlock({"nor_conv_3x3": 2.0, "nor_conv_1x1": 0.5})
    predictor = LatencyPredictor(model="lut", features=["onehot", "costs", block]).fit(records)
    assert predictor.columns_[-1] == "table_ms"
    loaded = LatencyPredictor.load(predictor.save(tmp_path / "p.json"))
    assert loaded.features_.to_json()[-1] == {"name": "test-table", "ms": block.ms}
    archs = [r.arch for r in records[:20]]
    np.testing.assert_array_equal(loaded.predict(archs), predictor.predict(archs))
