"""The convnet space specifically: string format, canonical encoding, costs, supernet, and
the hand-designed networks as architectures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwnas.costs import count_costs, count_costs_fast
from hwnas.errors import ArchError, ConfigError
from hwnas.nn import build_model, recalibrate_batchnorm
from hwnas.nn.handmade import build_handmade
from hwnas.nn.supernet import build_supernet
from hwnas.spaces import ConvNetArch, ConvNetSpace, create_space
from hwnas.spaces.convnet import BLOCK_TYPES, Head, Stage, Stem, plan_strides

from ..conftest import make_realistic

SPACE = ConvNetSpace()
TEXT = "s16k3|plain-c16-k5-d1-s2|mbconv-c32-k3-e6-d2-s2|-|-|h128-f0"


def test_string_format_round_trips() -> None:
    arch = SPACE.parse(TEXT)
    assert arch == ConvNetArch(
        Stem(3, 16),
        (Stage("plain", 16, 5, 1, 2), Stage("mbconv", 32, 3, 2, 2, 6), None, None),
        Head(128, 0),
    )
    assert str(arch) == TEXT
    assert SPACE.decode(SPACE.encode(arch)) == arch


@pytest.mark.parametrize(
    "text,match",
    [
        ("s16k3|-|-|-|-|h0-f0", "first stage cannot be absent"),
        ("s16k3|plain-c16-k5-d1-s2|-|plain-c16-k5-d1-s2|-|h0-f0", "follows an absent stage"),
        ("s16k3|plain-c16-k5-d0-s2|-|-|-|h0-f0", "absent stage as '-'"),
        ("s16k3|plain-c16-k5-e6-d1-s2|-|-|-|h0-f0", "expand ratio"),
        ("s16k3|mbconv-c16-k5-d1-s2|-|-|-|h0-f0", "expand ratio"),
        ("s16k3|plain-c12-k5-d1-s2|-|-|-|h0-f0", r"stage 0 channels: expected one of \(8, 16"),
        ("s16k3|dense-c16-k5-d1-s2|-|-|-|h0-f0", "stage 0 block"),
        ("s16k7|plain-c16-k5-d1-s2|-|-|-|h0-f0", "stem kernel"),
        ("s16k3|plain-c16-k5-d1-s2|-|-|-|h32-f0", "head conv"),
        ("s16k3|plain-c16-k5-d1-s2|-|-|h0-f0", "a stem, 4 stages"),
        ("x16|plain-c16-k5-d1-s2|-|-|-|h0-f0", "stem"),
        ("s16k3|plain-c16-k5-d1-s2|-|-|-|head", "head"),
    ],
)
def test_bad_strings_say_what_is_wrong(text: str, match: str) -> None:
    with pytest.raises(ArchError, match=match):
        SPACE.parse(text)


def test_encoding_is_canonical_and_active_genes_are_exactly_those_with_an_effect() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        genes = [int(rng.integers(n)) for n in SPACE.n_choices]
        arch = SPACE.decode(genes)
        canonical = SPACE.encode(arch)
        active = SPACE.active_genes(np.asarray([genes]))[0]
        assert (SPACE.active_genes(np.asarray([canonical]))[0] == active).all()
        # Inactive genes are written as 0 and changing one changes nothing; changing an
        # active gene always changes the architecture.
        assert all(g == 0 for g, on in zip(canonical, active, strict=True) if not on)
        for i, n in enumerate(SPACE.n_choices):
            if n == 1:
                continue
            other = list(genes)
            other[i] = (genes[i] + 1) % n
            assert (SPACE.decode(other) == arch) == (not active[i]), (i, str(arch))


def test_non_mbconv_stages_and_absent_stages_encode_as_zero() -> None:
    arch = SPACE.parse("s8k5|basic-c64-k5-d3-s1|-|-|-|h0-f0")
    genes = SPACE.encode(arch)
    assert genes[2 + 4] == 0  # the expand ratio of a basic stage
    assert genes[8:-2] == (0,) * 18  # three absent stages
    assert SPACE.active_genes(np.asarray([genes]))[0].sum() == 2 + 5 + 1 + 2


def test_size_counts_every_distinct_architecture() -> None:
    space = ConvNetSpace(
        num_stages=2,
        depths=(0, 1),
        blocks=("plain", "mbconv"),
        widths=(8,),
        kernels=(3,),
        expands=(1, 3),
        strides=(1,),
        stem_kernels=(3,),
        stem_channels=(8,),
        head_channels=(0,),
        fc_hidden=(0,),
    )
    # A stage is plain, mbconv-e1 or mbconv-e3; one or two stages: 3 + 9 architectures.
    assert space.size() == 12
    rng = np.random.default_rng(0)
    assert len({space.sample(rng) for _ in range(600)}) == 12


def test_bad_configuration_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="kernels"):
        ConvNetSpace(kernels=(3, 4))
    with pytest.raises(ConfigError, match="blocks"):
        ConvNetSpace(blocks=("plain", "dense"))
    with pytest.raises(ConfigError, match="strides"):
        ConvNetSpace(strides=(1, 3))
    assert create_space("convnet", fc_hidden=(0, 64)).file_stem.startswith("convnet-")


@pytest.mark.parametrize(
    "hw,stem,strides", [((8, 8), 1, [2, 2, 1]), ((32, 32), 1, [2, 2, 2]), ((64, 64), 2, [2, 2, 2])]
)
def test_strides_adapt_to_input(hw, stem, strides) -> None:
    arch = SPACE.parse("s8k3|plain-c8-k3-d1-s2|plain-c8-k3-d1-s2|plain-c8-k3-d1-s2|-|h0-f0")
    assert plan_strides(arch, *hw) == (stem, strides)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_closed_form_costs_equal_fvcore(shape) -> None:
    rng = np.random.default_rng(sum(shape))
    archs = [SPACE.smallest(), SPACE.largest(), *(SPACE.sample(rng) for _ in range(6))]
    archs += [SPACE.parse(text) for text in SPACE.baselines().values()]
    for arch in archs:
        model = build_model(SPACE, arch, shape, 10)
        assert count_costs_fast(SPACE, arch, shape, 10) == count_costs(model, shape), str(arch)


def test_smallest_and_largest_bound_the_macs_of_samples() -> None:
    rng = np.random.default_rng(1)
    for shape in [(1, 8, 8), (3, 32, 32)]:
        low = count_costs_fast(SPACE, SPACE.smallest(), shape, 10).macs
        high = count_costs_fast(SPACE, SPACE.largest(), shape, 10).macs
        for _ in range(200):
            macs = count_costs_fast(SPACE, SPACE.sample(rng), shape, 10).macs
            assert low <= macs <= high


def _stage_archs(block: str) -> list[ConvNetArch]:
    """Architectures exercising ``block``: projections and identities, both strides,
    several depths, kernels and widths, with and without head convolution and hidden layer."""
    expand = "-e6" if block == "mbconv" else ""
    e1 = "-e1" if block == "mbconv" else ""
    return [
        SPACE.parse(
            f"s16k5|{block}-c16-k3{expand}-d2-s1|{block}-c32-k5{e1}-d3-s2|"
            f"{block}-c64-k3{expand}-d1-s2|{block}-c8-k5{expand}-d2-s1|h64-f128"
        ),
        SPACE.parse(f"s24k3|{block}-c8-k5{e1}-d1-s2|{block}-c8-k3{expand}-d2-s1|-|-|h0-f0"),
    ]


@pytest.mark.parametrize("block", BLOCK_TYPES)
def test_supernet_subnets_equal_the_models_they_extract(block: str) -> None:
    shape = (1, 8, 8)
    supernet = build_supernet(SPACE, shape, 10, seed=0)
    make_realistic(supernet, shape)  # trained-like batch norms and classifiers
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, *shape, generator=g)
    for arch in _stage_archs(block):
        supernet.set_active(arch)
        recalibrate_batchnorm(supernet, [torch.randn(16, *shape, generator=g)])
        model = supernet.extract(arch).eval()
        assert type(model) is type(build_model(SPACE, arch, shape, 10))
        with torch.no_grad():
            expected = supernet(x, arch)
            assert expected.abs().max() > 1e-3
            torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-5)


def test_the_hand_designed_networks_are_architectures_of_the_space() -> None:
    named = SPACE.baselines()
    assert set(named) == {"lenet5", "resnet8", "mobilenetv2"}
    for text in named.values():
        assert str(SPACE.parse(text)) == text
    # ResNet-8 is exactly the hand-made one.
    for shape in [(1, 8, 8), (3, 32, 32)]:
        ours = build_model(SPACE, SPACE.parse(named["resnet8"]), shape, 10)
        theirs = build_handmade("resnet8", shape, 10)
        assert count_costs(ours, shape) == count_costs(theirs, shape)


def test_a_space_without_a_baseline_choice_leaves_it_out() -> None:
    assert set(ConvNetSpace(blocks=("plain", "basic")).baselines()) == {"lenet5", "resnet8"}
    assert ConvNetSpace(num_stages=2).baselines().keys() == {"lenet5"}


def test_absent_stages_round_trip_whatever_the_order_of_depths() -> None:
    space = create_space("convnet", depths=(1, 2, 3, 0))
    arch = space.parse("s8k3|plain-c8-k3-d1-s1|-|-|-|h0-f0")
    assert space.decode(space.encode(arch)) == arch
    assert space.decode(space.encode(space.smallest())) == space.smallest()
