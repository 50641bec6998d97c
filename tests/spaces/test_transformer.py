"""The ``transformer`` space: encoding, strings, costs against fvcore, the super-transformer,
ONNX export with token-id inputs.

The image path (pixels as tokens) is covered by ``test_every_space_end_to_end.py``; this
file covers what is particular to the space and its token-id inputs ``(L,)``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwnas.costs import count_costs
from hwnas.errors import ArchError, ConfigError
from hwnas.onnx_export import export_onnx, onnx_parity
from hwnas.spaces import create_space
from hwnas.spaces.transformer import EncoderLayer, TransformerArch, TransformerSpace

TOKENS = (24,)
CLASSES = 3


@pytest.fixture
def space() -> TransformerSpace:
    return TransformerSpace()


def token_batch(n: int, seed: int = 0) -> torch.Tensor:
    """Random ids with padding at the end of every row but the first (one all padding)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(2, 256, (n, *TOKENS), generator=g)
    for row in range(1, n):
        x[row, TOKENS[0] - 3 * row :] = 0
    x[-1] = 0
    return x


def test_strings_encodings_and_json_round_trip(space: TransformerSpace) -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        arch = space.sample(rng)
        assert space.parse(str(arch)) == arch
        assert space.decode(space.encode(arch)) == arch
        assert space.from_json(space.to_json(arch)) == arch
    arch = space.parse("e128|h4-f512|h2-f256")
    assert arch == TransformerArch(128, (EncoderLayer(4, 512), EncoderLayer(2, 256)))
    assert str(arch) == "e128|h4-f512|h2-f256"


def test_size_counts_every_distinct_encoding() -> None:
    space = TransformerSpace(embed_dims=(8, 16), depths=(1, 2), heads=(1, 2), ffn_dims=(8,))
    encodings = {space.encode(space.decode(e)) for e in np.ndindex(*space.n_choices)}
    assert len(encodings) == space.size() == 2 * (2 + 4)


def test_genes_of_absent_layers_are_inactive_and_written_as_zero(space) -> None:
    arch = space.parse("e64|h2-f256")
    encoding = space.encode(arch)
    assert encoding[4:] == (0,) * (space.n_dims - 4)
    mask = space.active_genes(np.array([encoding]))[0]
    assert mask.tolist() == [True] * 4 + [False] * (space.n_dims - 4)
    changed = list(encoding)
    changed[5] = 2  # the second slot's ffn: no effect at depth 1
    assert space.decode(changed) == arch


@pytest.mark.parametrize(
    "text",
    ["e100|h4-f512", "e128", "e128|h3-f512", "e128|h4-f512|h4-f512|h4-f512|h4-f512|h4-f512", "x"],
)
def test_strings_outside_the_space_are_refused(space, text: str) -> None:
    with pytest.raises(ArchError):
        space.parse(text)


def test_bad_configurations_name_the_field() -> None:
    with pytest.raises(ConfigError, match="heads"):
        TransformerSpace(heads=(2, 2))
    with pytest.raises(ConfigError, match="vocab_size"):
        TransformerSpace(vocab_size=1)


def test_smallest_and_largest_bound_the_macs_of_samples(space) -> None:
    def macs(arch: TransformerArch) -> int:
        return sum(layer.macs for layer in space.layers(arch, TOKENS, CLASSES))

    samples = [macs(space.sample(np.random.default_rng(s))) for s in range(30)]
    assert macs(space.smallest()) <= min(samples) and max(samples) <= macs(space.largest())


def test_the_baseline_is_a_two_layer_128_wide_encoder(space) -> None:
    (text,) = space.baselines().values()
    arch = space.parse(text)
    assert arch.depth == 2 and arch.embed == 128
    assert all(layer.heads * space.head_dim == 128 for layer in arch.layers)
    narrow = TransformerSpace(embed_dims=(64,))
    assert narrow.baselines() == {}


@pytest.mark.parametrize("shape", [TOKENS, (3, 4, 5)])
def test_closed_form_costs_equal_fvcore_attention_included(space, shape) -> None:
    rng = np.random.default_rng(1)
    for arch in [space.smallest(), space.largest(), *(space.sample(rng) for _ in range(3))]:
        model = space.build(arch, shape, CLASSES)
        layers = space.layers(arch, shape, CLASSES)
        assert count_costs(model, shape).macs == sum(x.macs for x in layers)
        assert count_costs(model, shape).params == sum(x.params for x in layers)
    # The attention products are in the count: L * L * (heads * head_dim) each, twice.
    arch = space.parse("e64|h2-f128")
    attention = [x for x in space.layers(arch, TOKENS, CLASSES) if x.kind == "fc" and x.params == 0]
    assert [x.macs for x in attention] == [TOKENS[0] ** 2 * 64] * 2


def test_padding_is_ignored_by_attention_and_pooling(space) -> None:
    model = space.build(space.parse("e64|h2-f128|h1-f256"), TOKENS, CLASSES).eval()
    x = token_batch(4)[:-1]  # every row has text, all but the first have padding
    with torch.no_grad():
        before = model(x)
        model.embed.weight[0].normal_()  # what a padding position carries
        after = model(x)
        model.embed.weight[x[0, 0]].normal_()  # a character that occurs: changes the output
        changed = model(x)
    torch.testing.assert_close(before, after, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(before, changed)


@pytest.mark.parametrize("shape", [TOKENS, (2, 3, 3)])
def test_supernet_subnets_equal_the_models_they_extract(space, shape) -> None:
    torch.manual_seed(0)
    supernet = space.build_supernet(shape, CLASSES).eval()
    x = token_batch(4) if len(shape) == 1 else torch.randn(4, *shape)
    rng = np.random.default_rng(2)
    for arch in [space.smallest(), space.largest(), space.sample(rng), space.sample(rng)]:
        model = supernet.extract(arch).eval()
        with torch.no_grad():
            torch.testing.assert_close(supernet(x, arch), model(x), rtol=1e-5, atol=1e-6)


def test_subnets_share_weights(space) -> None:
    supernet = space.build_supernet(TOKENS, CLASSES)
    small, large = space.smallest(), space.largest()
    loss = supernet(token_batch(2), small).sum()
    loss.backward()
    grad = supernet.slots[0].q.weight.grad
    assert grad is not None
    assert grad[:32, :64].abs().sum() > 0 and grad[32:].abs().sum() == 0
    assert supernet(token_batch(2), large).shape == (2, CLASSES)


def test_token_models_export_to_onnx_with_int64_input_and_parity(space, tmp_path) -> None:
    import onnx

    model = space.build(space.sample(np.random.default_rng(3)), TOKENS, CLASSES).eval()
    path = export_onnx(model, tmp_path / "m.onnx", TOKENS, metadata={"k": "v"})
    (graph_input,) = onnx.load(path).graph.input
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert onnx_parity(model, path, token_batch(5)) <= 1e-5
    assert model.example_input(2).dtype == torch.int64


def test_the_space_is_registered() -> None:
    assert isinstance(create_space("transformer"), TransformerSpace)
