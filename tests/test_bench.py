"""``hwnas bench``: scores, JSON, CLI errors (small runs on the shipped NB201 table)."""

from __future__ import annotations

import csv
import gzip
import json
from importlib import resources

import numpy as np
import pytest

from hwnas.bench import BenchConfig, load_bench_config, run_bench
from hwnas.benchmarks_table import load_table
from hwnas.cli import main
from hwnas.errors import ConfigError
from hwnas.pareto import hypervolume, pareto_mask

QUERIES = [20, 40, 60]


@pytest.fixture(scope="module")
def result():
    return run_bench(
        strategies=["surrogate-ehvi", "random"],
        device_columns=["pixel3_ms"],
        seeds=1,
        queries=QUERIES,
    )


def _recompute(queried: list[str], column: str) -> tuple[float, float]:
    """Regret and recall from scratch: min-max normalised true values, reference (1, 1)."""
    table = load_table()
    F = np.c_[1 - table.column("acc_cifar10_test") / 100, table.column(column)]
    F = (F - F.min(0)) / (F.max(0) - F.min(0))
    true = pareto_mask(F)
    rows = [table.row_of(a) for a in queried]
    found = F[rows][pareto_mask(F[rows])]
    regret = 1 - hypervolume(found, np.ones(2)) / hypervolume(F[true], np.ones(2))
    recall = len(set(rows) & set(np.flatnonzero(true))) / true.sum()
    return regret, recall


def test_scores_are_fractions_and_regret_never_grows_with_queries(result) -> None:
    runs = result.devices["pixel3_ms"].runs
    assert [r.strategy for r in runs] == ["surrogate-ehvi", "random"]
    for run in runs:
        assert len(run.queries) == QUERIES[-1] == len(set(run.queries))
        assert all(0.0 <= v <= 1.0 for v in run.regret + run.recall)
        assert all(a >= b for a, b in zip(run.regret, run.regret[1:], strict=False))
        assert all(a <= b for a, b in zip(run.recall, run.recall[1:], strict=False))
        for q, regret, recall in zip(QUERIES, run.regret, run.recall, strict=True):
            assert (regret, recall) == pytest.approx(_recompute(run.queries[:q], "pixel3_ms"))
    summary = result.summary()["pixel3_ms"]["random"]["60"]
    assert summary["seeds"] == 1 and summary["regret_mean"] == runs[1].regret[-1]


