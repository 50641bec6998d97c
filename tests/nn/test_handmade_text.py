"""The hand-designed text networks: token ids in, exportable, and kept apart from the
image networks."""

from __future__ import annotations

import pytest
import torch

from hwnas.errors import ConfigError
from hwnas.nn.handmade import build_handmade, handmade_for


def test_each_kind_of_input_has_its_own_networks() -> None:
    assert handmade_for((32,)) == ("encoder-2x128", "textcnn")
    assert handmade_for((1, 8, 8)) == ("lenet5", "mobilenetv2", "resnet8")
    with pytest.raises(ConfigError, match=r"images \(C, H, W\) for network 'lenet5'"):
        build_handmade("lenet5", (32,), 2)
    with pytest.raises(ConfigError, match=r"token ids \(L,\) for network 'textcnn'"):
        build_handmade("textcnn", (1, 8, 8), 2)


@pytest.mark.parametrize("name", ["encoder-2x128", "textcnn"])
def test_text_networks_read_token_ids_and_match_onnxruntime(tmp_path, name) -> None:
    from hwnas.costs import count_costs
    from hwnas.onnx_export import export_onnx, onnx_parity

    torch.manual_seed(0)
    model = build_handmade(name, (24,), 3, vocab_size=40).eval()
    ids = torch.randint(0, 40, (5, 24))
    ids[:, 20:] = 0  # padded tails
    assert model(ids).shape == (5, 3)
    path = export_onnx(model, tmp_path / f"{name}.onnx", (24,))
    assert onnx_parity(model, path, ids) < 1e-4
    costs = count_costs(model, (24,))
    assert costs.macs > 0 and costs.params == sum(p.numel() for p in model.parameters())


def test_the_handmade_encoder_is_the_spaces_baseline_architecture() -> None:
    from hwnas.spaces import create_space

    model = build_handmade("encoder-2x128", (16,), 2)
    space = create_space("transformer")
    assert str(model.arch) == space.baselines()["encoder-2x128"] == "e128|h4-f512|h4-f512"
