"""The mbconv space specifically: string format, sizes, elastic depth."""

from __future__ import annotations

import numpy as np
import pytest

from hwnas.errors import ArchError
from hwnas.spaces import MBBlock, MBConvArch, MBConvSpace, MBStage


def test_string_format() -> None:
    space = MBConvSpace(stage_channels=(16, 24), stage_strides=(2, 2))
    arch = space.parse("w1-relu:k3e4,k5e6|w0.75-hswish-se:k7e1")
    assert arch == MBConvArch(
        (
            MBStage(1.0, "relu", False, (MBBlock(3, 4), MBBlock(5, 6))),
            MBStage(0.75, "hswish", True, (MBBlock(7, 1),)),
        )
    )
    assert str(arch) == "w1-relu:k3e4,k5e6|w0.75-hswish-se:k7e1"
    assert arch.depth == 3


def test_size_counts_elastic_depth() -> None:
    space = MBConvSpace(
        stage_channels=(8,),
        stage_strides=(1,),
        depths=(1, 2),
        kernels=(3, 5),
        expands=(1,),
        widths=(1.0,),
        activations=("relu",),
        se=(False,),
    )
    # Depth 1: 2 kernel choices; depth 2: 4 -> 6 distinct architectures.
    assert space.size() == 6
    rng = np.random.default_rng(0)
    assert len({space.sample(rng) for _ in range(400)}) == 6


def test_inactive_slots_do_not_matter() -> None:
    space = MBConvSpace()
    arch = space.smallest()
    genes = list(space.encode(arch))
    genes[4 + 2 * 3] = 2  # kernel of block slot 3 of stage 0, beyond depth 1
    assert space.decode(genes) == arch
    assert space.encode(space.decode(genes)) == space.encode(arch)


@pytest.mark.parametrize(
    "text,match",
    [
        ("w2-relu:k3e4|w1-relu:k3e4|w1-relu:k3e4|w1-relu:k3e4|w1-relu:k3e4", "width"),
        ("w1-gelu:k3e4|w1-relu:k3e4|w1-relu:k3e4|w1-relu:k3e4|w1-relu:k3e4", "activation"),
        ("w1-relu:k4e4|w1-relu:k3e4|w1-relu:k3e4|w1-relu:k3e4|w1-relu:k3e4", "kernel"),
        (
            "w1-relu:k3e4,k3e4,k3e4,k3e4,k3e4|w1-relu:k3e4|w1-relu:k3e4|w1-relu:k3e4|w1-relu:k3e4",
            "depth",
        ),
        ("w1-relu:k3e4|w1-relu:k3e4", "5 stages"),
    ],
)
def test_parse_errors_name_the_problem(text: str, match: str) -> None:
    with pytest.raises(ArchError, match=match):
        MBConvSpace().parse(text)


def test_constructor_validation() -> None:
    with pytest.raises(ArchError, match="kernels"):
        MBConvSpace(kernels=(3, 4))
    with pytest.raises(ArchError, match="stage_strides"):
        MBConvSpace(stage_strides=(2, 2))
    with pytest.raises(ArchError, match="activations"):
        MBConvSpace(activations=("gelu",))


def test_arch_with_foreign_choice_cannot_be_encoded() -> None:
    space = MBConvSpace()
    stage = MBStage(1.0, "relu", False, (MBBlock(9, 4),))
    with pytest.raises(ArchError, match="outside this space"):
        space.encode(MBConvArch((stage,) * 5))