def test_json_has_every_run_with_regret_recall_and_queried_archs(capsys) -> None:
    code = main(
        [
            "bench",
            "--strategies",
            "random,nsga2",
            "--device-column",
            "1080ti_1_ms",
            "--seeds",
            "1",
            "--queries",
            "20,40",
            "--profile-archs",
            "50",
            "--json",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["config"]["profile_archs"] == 50 and data["config"]["queries"] == [20, 40]
    device = data["devices"]["1080ti_1_ms"]
    assert len(device["true_front"]) == 32
    assert {(r["strategy"], r["seed"]) for r in device["runs"]} == {("random", 0), ("nsga2", 0)}
    for run in device["runs"]:
        assert set(run) >= {"strategy", "seed", "regret", "recall", "queried"}
        assert len(run["regret"]) == len(run["recall"]) == 2
        assert len(run["queried"]) == 40 and all(isinstance(a, str) for a in run["queried"])
        assert run["regret"][-1] == pytest.approx(_recompute(run["queried"], "1080ti_1_ms")[0])
    assert set(data["summary"]["1080ti_1_ms"]) == {"random", "nsga2"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile-archs", "301"], "profile_archs: expected an integer in 2..300"),
        (["--strategies", "simulated-annealing"], "strategies: expected names from"),
        (["--device-column", "tpu_ms"], "device_columns: expected a column of"),
        (["--accuracy-column", "acc"], "accuracy_column: expected a column of"),
        (["--accuracy-column", "samsung_a50_ms"], "accuracy_column: expected a column of acc"),
        (["--queries", "100,50"], "queries: expected increasing numbers"),
        (["--seeds", "many"], "seeds: expected an integer"),
        (["--table", "/no/such/table.csv"], "does not exist"),
        (["--predictor-features", "onehot,pixels"], "predictor_features: expected comma-sep"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(capsys, args: list[str], message: str) -> None:
    assert main(["bench", "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwnas: error: ") and message in err


def test_a_table_must_answer_every_query(tmp_path, capsys) -> None:
    """A table of the same form works; one that lacks architectures is refused."""
    raw = resources.files("hwnas.resources").joinpath("nb201.csv.gz").read_bytes()
    rows = list(csv.reader(gzip.decompress(raw).decode().splitlines()))
    header, body = rows[0], rows[1:]
    keep = [header.index(c) for c in ("arch_str", "acc_cifar10_test", "gold_6240_ms")]
    full = tmp_path / "full.csv"
    full.write_text("\n".join(",".join(r[i] for i in keep) for r in [header, *body]) + "\n")
    result = run_bench(
        table=str(full),
        strategies=["random"],
        device_columns=["gold_6240_ms"],
        seeds=1,
        queries=[30],
        profile_archs=40,
    )
    assert 0 <= result.devices["gold_6240_ms"].runs[0].regret[0] <= 1
    partial = tmp_path / "partial.csv"
    partial.write_text("\n".join(",".join(r[i] for i in keep) for r in [header, *body[:500]]))
    assert (
        main(["bench", "--quiet", "--table", str(partial), "--device-column", "gold_6240_ms"]) == 2
    )
    assert "table: expected one row for each of the 15625" in capsys.readouterr().err


def test_the_shipped_config_is_valid_and_overrides_apply() -> None:
    config = load_bench_config("configs/nb201-bench.yaml")
    assert config.profile_archs <= 300 and config.seeds == tuple(range(10))
    assert "optuna-nsga2" in config.strategies
    smaller = config.updated(strategies="random", seeds="3,5")
    assert smaller.strategies == ("random",) and smaller.seeds == (3, 5)
    assert config.predictor_features == "onehot,costs"
    assert config.updated(predictor_features="ops, costs").predictor_features == "ops,costs"
    with pytest.raises(ConfigError, match="unknown_key"):
        BenchConfig.from_mapping({"unknown_key": 1})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"seeds": True}, "seeds"),
        ({"seeds": [1, 1]}, "seeds"),
        ({"seeds": "0"}, "seeds"),
        ({"queries": [1.5]}, "queries"),
        ({"queries": "x"}, "queries"),
        ({"profile_archs": True}, "profile_archs"),
        ({"profile_archs": 1}, "profile_archs"),
        ({"batch_size": 0}, "batch_size"),
        ({"strategies": "random,random"}, "strategies"),
        ({"strategies": ""}, "strategies"),
        ({"device_columns": [3]}, "device_columns"),
        ({"space": ""}, "space"),
        ({"table": 3}, "table"),
        ({"strategy_options": {"nsga2": 3}}, "strategy_options"),
        ({"predictor_features": ["ops"]}, "predictor_features"),
    ],
)
def test_a_bad_option_is_a_config_error_naming_its_field(changes, field: str) -> None:
    with pytest.raises(ConfigError) as error:
        BenchConfig().updated(**changes)
    assert error.value.field == field


def test_yaml_and_cli_shorthands_give_the_canonical_config(tmp_path) -> None:
    config = BenchConfig.from_mapping(
        {
            "seeds": "4",
            "queries": "20, 50",
            "device_columns": "pixel3_ms,gold_6240_ms",
            "profile_archs": "40",
            "batch_size": np.int64(5),
            "table": tmp_path / "t.csv",
            "space": None,
        }
    )
    assert config.seeds == (0, 1, 2, 3) and config.queries == (20, 50)
    assert config.device_columns == ("pixel3_ms", "gold_6240_ms")
    assert config.profile_archs == 40 and config.batch_size == 5 and config.space == "nb201"
    assert config.table == str(tmp_path / "t.csv")
    assert BenchConfig.from_mapping(config.to_dict()) == config
    assert json.loads(json.dumps(config.to_dict()))["seeds"] == [0, 1, 2, 3]


def test_optuna_baseline_uses_true_latency_and_counts_distinct_queries() -> None:
    pytest.importorskip("optuna")
    result = run_bench(
        strategies=["optuna-nsga2"], device_columns=["pixel3_ms"], seeds=1, queries=[30]
    )
    run = result.devices["pixel3_ms"].runs[0]
    assert len(run.queries) == len(set(run.queries)) == 30


def test_a_label_runs_its_strategy_with_its_options() -> None:
    options = {"again": {"strategy": "random"}, "nsga2+gp": {"strategy": "nsga2", "population": 8}}
    config = BenchConfig().updated(strategies="random,again", strategy_options=options)
    assert config.base_strategy("again") == ("random", {})
    assert config.base_strategy("nsga2+gp") == ("nsga2", {"population": 8})
    assert config.base_strategy("random") == ("random", {})
    result = run_bench(config, device_columns=["pixel3_ms"], seeds=[3], queries=[20])
    plain, labelled = result.devices["pixel3_ms"].runs
    assert (plain.strategy, labelled.strategy) == ("random", "again")
    assert plain.queries == labelled.queries  # same strategy, same seed


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"strategies": "mine"}, "strategies"),
        ({"strategies": "mine", "strategy_options": {"mine": {"population": 3}}}, "strategies"),
        (
            {"strategies": "random", "strategy_options": {"mine": {"strategy": "nope"}}},
            "strategy_options.mine.strategy",
        ),
        (
            {"strategies": "mine", "strategy_options": {"mine": {"strategy": 3}}},
            "strategy_options.mine.strategy",
        ),
    ],
)
def test_an_unknown_name_or_label_is_a_config_error(changes, field: str) -> None:
    with pytest.raises(ConfigError) as error:
        BenchConfig().updated(**changes)
    assert error.value.field == field


def test_an_external_baseline_without_its_package_is_left_out_with_a_warning(
    monkeypatch,
) -> None:
    from hwnas.bench import run_bench
    from hwnas.bench.baselines import EXTERNAL_BASELINES
    from hwnas.errors import HwnasError

    def missing() -> None:
        raise HwnasError("strategy optuna-nsga2 needs Optuna: pip install 'hwnas[bench]'")

    monkeypatch.setattr(EXTERNAL_BASELINES["optuna-nsga2"], "check", missing)
    small = {"device_columns": ["pixel3_ms"], "seeds": 1, "queries": [20]}
    with pytest.warns(UserWarning, match="optuna-nsga2 left out: strategy optuna-nsga2 needs"):
        result = run_bench(strategies=["random", "optuna-nsga2"], **small)
    assert set(result.summary()["pixel3_ms"]) == {"random"}
    with pytest.raises(HwnasError, match="needs Optuna"):
        run_bench(strategies=["optuna-nsga2"], **small)
