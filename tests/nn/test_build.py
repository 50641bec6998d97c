"""Every space builds models that run, export to ONNX and match onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwnas.errors import ArchError, ConfigError
from hwnas.nn import build_model
from hwnas.onnx_export import export_onnx, onnx_parity
from hwnas.spaces import MBConvSpace, SearchSpace, create_space
from hwnas.spaces.mbconv import plan_strides

from ..conftest import SMALL_SHAPES, make_realistic


def test_sample_build_forward_export_parity(space: SearchSpace, tmp_path) -> None:
    rng = np.random.default_rng(3)
    shape = SMALL_SHAPES[space.name]
    for i in range(3):
        arch = space.sample(rng)
        torch.manual_seed(i)
        model = build_model(space, arch, shape, 7)
        make_realistic(model, shape, seed=i)
        x = torch.randn(5, *shape, generator=torch.Generator().manual_seed(i))
        out = model(x)
        assert out.shape == (5, 7)
        assert torch.isfinite(out).all()
        assert out.abs().max() > 1e-3  # the parity check compares real numbers
        path = export_onnx(model, tmp_path / f"m{i}.onnx", shape, metadata={"arch": str(arch)})
        assert onnx_parity(model, path, x) <= 1e-4


def test_onnx_metadata_and_dynamic_batch(tmp_path) -> None:
    import onnx

    space = create_space("nb201")
    arch = space.from_index(0)
    model = build_model(space, arch, (3, 8, 8), 10)
    make_realistic(model, (3, 8, 8))
    path = export_onnx(model, tmp_path / "m.onnx", (3, 8, 8), metadata={"hwnas.arch": str(arch)})
    proto = onnx.load(path)
    assert {p.key: p.value for p in proto.metadata_props}["hwnas.arch"] == str(arch)
    batch_dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param == "batch"
    assert onnx_parity(model, path, torch.randn(3, 3, 8, 8)) <= 1e-4


@pytest.mark.parametrize(
    "hw,stem,strides",
    [
        ((8, 8), 1, [2, 2, 1, 1, 1]),
        ((32, 32), 1, [2, 2, 2, 1, 2]),
        ((224, 224), 2, [2, 2, 2, 1, 2]),
        ((1, 1), 1, [1, 1, 1, 1, 1]),
    ],
)
def test_strides_adapt_to_input(hw, stem, strides) -> None:
    assert plan_strides(MBConvSpace(), *hw) == (stem, strides)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (3, 224, 224), (3, 1, 1), (1, 5, 3)])
def test_mbconv_builds_from_tiny_to_imagenet_inputs(shape) -> None:
    space = MBConvSpace()
    for arch in (space.smallest(), space.largest()):
        model = build_model(space, arch, shape, 10).eval()
        feats = model.blocks(model.stem(torch.zeros(1, *shape)))
        assert min(feats.shape[2:]) >= 1
        assert model(torch.zeros(1, *shape)).shape == (1, 10)
    # 224x224 inputs end at 7x7, as in MobileNetV3.
    if shape == (3, 224, 224):
        assert feats.shape[2:] == (7, 7)


def test_build_validates_its_arguments() -> None:
    space = create_space("nb201")
    arch = space.from_index(0)
    with pytest.raises(ConfigError, match="input_shape"):
        build_model(space, arch, (3, 8), 10)
    with pytest.raises(ConfigError, match="num_classes"):
        build_model(space, arch, (3, 8, 8), 1)
    with pytest.raises(ArchError, match="space"):
        build_model(create_space("mbconv"), arch, (3, 8, 8), 10)
