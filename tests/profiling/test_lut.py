"""Per-block lookup tables: geometry, real measurements, resume, the block-lut feature."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hwnas.cli import main
from hwnas.errors import ConfigError, HwnasError
from hwnas.predictors import LatencyPredictor
from hwnas.predictors.features import BlockLutBlock, FeatureContext, FeatureSpec
from hwnas.profiling import create_runtime
from hwnas.profiling.fingerprint import device_id
from hwnas.profiling.lut import lut_feature_block, measure_lut, read_lut
from hwnas.spaces import create_space
from tests.predictors.synthetic import synthetic_fingerprint, synthetic_record

FAST = {"warmup": 1, "min_repeats": 3, "max_repeats": 5, "max_seconds": 0.2, "min_seconds": 0.0}
#: A small mbconv configuration whose whole table measures in seconds.
TINY = {
    "stage_channels": (8, 16),
    "stage_strides": (2, 2),
    "depths": (1, 2),
    "kernels": (3, 5),
    "expands": (1, 3),
    "widths": (0.5, 1.0),
    "activations": ("relu",),
    "se": (False, True),
    "stem_channels": 8,
    "head_channels": 32,
}


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (3, 224, 224), (3, 17, 23)])
def test_the_table_covers_every_block_and_the_blocks_chain(shape, rng) -> None:
    space = create_space("mbconv")
    keys = {spec.key for spec in space.table_blocks(shape)}
    assert len(keys) == len(space.table_blocks(shape))
    for _ in range(20):
        arch = space.sample(rng)
        blocks = space.arch_table_blocks(arch, shape)
        assert {b.key for b in blocks} <= keys
        assert len(blocks) == 2 + sum(len(stage.blocks) for stage in arch.stages)
    # Each block's input is the previous block's output (run the smallest network).
    x = torch.zeros(1, *shape)
    with torch.no_grad():
        for spec in space.arch_table_blocks(space.smallest(), shape)[:-1]:
            assert tuple(x.shape[1:]) == spec.input_shape, spec.key
            x = spec.module(10).eval()(x)


def test_a_space_without_a_block_table_is_refused_by_name(tmp_path) -> None:
    nb201 = create_space("nb201")
    assert nb201.table_blocks((3, 32, 32)) is None
    with pytest.raises(ConfigError, match="space: expected a space with a block lookup table"):
        nb201.arch_table_blocks(nb201.largest(), (3, 32, 32))
    runtime = create_runtime("onnxruntime-cpu", threads=1)
    with pytest.raises(ConfigError, match="space: expected a space with a block lookup table"):
        measure_lut(nb201, runtime, input_shape=(3, 32, 32), num_classes=10, root=tmp_path)


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    root = tmp_path_factory.mktemp("profiles")
    space = create_space("mbconv", **TINY)
    runtime = create_runtime("onnxruntime-cpu", threads=1)
    run = measure_lut(
        space, runtime, input_shape=(1, 8, 8), num_classes=10, root=root, protocol=FAST
    )
    return space, runtime, root, run


def test_measure_lut_writes_every_block_once_and_resumes(measured) -> None:
    space, runtime, root, run = measured
    specs = space.table_blocks((1, 8, 8))
    assert run.measured == run.total == len(specs) and run.skipped == 0
    assert run.path.name == f"{space.file_stem}-lut.jsonl"
    table = read_lut(run.path)
    assert set(table["ms"]) == {s.key for s in specs}
    assert all(v > 0 for v in table["ms"].values())
    again = measure_lut(
        space, runtime, input_shape=(1, 8, 8), num_classes=10, root=root, protocol=FAST
    )
    assert again.measured == 0 and again.skipped == len(specs)
    # Models with another number of classes (another head) are refused, the table kept.
    before = run.path.read_bytes()
    with pytest.raises(HwnasError, match="models with 10 classes; these have 5"):
        measure_lut(space, runtime, input_shape=(1, 8, 8), num_classes=5, root=root, protocol=FAST)
    assert run.path.read_bytes() == before


def test_measuring_after_a_crash_cuts_the_torn_line_first(measured, tmp_path) -> None:
    space, runtime, _, run = measured
    root = tmp_path / "profiles"
    path = root / run.path.relative_to(run.path.parents[1])
    path.parent.mkdir(parents=True)
    lines = run.path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:25])  # killed mid-write
    again = measure_lut(
        space, runtime, input_shape=(1, 8, 8), num_classes=10, root=root, protocol=FAST
    )
    assert again.measured == 1
    assert len(path.read_text().splitlines()) == len(lines)
    assert set(read_lut(path)["ms"]) == set(read_lut(run.path)["ms"])


def test_read_lut_ignores_a_torn_tail_and_names_bad_lines(measured, tmp_path) -> None:
    _, _, _, run = measured
    lines = run.path.read_text().splitlines()
    torn = tmp_path / "torn.jsonl"
    torn.write_text("\n".join(lines) + '\n{"format": 1, "key": "blo')
    assert read_lut(torn)["ms"] == read_lut(run.path)["ms"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(lines[0] + "\nnot json\n" + lines[1] + "\n")
    with pytest.raises(HwnasError, match="line 2: not valid JSON"):
        read_lut(bad)
    other = json.loads(lines[1])
    other["device_id"] = "cpu-other"
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(lines[0] + "\n" + json.dumps(other) + "\n")
    with pytest.raises(HwnasError, match="line 2: device_id 'cpu-other' differs"):
        read_lut(mixed)


def test_block_lut_feature_is_the_sum_and_persists(measured, tmp_path) -> None:
    space, _, _, run = measured
    block = lut_feature_block(run.path)
    table = read_lut(run.path)["ms"]
    rng = np.random.default_rng(0)
    archs = list({str(a): a for a in (space.sample(rng) for _ in range(60))}.values())
    context = FeatureContext(space, (1, 8, 8), 10)
    spec = FeatureSpec(["costs", block])
    lut_ms = spec.matrix(context, archs)[:, -1]
    expected = [sum(table[b.key] for b in space.arch_table_blocks(a, (1, 8, 8))) for a in archs]
    np.testing.assert_allclose(lut_ms, expected)
    # A device whose latency is 0.01 ms + 1.2 x the table sum: lut recovers it exactly.
    fp = {**synthetic_fingerprint("lut-device"), "input_shape": [1, 8, 8]}
    fp["device_id"] = device_id(fp)
    records = [
        synthetic_record(space, a, ms, fp, (1, 8, 8))
        for a, ms in zip(archs, 0.01 + 1.2 * lut_ms, strict=True)
    ]
    predictor = LatencyPredictor(model="lut", features=["costs", block]).fit(records, space)
    loaded = LatencyPredictor.load(predictor.save(tmp_path / "p.json"))
    np.testing.assert_allclose(loaded.predict(archs), 0.01 + 1.2 * lut_ms, rtol=1e-6)
    with pytest.raises(HwnasError, match="measured for input shape"):
        FeatureSpec([BlockLutBlock(table, "x", [3, 32, 32])]).matrix(context, archs[:1])
    with pytest.raises(HwnasError, match="not in the lookup table"):
        FeatureSpec([BlockLutBlock({"stem:1>8@8x8/1": 1.0})]).matrix(context, archs[:1])


def test_profile_cli_lut_errors(capsys, tmp_path) -> None:
    args = ["profile", "--space", "nb201", "--lut", "--input-shape", "3,32,32", "--classes", "10"]
    assert main([*args, "--out-dir", str(tmp_path)]) == 2
    assert "space: expected a space with a block lookup table" in capsys.readouterr().err
    assert main(["profile", "--space", "mbconv", "--input-shape", "1,8,8", "--classes", "10"]) == 2
    assert "-n: expected -n N (sample N architectures), --archs FILE or --lut" in (
        capsys.readouterr().err
    )
    assert main(["fit", str(tmp_path / "p.jsonl"), "--lut", str(tmp_path / "none.jsonl")]) == 2
    assert "no such" in capsys.readouterr().err
