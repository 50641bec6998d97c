"""Supernets: subnets with inherited weights equal their extracted standalone models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwnas.errors import ArchError, ConfigError
from hwnas.nn import HwnasNet, build_model
from hwnas.nn.supernet import build_supernet, recalibrate_subnet
from hwnas.onnx_export import export_onnx, onnx_parity
from hwnas.spaces import MBConvSpace, SearchSpace, create_space, list_spaces

from ..conftest import SMALL_SHAPES


def _randomise_affine(model: torch.nn.Module, seed: int) -> None:
    """Non-trivial batch-norm affine parameters and biases, as after training."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            elif isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.1)


def _archs(space: SearchSpace, n_random: int = 2) -> list:
    rng = np.random.default_rng(7)
    return [space.largest(), space.smallest(), *(space.sample(rng) for _ in range(n_random))]


@pytest.mark.parametrize("name", list_spaces())
def test_extract_matches_subnet_and_onnx(name: str, tmp_path) -> None:
    space = create_space(name)
    shape = SMALL_SHAPES[name]
    supernet = build_supernet(space, shape, 7, seed=0)
    _randomise_affine(supernet, 0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, *shape, generator=g)
    for i, arch in enumerate(_archs(space)):
        recalibrate_subnet(supernet, arch, [torch.randn(16, *shape, generator=g) for _ in range(2)])
        model = supernet.extract(arch)
        assert isinstance(model, HwnasNet)
        assert type(model) is type(build_model(space, arch, shape, 7))
        model.eval()
        with torch.no_grad():
            expected = supernet(x, arch)
            assert expected.abs().max() > 1e-3
            assert (model(x) - expected).abs().max() <= 1e-5
        if i == 3:  # one export per space keeps the test fast
            path = export_onnx(model, tmp_path / f"{name}.onnx", shape)
            assert onnx_parity(model, path, x) <= 1e-4


def test_forward_with_arch_equals_set_active() -> None:
    space = create_space("mbconv")
    supernet = build_supernet(space, (1, 8, 8), 10, seed=0).eval()
    arch = _archs(space)[2]
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        direct = supernet(x, arch)
        assert supernet.active == space.largest()
        supernet.set_active(arch)
        assert torch.equal(supernet(x), direct)


def test_subnets_share_weights() -> None:
    space = create_space("mbconv")
    supernet = build_supernet(space, (1, 8, 8), 10, seed=0)
    small, large = space.smallest(), space.largest()
    small_model = supernet.extract(small)
    large_model = supernet.extract(large)
    # The smallest subnet's depthwise 3x3 kernel is the centre of the largest one's 7x7.
    small_dw = small_model.blocks[0].body[0][0].weight
    large_dw = large_model.blocks[0].body[1][0].weight
    assert torch.equal(small_dw, large_dw[: small_dw.shape[0], :, 2:5, 2:5])
    # Extracted models hold copies.
    with torch.no_grad():
        small_dw.add_(1.0)
    assert not torch.equal(
        small_model.blocks[0].body[0][0].weight, supernet.extract(small).blocks[0].body[0][0].weight
    )


def test_only_active_weights_get_gradients() -> None:
    space = create_space("nb201")
    supernet = build_supernet(space, (3, 8, 8), 5, seed=0)
    arch = space.parse("|nor_conv_1x1~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|none~2|")
    supernet(torch.randn(2, 3, 8, 8), arch).sum().backward()
    cell = supernet.cells[0]
    assert cell.edges[0]["nor_conv_1x1"][1].weight.grad is not None
    assert cell.edges[0]["nor_conv_3x3"][1].weight.grad is None


def test_build_supernet_is_seeded_and_leaves_global_rng_alone() -> None:
    space = MBConvSpace(stage_channels=(8, 16), stage_strides=(2, 2), depths=(1, 2))
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = build_supernet(space, (1, 8, 8), 3, seed=5)
    assert torch.equal(torch.get_rng_state(), before)
    b = build_supernet(space, (1, 8, 8), 3, seed=5)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k


def test_errors_name_the_problem() -> None:
    mbconv = create_space("mbconv")
    nb201 = create_space("nb201")
    supernet = build_supernet(mbconv, (1, 8, 8), 10, seed=0)
    with pytest.raises(ArchError, match="nb201"):
        supernet(torch.zeros(1, 1, 8, 8), nb201.largest())
    with pytest.raises(ArchError):
        supernet.set_active(MBConvSpace(widths=(2.0,)).largest())
    with pytest.raises(ConfigError, match="input_shape"):
        build_supernet(mbconv, (8, 8), 10)
    with pytest.raises(ConfigError, match="num_classes"):
        build_supernet(nb201, (3, 8, 8), 1)
