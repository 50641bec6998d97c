"""NAS-Bench-201: every official string parses and round-trips to its official index."""

from __future__ import annotations

import csv
import gzip
from importlib import resources

import pytest

from hwnas.errors import ArchError
from hwnas.spaces import NB201Arch, NB201Space


def _table() -> list[tuple[int, str]]:
    path = resources.files("hwnas.resources").joinpath("nb201.csv.gz")
    with path.open("rb") as raw, gzip.open(raw, "rt", newline="") as text:
        return [(int(r["arch_index"]), r["arch_str"]) for r in csv.DictReader(text)]


def test_every_benchmark_string_round_trips_to_its_index() -> None:
    space = NB201Space()
    rows = _table()
    assert len(rows) == space.size() == 15625
    seen = set()
    for index, text in rows:
        arch = space.parse(text)
        assert str(arch) == text
        assert space.index(arch) == index
        assert space.from_index(index) == arch
        assert space.decode(space.encode(arch)) == arch
        seen.add(space.encode(arch))
    assert len(seen) == 15625


def test_edges_follow_the_official_order() -> None:
    space = NB201Space()
    arch = space.parse(
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    )
    assert arch.edge(1, 0) == "nor_conv_3x3"
    assert arch.edge(2, 1) == "avg_pool_3x3"
    assert arch.edge(3, 2) == "nor_conv_3x3"
    assert space.encode(arch) == (3, 2, 4, 1, 0, 3)


def test_bad_index_and_ops() -> None:
    with pytest.raises(ArchError, match="index"):
        NB201Space().from_index(15625)
    with pytest.raises(ArchError, match="ops"):
        NB201Arch(("conv",) * 6)
    with pytest.raises(ArchError, match="edge"):
        NB201Space().parse("|nor_conv_3x3~1|+|none~0|none~1|+|none~0|none~1|none~2|")
