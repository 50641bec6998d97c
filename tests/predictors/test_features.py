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
from hwnas.spaces import create_space

from .synthetic import synthetic_fingerprint, synthetic_record


def test_onehot_masks_inactive_mbconv_slots() -> None:
    space = create_space("mbconv")
    arch = space.parse("w1-relu:k5e4|w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1|w0.5-relu:k3e1")
    context = FeatureContext(space, (3, 32, 32), 10)
    spec = FeatureSpec(["onehot", "costs"])
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
    records = [
        synthetic_record(space, a, 0.5 + count_costs_fast(space, a, (3, 32, 32), 10).macs / 2e7, fp)
        for a in archs
    ]
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


def _module_kinds(model) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Operator kinds of a built model from its modules (named as ``count_layers`` does)."""
    from torch import nn

    from hwnas.spaces.mbconv.model import SqueezeExcite

    se_convs = {
        id(c) for m in model.modules() if isinstance(m, SqueezeExcite) for c in m.children()
    }
    counts = {"conv": 0, "pw": 0, "dw": 0, "se": 0, "fc": 0}
    for m in model.modules():
        if isinstance(m, SqueezeExcite):
            counts["se"] += 1
        elif isinstance(m, nn.Conv2d) and id(m) not in se_convs:
            if m.groups > 1:
                counts["dw"] += 1
            else:
                counts["pw" if m.kernel_size == (1, 1) else "conv"] += 1
        elif isinstance(m, nn.Linear):
            counts["fc"] += 1
    return counts


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (3, 64, 48)])
def test_ops_block_counts_the_operators_of_the_built_model(space, shape, rng) -> None:
    from hwnas.costs import count_layers
    from hwnas.nn import build_model

    context = FeatureContext(space, shape, 10)
    spec = FeatureSpec(["ops", "costs"])
    for _ in range(5):
        arch = space.sample(rng)
        row = dict(zip(spec.columns(context), spec.matrix(context, [arch])[0], strict=True))
        kinds = _module_kinds(build_model(space, arch, shape, 10))
        layers = count_layers(space, arch, shape, 10)
        # A transformer's attention products are fc operators without a module of their own.
        kinds["fc"] += sum(1 for x in layers if x.kind == "fc" and x.params == 0)
        for kind, n in kinds.items():
            assert row[f"n_{kind}"] == n, kind
        macs = sum(v for k, v in row.items() if k.startswith("macs_") and k != "macs_m")
        assert macs == pytest.approx(row["macs_m"])
        assert sum(x.params for x in layers) == count_costs_fast(space, arch, shape, 10).params


def test_lut_on_ops_features_recovers_an_operator_cost_model(rng) -> None:
    """Latency = per-operator overhead + per-MAC costs (depthwise dearer): recovered to 1 %."""
    space = create_space("mbconv")
    context = FeatureContext(space, (3, 32, 32), 10)
    spec = FeatureSpec(["ops", "costs"])
    archs = [space.sample(rng) for _ in range(120)]
    X = dict(zip(spec.columns(context), spec.matrix(context, archs).T, strict=True))
    true_ms = 0.004 + 0.002 * (X["n_pw"] + X["n_dw"]) + 0.05 * X["macs_pw"]
    true_ms += 0.3 * (X["macs_dw_k3"] + X["macs_dw_k5"] + X["macs_dw_k7"]) + 0.01 * X["act_hswish"]
    fp = synthetic_fingerprint("synthetic-ops")
    records = [synthetic_record(space, a, ms, fp) for a, ms in zip(archs, true_ms, strict=True)]
    onehot = LatencyPredictor(model="lut", features=["onehot", "costs"]).fit(records[:80])
    ops = LatencyPredictor(model="lut").fit(records[:80])
    held_out = true_ms[80:]
    ops_error = np.abs(ops.predict(archs[80:]) / held_out - 1)
    onehot_error = np.abs(onehot.predict(archs[80:]) / held_out - 1)
    assert ops_error.max() < 0.01
    assert onehot_error.mean() > 3 * ops_error.mean()
