"""Every registered space: sampling, encodings, string and JSON round trips, mutation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwnas.errors import ArchError, ConfigError
from hwnas.spaces import SearchSpace, create_space, list_spaces


def test_registry_lists_both_spaces() -> None:
    assert {"mbconv", "nb201"} <= set(list_spaces())


def test_unknown_space_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="mbconv, nb201"):
        create_space("resnet-nope")


def test_sample_is_deterministic_for_a_seed(space: SearchSpace) -> None:
    a = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    b = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    assert a == b
    many = {space.sample(np.random.default_rng(s)) for s in range(20)}
    assert len(many) > 10


def test_round_trips(space: SearchSpace, rng: np.random.Generator) -> None:
    for _ in range(50):
        arch = space.sample(rng)
        assert space.parse(str(arch)) == arch
        assert space.decode(space.encode(arch)) == arch
        assert space.from_json(json.loads(json.dumps(space.to_json(arch)))) == arch
        assert hash(arch) == hash(space.parse(str(arch)))
        enc = space.encode(arch)
        assert len(enc) == space.n_dims
        assert all(0 <= g < n for g, n in zip(enc, space.n_choices, strict=True))


def test_encoding_property(space: SearchSpace) -> None:
    @settings(max_examples=200, deadline=None)
    @given(st.data())
    def check(data: st.DataObject) -> None:
        genes = [data.draw(st.integers(0, n - 1)) for n in space.n_choices]
        arch = space.decode(genes)
        canonical = space.encode(arch)
        # Decoding ignores genes without effect; the canonical encoding is a fixed point.
        assert space.decode(canonical) == arch
        assert space.encode(space.decode(canonical)) == canonical
        assert space.parse(str(arch)) == arch

    check()


def test_mutate_changes_and_stays_in_space(space: SearchSpace, rng: np.random.Generator) -> None:
    arch = space.sample(rng)
    for _ in range(30):
        child = space.mutate(arch, rng)
        assert child != arch
        assert space.parse(str(child)) == child


def test_bad_encodings_are_rejected(space: SearchSpace) -> None:
    with pytest.raises(ArchError, match="expected"):
        space.decode([0] * (space.n_dims + 1))
    bad = [0] * space.n_dims
    bad[0] = space.n_choices[0]
    with pytest.raises(ArchError, match=r"encoding\[0\]"):
        space.decode(bad)


@pytest.mark.parametrize("text", ["", "garbage", "|x~0|", "a|b|c"])
def test_bad_strings_are_rejected(space: SearchSpace, text: str) -> None:
    with pytest.raises(ArchError):
        space.parse(text)


def test_json_from_another_space_is_rejected(space: SearchSpace) -> None:
    with pytest.raises(ArchError, match="space"):
        space.from_json({"space": "other", "arch": "x"})


def test_fingerprint_depends_on_configuration() -> None:
    assert create_space("nb201").fingerprint() == create_space("nb201").fingerprint()
    assert (
        create_space("nb201").fingerprint()
        != create_space("nb201", channels=(8, 16, 32)).fingerprint()
    )


#: A non-default configuration of each space (a new space adds one here).
OTHER_CONFIGS = {
    "mbconv": {"head_channels": 128},
    "nb201": {"channels": (8, 16, 32)},
    "convnet": {"fc_hidden": (0, 64)},
    "transformer": {"embed_dims": (64, 128)},
}


def test_file_stem_separates_space_configurations(space) -> None:
    assert space.file_stem == space.name
    other = create_space(space.name, **OTHER_CONFIGS[space.name])
    assert other.file_stem == f"{space.name}-{other.fingerprint()}"
    assert other.file_stem != space.file_stem
