"""MACs and parameters: hand-computed values and the published NAS-Bench-201 extremes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hwnas.costs import count_costs, count_macs, count_params
from hwnas.nn import build_model
from hwnas.spaces import NB201Space


def test_hand_computed_small_network() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),  # 8*3*3*3 MACs per output pixel
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False),  # depthwise: 3*3 per output
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    )
    h = w = 4
    expected_macs = (8 * 3 * 3 * 3) * h * w + (8 * 3 * 3) * h * w + 8 * 10
    expected_params = 8 * 3 * 9 + 2 * 8 + 8 * 9 + 8 * 10 + 10
    assert count_macs(model, (3, h, w)) == expected_macs
    assert count_params(model) == expected_params
    costs = count_costs(model, (3, h, w))
    assert costs.flops == 2 * expected_macs
    assert costs.to_dict() == {"macs": expected_macs, "params": expected_params}


def test_counting_leaves_training_mode_alone() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2)).train()
    count_macs(model, (1, 2, 2))
    assert model.training


@pytest.mark.parametrize(
    "op,published_params_m,published_macs_m",
    [("nor_conv_3x3", 1.53, 220.0), ("none", 0.07, 7.8)],
)
def test_nb201_extremes_match_the_paper(op, published_params_m, published_macs_m) -> None:
    space = NB201Space()
    arch = space.decode(
        [("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3").index(op)] * 6
    )
    torch.manual_seed(0)
    costs = count_costs(build_model(space, arch, (3, 32, 32), 10), (3, 32, 32))
    # The paper rounds to two (params) and one-to-two (FLOPs) significant decimals.
    assert costs.params / 1e6 == pytest.approx(published_params_m, rel=0.02, abs=0.005)
    assert costs.macs / 1e6 == pytest.approx(published_macs_m, rel=0.02)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (3, 7, 9), (3, 1, 1), (3, 64, 48)])
def test_fast_costs_equal_fvcore(space, shape) -> None:
    import numpy as np

    from hwnas.costs import count_costs_fast

    rng = np.random.default_rng(sum(shape))
    for _ in range(4):
        arch = space.sample(rng)
        model = build_model(space, arch, shape, 10)
        assert count_costs_fast(space, arch, shape, 10) == count_costs(model, shape)


def test_odd_input_sizes_build_and_export_for_nb201(tmp_path) -> None:
    from hwnas.onnx_export import export_onnx, onnx_parity

    space = NB201Space()
    model = build_model(space, space.from_index(1), (3, 7, 9), 10).eval()
    assert model(torch.zeros(2, 3, 7, 9)).shape == (2, 10)
    path = export_onnx(model, tmp_path / "odd.onnx", (3, 7, 9))
    assert onnx_parity(model, path, torch.zeros(2, 3, 7, 9)) <= 1e-4
