"""Benchmark tables and the tabular evaluator."""

from __future__ import annotations

import csv
import gzip
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from hwnas.benchmarks_table import BenchmarkTable, load_table
from hwnas.errors import ArchError, ConfigError, DataError, HwnasError
from hwnas.evaluators import TabularEvaluator, create_evaluator
from hwnas.spaces import MBConvSpace, NB201Space

#: The best CIFAR-10 architecture of NAS-Bench-201 (index 6111, 94.3733 % test accuracy).
BEST_C10 = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
)


def _csv_row(arch: str) -> dict[str, str]:
    """The raw row of ``arch``, read with the csv module directly (independent of the loader)."""
    source = resources.files("hwnas.resources").joinpath("nb201.csv.gz")
    with source.open("rb") as raw, gzip.open(raw, "rt", newline="") as text:
        for row in csv.DictReader(text):
            if row["arch_str"] == arch:
                return row
    raise AssertionError(f"{arch} not in the CSV")


def test_shipped_table_best_cifar10_architecture() -> None:
    table = load_table()
    assert len(table) == 15625
    assert "unique_str" in table.text_columns and "arch_str" not in table.columns
    assert {"acc_cifar10_test", "pixel3_ms", "1080ti_1_ms", "gold_6240_ms"} <= set(table.columns)
    assert len(table.latency_columns) == 19
    acc = table.column("acc_cifar10_test")
    best = table.archs[int(np.argmax(acc))]
    assert best == BEST_C10
    raw = _csv_row(BEST_C10)
    assert table.value(best, "acc_cifar10_test") == float(raw["acc_cifar10_test"]) == 94.3733
    assert table.value(best, "pixel3_ms") == float(raw["pixel3_ms"])

    space = NB201Space()
    arch = space.parse(best)
    assert space.index(arch) == int(raw["arch_index"]) == table.row_of(arch) == 6111
    result = TabularEvaluator().evaluate(arch)
    assert result.metrics == {"accuracy": pytest.approx(0.943733)}
    assert result.cost_seconds == 0.0
    assert result.info["row"] == 6111


def test_shipped_table_is_cached_and_read_only() -> None:
    table = load_table()
    assert load_table() is table
    with pytest.raises(ValueError):
        table.column("acc_cifar10_test")[0] = 1.0


def test_unknown_column_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"column.*acc_cifar10_test.*pixel3_ms"):
        load_table().column("acc_cifar11_test")
    with pytest.raises(ConfigError, match="holds text"):
        load_table().column("unique_str")
    with pytest.raises(ConfigError, match="column"):
        TabularEvaluator(accuracy_column="nope")


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


NB = NB201Space()
A0, A1, A2 = (str(NB.from_index(i)) for i in range(3))


def test_custom_table_fractions_percent_and_unknown_arch(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "t.csv",
        ["arch,acc,acc_pct,cpu_ms", f"{A0},0.5,50,1.5", f'"{A1}",0.75,75.5,2', f"{A2},nan,1,3"],
    )
    table = load_table(path, arch_column="arch")
    assert table.columns == ("acc", "acc_pct", "cpu_ms") and table.latency_columns == ("cpu_ms",)
    assert table.archs == (A0, A1, A2)
    assert table.row(A1) == {"arch": A1, "acc": 0.75, "acc_pct": 75.5, "cpu_ms": 2.0}
    assert np.isnan(table.value(A2, "acc"))
    assert table.percent_scale("acc") == 1.0 and table.percent_scale("acc_pct") == 100.0

    fraction = TabularEvaluator("nb201", "acc", table)
    percent = TabularEvaluator(NB, "acc_pct", path, arch_column="arch")
    assert fraction.evaluate(NB.parse(A1)).metrics["accuracy"] == 0.75
    assert percent.evaluate(NB.parse(A1)).metrics["accuracy"] == pytest.approx(0.755)
    assert fraction.cache_key()["table"] == percent.cache_key()["table"] == table.fingerprint
    assert fraction.cache_key() != percent.cache_key()
    missing = NB.from_index(3)
    with pytest.raises(HwnasError, match="not in the table"):
        fraction.evaluate(missing)
    with pytest.raises(ArchError, match="mbconv"):
        fraction.evaluate(MBConvSpace().sample(np.random.default_rng(0)))


def test_gzipped_table_and_fingerprint_is_of_the_file_bytes(tmp_path: Path) -> None:
    import hashlib

    lines = ["arch_str,acc", f"{A0},0.5"]
    plain = _write(tmp_path / "t.csv", lines)
    packed = tmp_path / "t.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert load_table(packed).value(A0, "acc") == load_table(plain).value(A0, "acc") == 0.5
    assert load_table(packed).fingerprint == hashlib.sha256(packed.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "lines,error,pattern",
    [
        (["arch_str,acc", f"{A0},0.5", f"{A1},oops"], DataError, r"line 3.*'acc'.*number.*oops"),
        (["arch_str,acc", f"{A0},0.5", "", f"{A1},"], DataError, r"line 4.*'acc'"),
        (["arch_str,acc", f"{A0},0.5", f"{A0},0.6"], DataError, r"line 3.*duplicate.*line 2"),
        (["arch_str,acc", f"{A0},0.5,7"], DataError, r"line 2.*2 fields, got 3"),
        (["name,acc", f"{A0},0.5"], ConfigError, r"arch_column.*name, acc"),
        (["arch_str,acc"], DataError, "no data rows"),
    ],
)
def test_malformed_tables_are_clear_errors(
    tmp_path: Path, lines: list[str], error: type[Exception], pattern: str
) -> None:
    path = _write(tmp_path / "bad.csv", lines)
    with pytest.raises(error, match=pattern):
        load_table(path)


def test_missing_file_and_edited_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_table(tmp_path / "nope.csv")
    path = _write(tmp_path / "t.csv", ["arch_str,acc", f"{A0},0.5"])
    first = load_table(path)
    _write(path, ["arch_str,acc", f"{A0},0.25", f"{A1},0.3"])
    second = load_table(path)  # the in-memory copy follows the file
    assert second.value(A0, "acc") == 0.25 and second.fingerprint != first.fingerprint


def test_evaluator_registered_and_refuses_a_resized_space_on_the_shipped_table() -> None:
    evaluator = create_evaluator("tabular", space="nb201", accuracy_column="acc_cifar100_test")
    assert isinstance(evaluator, TabularEvaluator)
    assert isinstance(evaluator.table, BenchmarkTable)
    assert evaluator.cache_key()["column"] == "acc_cifar100_test"
    assert evaluator.cache_key() != TabularEvaluator().cache_key()
    with pytest.raises(ConfigError, match="space"):
        TabularEvaluator(NB201Space(channels=(8, 16, 32)))
