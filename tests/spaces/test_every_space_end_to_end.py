"""Every registered space through the whole chain, with tiny settings.

Sample, build, closed-form costs equal to fvcore's, supernet subnets equal to the standalone
models they extract, ONNX parity, profile, fit a latency predictor, search with the
supernet evaluator under a latency budget, export. A new space registered with
``@register_space`` is picked up here with no edit: this is the test that says a space
plugin is complete.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hwnas.costs import count_costs, count_costs_fast, count_layers
from hwnas.errors import BudgetsUnmetError
from hwnas.nn import build_model
from hwnas.nn.supernet import build_supernet
from hwnas.onnx_export import export_onnx, onnx_parity
from hwnas.spaces import SearchSpace, create_space, list_spaces

from ..conftest import make_realistic

#: One-channel 8x8 inputs (digits): every registered space must build for them.
SHAPE = (1, 8, 8)
CLASSES = 10
FAST = {"warmup": 1, "min_repeats": 3, "max_repeats": 5, "max_seconds": 0.2, "min_seconds": 0.0}


@pytest.fixture(params=list_spaces(), scope="module")
def chain(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Profile, fit, search and export one space; every test below reads the outcome."""
    from hwnas.data import load_dataset
    from hwnas.export import export_run
    from hwnas.predictors import fit_profile
    from hwnas.profiling import create_runtime
    from hwnas.profiling.profiler import profile_space
    from hwnas.runs import search

    name = request.param
    space = create_space(name)
    root = tmp_path_factory.mktemp(f"chain-{name}")
    runtime = create_runtime("onnxruntime-cpu", threads=1)
    profile = profile_space(
        space,
        runtime,
        n=12,
        input_shape=SHAPE,
        num_classes=CLASSES,
        root=root / "profiles",
        protocol=FAST,
    )
    predictor, metrics = fit_profile(profile.path, space=space, cv=2, test_fraction=0.25)
    predictor_path = predictor.save(root / "predictor.json")

    digits = load_dataset("digits")
    npz = root / "digits-small.npz"
    np.savez(npz, x=digits.train.x[:160, 0], y=digits.train.y[:160])
    # A ceiling that binds (about half of random architectures are over it) and that the
    # cheapest architecture meets, whatever a 9-point predictor extrapolates.
    sampled = predictor.predict([space.sample(np.random.default_rng(s)) for s in range(8)])
    cheapest = float(predictor.predict([space.smallest()])[0])
    ceiling = max(float(np.median(sampled)), 1.5 * cheapest)
    config = {
        "name": f"chain-{name}",
        "seed": 0,
        "space": {"name": name},
        "data": {"name": f"npz:{npz}"},
        "device": {
            "predictor": str(predictor_path),
            "runtime": "onnxruntime-cpu",
            "calibration": "off",  # fitted a moment ago, here (tests/*calibration* check it)
        },
        "objectives": ["error", "latency_ms"],
        "budgets": [f"latency_ms <= {ceiling:.6f}"],
        "strategy": {"name": "random"},
        "evaluator": {"name": "supernet"},
        "supernet": {"epochs": 1, "num_random": 0, "batch_size": 32},
        "termination": {"evaluations": 6},
        "batch_size": 3,
    }
    run = search(config, runs_dir=root / "runs", run_id="r")
    try:
        manifest = export_run(run.path, top_k=1, epochs=1, variants=("fp32",), protocol=FAST)
    except BudgetsUnmetError as error:
        # A quick protocol on a shared core: the model its untrained twin measured under the
        # ceiling can measure just over it once trained (CI saw it once, for nb201). The
        # manifest is written and flags it; the chain is whole, and the test below checks
        # the flag says why.
        manifest = error.manifest
    return space, metrics, run.path, manifest


def test_sampled_archs_build_and_closed_form_costs_equal_fvcore(space: SearchSpace) -> None:
    rng = np.random.default_rng(0)
    for arch in [space.smallest(), space.largest(), space.sample(rng)]:
        model = build_model(space, arch, SHAPE, CLASSES)
        assert model(torch.zeros(2, *SHAPE)).shape == (2, CLASSES)
        assert count_costs_fast(space, arch, SHAPE, CLASSES) == count_costs(model, SHAPE)
        assert all(layer.macs >= 0 for layer in count_layers(space, arch, SHAPE, CLASSES))


def test_supernet_subnets_equal_the_models_they_extract(space: SearchSpace) -> None:
    supernet = build_supernet(space, SHAPE, CLASSES, seed=0).eval()
    x = torch.randn(4, *SHAPE, generator=torch.Generator().manual_seed(0))
    for arch in [space.smallest(), space.largest(), space.sample(np.random.default_rng(1))]:
        model = supernet.extract(arch).eval()
        with torch.no_grad():
            torch.testing.assert_close(supernet(x, arch), model(x), rtol=1e-4, atol=1e-5)


def test_models_export_to_onnx_with_parity(space: SearchSpace, tmp_path) -> None:
    arch = space.sample(np.random.default_rng(2))
    model = build_model(space, arch, SHAPE, CLASSES)
    make_realistic(model, SHAPE)
    path = export_onnx(model.eval(), tmp_path / "m.onnx", SHAPE)
    x = torch.randn(3, *SHAPE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        scale = max(1.0, float(model(x).abs().max()))
    assert onnx_parity(model, path, x) <= 1e-5 * scale * 10


def test_the_fitted_predictor_has_held_out_figures(chain) -> None:
    _, metrics, _, _ = chain
    assert metrics["n_train"] >= 8 and metrics["n_test"] >= 2
    assert metrics["held_out"] is not None and np.isfinite(metrics["held_out"]["mape"])


def test_search_and_export_give_a_verified_measured_model(chain) -> None:
    space, _, run, manifest = chain
    assert manifest == json.loads((run / "export" / "manifest.json").read_text())
    (model,) = manifest["models"]
    assert space.parse(model["arch"]) is not None
    assert model["max_abs_diff"] <= 1e-4
    assert model["measured_latency_ms"] > 0 and model["predicted_latency_ms"] > 0
    assert 0 <= model["val_accuracy"] <= 1
    assert (run / "export" / model["file"]).is_file()
    # Feasible, or flagged with the one budget the run has: the latency ceiling.
    assert model["feasible"] == (not model["broken_budgets"])
    assert all(b.startswith("latency_ms <=") for b in model["broken_budgets"])
