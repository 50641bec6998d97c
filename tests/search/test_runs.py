"""Run folders from configs: bad configs, kill -9 and resume, failures, the process pool."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from hwnas.cli import main
from hwnas.errors import ConfigError
from hwnas.runs import resume, search
from hwnas.store import RunStore

from . import toy  # noqa: F401  (registers the toy evaluator)

BASE = {
    "name": "toy",
    "seed": 4,
    "space": {"name": "nb201"},
    "data": {"name": "digits"},
    "objectives": ["error", "macs"],
    "budgets": ["macs <= 5e6"],
    "strategy": {"name": "nsga2", "population": 8},
    "evaluator": {"name": "toy"},
    "termination": {"evaluations": 40},
    "batch_size": 8,
}


def config(**changes) -> dict:
    data = json.loads(json.dumps(BASE))
    for key, value in changes.items():
        data[key] = value
    return data


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"objectives": ["error", "flops"]}, "objectives"),
        ({"budgets": ["latency_ms <= -1"]}, "budgets"),
        ({"budgets": ["params <= 10"]}, "budgets"),
        ({"objectives": ["error", "latency_ms"]}, "device"),
        ({"strategy": {"name": "annealing"}}, "strategy.name"),
        ({"strategy": {"name": "nsga2", "populaton": 8}}, "strategy.populaton"),
        ({"evaluator": {"name": "oracle"}}, "evaluator.name"),
        ({"termination": {"evaluations": 0}}, "termination.evaluations"),
        ({"colour": "blue"}, "colour"),
        ({"device": {"predictor": "nowhere.json"}}, "predictor"),
        ({"device": {"protocol": {"min_seconds": 9}}}, "device.protocol.min_seconds"),
        ({"device": {"protocol": {"min_repeats": 9, "max_repeats": 3}}}, "device.protocol.max_"),
        ({"device": {"protocol": {"warm_up": 1}}}, "device.protocol.warm_up"),
        ({"export": {"recipe": {"optimizer": "adam"}}}, "export.recipe.optimizer"),
        ({"export": {"recipe": {"epochs": 3}}}, "export.recipe"),  # export.epochs sets it
        ({"supernet": {"recipe": {"lr": 0.1}}}, "supernet.recipe"),  # supernet.lr sets it
        ({"supernet": {"recipe": {"augment": "rotate"}}}, "supernet.recipe.augment"),
        # Values of the components' own options, and seeds: checked before any folder.
        ({"evaluator": {"name": "standalone", "recipe": {"epochs": 0}}}, "evaluator.recipe.epo"),
        ({"evaluator": {"name": "standalone", "recipe": {"epoch": 1}}}, "evaluator.recipe"),
        ({"strategy": {"name": "surrogate-ehvi", "initial": 0}}, "strategy.initial"),
        ({"executor": {"name": "process", "workers": 0}}, "executor.workers"),
        ({"space": {"name": "mbconv", "kernels": [4]}}, "space"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**70}, "seed"),
        ({"data": {"name": "digits", "seed": -1}}, "data.seed"),
        ({"export": {"variants": ["fp32", "fp8"]}}, "export.variants"),
        ({"budgets": ["macs <= 5e6", "macs <= 1e6"]}, "budgets"),
        ({"name": "n" * 101}, "name"),
    ],
)
def test_bad_configs_name_the_field_and_leave_no_run(tmp_path, changes, field) -> None:
    with pytest.raises(Exception) as info:
        search(config(**changes), runs_dir=tmp_path, run_id="bad")
    assert field in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_key_lists_the_keys_its_section_takes() -> None:
    from hwnas.config import validate_config
    from hwnas.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        validate_config(config(device={"profile_protocol": {"warmup": 1}}))
    assert str(info.value) == (
        "device.profile_protocol.warmup: expected one of max_seconds, min_seconds "
        "(unknown key 'warmup'), got 1"
    )
    with pytest.raises(ConfigError, match=r"^colour: expected one of batch_size, budgets, "):
        validate_config(config(colour="blue"))


def test_config_messages_read_once_and_yaml_s_off_means_off() -> None:
    from hwnas.config import validate_config
    from hwnas.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        validate_config(config(budgets=["accuracy >= 95"]))
    assert str(info.value) == (
        "budgets: expected 'accuracy >= a' with a fraction 0 < a <= 1, got 'accuracy >= 95'"
    )
    with pytest.raises(ConfigError) as info:
        validate_config(config(name="a b"))
    assert str(info.value) == "name: expected letters, digits, '-', '_' or '.', got 'a b'"
    with pytest.raises(ConfigError, match=r"^export\.variants: expected at least 1 items"):
        validate_config(config(export={"variants": []}))
    with pytest.raises(ConfigError, match=r"accuracy >= 0\.9 and error <= 0\.2 bound the same"):
        validate_config(config(budgets=["accuracy >= 0.9", "error <= 0.2"]))
    # Two devices' ceilings are two bounds.
    both = ["latency_ms <= 1 on a", "latency_ms <= 2 on b"]
    assert validate_config(config(budgets=both, device={})).budgets == both
    # YAML reads an unquoted off as false.
    text = "device: {calibration: off, protocol: {anchor: off}}\nobjectives: [error, macs]\n"
    device = validate_config(yaml.safe_load(text)).device
    assert device is not None and device.calibration == "off" and device.protocol.anchor == "off"


def test_a_config_file_that_is_not_utf8_text_is_a_clean_error(tmp_path, capsys) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xff\xfe\x00n\x00a\x00m\x00e")
    assert main(["search", str(path), "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "config: expected a YAML file of UTF-8 text" in capsys.readouterr().err


def test_bad_config_from_the_cli_exits_2(tmp_path, capsys) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config(strategy={"name": "annealing"})))
    assert main(["search", str(path), "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "strategy.name" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "toy").exists()


def test_search_writes_the_run_folder(tmp_path, capsys) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config()))
    argv = ["search", str(path), "--runs-dir", str(tmp_path), "--run-id", "r", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    run = tmp_path / "r"
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "run.db", "pareto.json"}
    assert out["evaluations"] == 40 and out["pareto"]
    with RunStore(run / "run.db") as store:
        assert store.get_meta("config")["strategy"]["population"] == 8
        assert "torch" in store.get_meta("versions")
        assert store.count("done") == 40
    assert all(c["metrics"]["macs"] <= 5e6 for c in out["pareto"])


def test_a_search_with_nothing_feasible_says_why_and_exits_1(tmp_path, capsys) -> None:
    path = tmp_path / "c.yaml"
    budgets = ["macs <= 5e6", "accuracy >= 0.999"]
    path.write_text(yaml.safe_dump(config(budgets=budgets, termination={"evaluations": 8})))
    assert main(["search", str(path), "--runs-dir", str(tmp_path), "--run-id", "r"]) == 1
    out, err = capsys.readouterr()
    assert "Pareto set (0)" in out
    assert "no evaluated candidate meets every budget (8 evaluated" in err
    assert "accuracy >= 0.999" in err
    # The same with --json (scripts use it): exit 1, and the JSON says why.
    argv = ["search", str(path), "--runs-dir", str(tmp_path), "--run-id", "j", "--json"]
    assert main(argv) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["pareto"] == [] and "accuracy >= 0.999" in out["nothing_feasible"]


SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from tests.search import toy
from hwnas.runs import search
search({config!r}, runs_dir={runs!r}, run_id="killed")
"""


@pytest.mark.parametrize(
    "strategy",
    [
        {"name": "nsga2", "population": 8},
        # PoND batches from the 17th evaluation on: before and after the kill.
        {"name": "surrogate-ehvi", "initial": 8, "pond_after": 16, "pond": 0.5},
        {"name": "rl"},  # its controller and baseline come back from the stored state
        # The GP and the inner population come back from the stored state.
        {"name": "nsga2", "population": 8, "predictor": "gp", "inner_generations": 4},
        # Model mode (the toy evaluator shares no weights): its model and queue come back.
        {"name": "differentiable", "relaxation": "model", "initial": 8, "epochs": 2},
    ],
    ids=["nsga2", "surrogate-ehvi", "rl", "nsga2+gp", "differentiable"],
)
def test_kill_minus_9_then_resume_loses_nothing_and_matches(tmp_path, strategy) -> None:
    root = str(Path(__file__).resolve().parents[2])
    counter = tmp_path / "counter"
    changes: dict = {"strategy": strategy}
    if strategy["name"] == "differentiable":  # it optimises latency: a predictor at 8x8
        shipped = Path(root, "predictors", "cpu-amd-epyc-ort1.32-t1-93315799", "nb201.json")
        predictor = json.loads(shipped.read_text())
        predictor["input_shape"] = [1, 8, 8]  # stands for one profiled at digits' shape
        (tmp_path / "nb201-8x8.json").write_text(json.dumps(predictor))
        changes.update(
            objectives=["error", "latency_ms"],
            budgets=[],
            device={"predictor": str(tmp_path / "nb201-8x8.json"), "calibration": "off"},
        )
    killed_config = config(
        evaluator={"name": "toy", "kill_at": 23, "counter": str(counter)}, **changes
    )
    script = SCRIPT.format(root=root, config=killed_config, runs=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    run = tmp_path / "killed"
    with RunStore(run / "run.db") as store:
        before = [c.arch for c in store.candidates()]
    assert 0 < len(before) < 40
    resumed = resume(run)  # the counter is past 23 now: no more kills
    assert resumed.result.evaluations == 40
    with RunStore(run / "run.db") as store:
        after = [c.arch for c in store.candidates()]
    assert after[: len(before)] == before  # nothing finished was lost

    straight = search(config(**changes), runs_dir=tmp_path, run_id="straight")
    with RunStore(straight.path / "run.db") as store:
        reference = [c.arch for c in store.candidates()]
    assert sorted(after) == sorted(reference)
    # The same front (as objective values: architectures tied on every objective, as
    # isomorphic NB201 cells are, may come in another order).
    objectives = changes.get("objectives", BASE["objectives"])

    def front(result) -> list[tuple[float, ...]]:
        return sorted({tuple(c.metrics[o] for o in objectives) for c in result.pareto})

    assert front(resumed.result) == front(straight.result)


def test_failed_candidates_are_recorded_not_fatal(tmp_path, capsys) -> None:
    run = search(
        config(evaluator={"name": "toy", "fail_on": "avg_pool_3x3~0"}),
        runs_dir=tmp_path,
        run_id="f",
    )
    with RunStore(run.path / "run.db") as store:
        failed = store.candidates("failed")
    assert failed and all("avg_pool_3x3~0" in c.arch for c in failed)
    assert failed[0].info["attempts"] == 2 and "cannot be evaluated" in failed[0].info["error"]
    assert run.result.evaluations == 40
    # Every one failed: an error (exit 2), not an empty front.
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config(evaluator={"name": "toy", "fail_on": "|"})))
    assert main(["search", str(path), "--runs-dir", str(tmp_path), "--run-id", "all"]) == 2
    assert "every evaluation failed (40); the first: " in capsys.readouterr().err


@pytest.fixture
def importable_tests(monkeypatch) -> None:
    """Spawned workers import the toy evaluator from this tests package."""
    root = str(Path(__file__).resolve().parents[2])
    monkeypatch.syspath_prepend(root)  # spawn passes sys.path on to workers


def test_the_process_pool_gives_the_inline_search_candidate_for_candidate(tmp_path) -> None:
    """The main config trains in two processes: the same seed must give the same run."""
    data = config(
        space={"name": "convnet"},
        evaluator={"name": "standalone", "recipe": {"epochs": 1, "threads": 1}},
        strategy={"name": "random"},
        termination={"evaluations": 6},
        batch_size=3,
    )
    rows = {}
    for name, executor in [
        ("inline", {"name": "inline"}),
        ("process", {"name": "process", "workers": 2}),
    ]:
        run = search({**data, "executor": executor}, runs_dir=tmp_path, run_id=name)
        with RunStore(run.path / "run.db") as store:
            rows[name] = sorted(
                (c.arch, c.status, json.dumps(c.metrics)) for c in store.candidates()
            )
    assert sum(status == "done" for _, status, _ in rows["inline"]) == 6
    assert rows["process"] == rows["inline"]


@pytest.mark.usefixtures("importable_tests")
def test_process_pool_survives_a_crashing_worker(tmp_path) -> None:
    from hwnas.executors import EvalFailure, ProcessPoolExecutor
    from hwnas.spaces import NB201Space

    space = NB201Space()
    archs = [space.from_index(i) for i in range(6)]
    counter = tmp_path / "n"
    factory = _Factory(str(counter))
    executor = ProcessPoolExecutor(factory, workers=2, retries=1)
    try:
        outcomes = dict(executor.run(archs))
    finally:
        executor.close()
    assert sorted(outcomes) == list(range(6))
    # The worker killed at the 3rd evaluation took its candidate(s) down; retried, they
    # succeed, and every other candidate is evaluated normally.
    assert (tmp_path / "n.killed").exists()  # the kill did happen
    assert all(not isinstance(o, EvalFailure) for o in outcomes.values())


@pytest.mark.usefixtures("importable_tests")
def test_process_pool_without_retries_records_the_crash(tmp_path) -> None:
    from hwnas.executors import EvalFailure, ProcessPoolExecutor
    from hwnas.spaces import NB201Space

    space = NB201Space()
    archs = [space.from_index(i) for i in range(6)]
    executor = ProcessPoolExecutor(_Factory(str(tmp_path / "n")), workers=2, retries=0)
    try:
        outcomes = dict(executor.run(archs))
    finally:
        executor.close()
    assert sorted(outcomes) == list(range(6)) and (tmp_path / "n.killed").exists()
    # The crash breaks the pool: every candidate not finished by then (the killed one, and
    # those in flight or queued behind it) is recorded as failed after one attempt; the
    # two evaluated before the kill are kept.
    failed = [o for o in outcomes.values() if isinstance(o, EvalFailure)]
    assert 1 <= len(failed) <= 4
    assert all(f.error == "worker process crashed" and f.attempts == 1 for f in failed)


@pytest.mark.usefixtures("importable_tests")
def test_process_pool_times_out_a_hanging_candidate(tmp_path) -> None:
    from hwnas.executors import EvalFailure, ProcessPoolExecutor
    from hwnas.spaces import NB201Space

    space = NB201Space()
    executor = ProcessPoolExecutor(_Sleepy(), workers=1, timeout_s=2.0, retries=0)
    try:
        outcomes = dict(executor.run([space.from_index(0)]))
    finally:
        executor.close()
    assert isinstance(outcomes[0], EvalFailure) and "exceeded" in outcomes[0].error


class _Factory:
    def __init__(self, counter: str) -> None:
        self.counter = counter

    def __call__(self):  # type: ignore[no-untyped-def]
        from tests.search.toy import ToyEvaluator

        return ToyEvaluator(kill_at=3, counter=self.counter)


class _Sleepy:
    def __call__(self):  # type: ignore[no-untyped-def]
        from tests.search.toy import ToyEvaluator

        return ToyEvaluator(sleep=30.0)


def test_unknown_objective_message_lists_known() -> None:
    from hwnas.config import validate_config

    with pytest.raises(ConfigError, match="error, latency_ms, macs, params"):
        validate_config(config(objectives=["speed"]))


def test_search_budgets_tighten_latency_and_loosen_accuracy() -> None:
    from hwnas.config import validate_config
    from hwnas.runs import search_budget

    searched = []
    for floor in ("accuracy >= 0.9", "error <= 0.2"):  # one bound, either way
        cfg = validate_config(
            config(
                evaluator={"name": "toy", "accuracy_slack": 0.05},
                budgets=[floor, "macs <= 5e6"],
            )
        )
        assert cfg.evaluator.options() == {}  # the slack is not an evaluator argument
        searched += [str(search_budget(b, cfg)) for b in cfg.parsed_budgets()]
    assert searched == ["accuracy >= 0.85", "macs <= 5e+06", "error <= 0.25", "macs <= 5e+06"]
    cfg = validate_config(
        {
            **config(budgets=["latency_ms <= 2", "accuracy >= 0.9"]),
            "device": {"predictor": "p.json", "safety_margin": 0.1},
        }
    )
    assert [str(search_budget(b, cfg)) for b in cfg.parsed_budgets()] == [
        "latency_ms <= 1.8",
        "accuracy >= 0.9",
    ]


def test_accuracy_slack_must_be_a_fraction(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"evaluator\.accuracy_slack"):
        search(config(evaluator={"name": "toy", "accuracy_slack": 2}), runs_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_export_recipe_fields_reach_the_final_training() -> None:
    from hwnas.config import validate_config
    from hwnas.export.run import export_recipe

    recipe = {"optimizer": "adamw", "lr": 0.001, "augment": "none"}
    data = {**config(), "export": {"recipe": recipe, "threads": 1}}
    final = export_recipe(validate_config(data), epochs=7)
    assert (final.optimizer, final.lr, final.augment, final.epochs) == ("adamw", 0.001, "none", 7)
    default = export_recipe(validate_config(config()))
    assert (default.optimizer, default.lr, default.augment) == ("sgd", 0.1, "shift")


def test_the_shipped_main_config_is_valid() -> None:
    from hwnas.config import load_config

    root = Path(__file__).resolve().parents[2]
    config = load_config(root / "configs" / "digits-cpu.yaml")
    assert config.strategy.name == "surrogate-ehvi" and config.evaluator.name == "standalone"
    assert config.space.name == "convnet" and config.device is not None
    assert config.device.calibration == "rescale"  # a shipped predictor is checked first
    # A predictor for the main job ships (fitted at the digits' shape), so that `make run`
    # on this project's machine checks it instead of profiling for minutes.
    from hwnas.predictors import load_predictor

    shipped = [load_predictor(p) for p in sorted((root / "predictors").glob("*/convnet.json"))]
    assert any(tuple(p.input_shape_) == (1, 8, 8) and int(p.num_classes_) == 10 for p in shipped)


def test_the_pool_s_workers_end_when_the_search_is_killed(tmp_path) -> None:
    # kill -9 cannot stop a pool: its spawned workers used to wait on their task queue
    # for good (380 MB each, seen after kill -9 of hwnas run). Now they end themselves.
    import os
    import time

    root = str(Path(__file__).resolve().parents[2])
    pids_file = tmp_path / "pids"
    script = f"""
        import os, signal, sys, time
        sys.path.insert(0, {root!r})
        from hwnas.executors import ProcessPoolExecutor, _evaluate_in_worker
        from hwnas.spaces import NB201Space
        from tests.search.test_runs import _Sleepy

        executor = ProcessPoolExecutor(_Sleepy(), workers=2)
        pool = executor._start()
        futures = [pool.submit(_evaluate_in_worker, NB201Space().from_index(i)) for i in (0, 1)]
        deadline = time.time() + 60
        while len(pool._processes) < 2 and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(3)  # the workers are evaluating (each sleeps 30 s)
        open({str(pids_file)!r}, "w").write(" ".join(map(str, pool._processes)))
        os.kill(os.getpid(), signal.SIGKILL)
    """
    # Output to a file: a worker left running would hold a pipe open, and wait for good.
    with open(tmp_path / "log", "wb") as log:
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script)], stdout=log, stderr=log
        )
    assert proc.returncode == -9, (tmp_path / "log").read_text()
    pids = [int(p) for p in pids_file.read_text().split()]
    assert len(pids) == 2

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # An exited child of an init that does not reap is a zombie: gone for our purpose.
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[-1][0] != "Z"

    deadline = time.time() + 15
    while any(alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.2)
    left = [p for p in pids if alive(p)]
    for pid in left:
        os.kill(pid, 9)
    assert not left, f"workers still running after their search was killed: {left}"


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_stops_a_pool_search_cleanly_and_says_how_to_resume(
    tmp_path, stop
) -> None:
    # Ctrl-C reaches the whole process group: the workers (still importing torch, or
    # evaluating for 30 s) used to print tracebacks of their own, and shutting the pool
    # down waited for their evaluations. SIGTERM left semaphores behind.
    import os
    import signal
    import time

    root = str(Path(__file__).resolve().parents[2])
    cfg = config(evaluator={"name": "toy", "sleep": 30.0}, executor={"name": "process"})
    cfg["executor"]["workers"] = 2
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    runs = tmp_path / "runs"
    script = f"""
        import sys
        sys.path.insert(0, {root!r})
        import tests.search.toy
        from hwnas.cli import main
        sys.exit(main(["search", {str(path)!r}, "--runs-dir", {str(runs)!r}, "--run-id", "r"]))
    """
    with open(tmp_path / "log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(script)],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        children: list[int] = []
        deadline = time.time() + 120
        while len(children) < 2 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
            pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
            children = [p for p in pids if _parent_of(p) == proc.pid and _is_worker(p)]
        time.sleep(0.5)  # a worker may still be importing torch: the moment it mattered
        os.killpg(proc.pid, getattr(signal, stop))
        started = time.time()
        code = proc.wait(timeout=60)
    out = (tmp_path / "log").read_text()
    assert code == (130 if stop == "SIGINT" else 143), out
    assert time.time() - started < 20, "the pool waited for its workers' evaluations"
    word = "interrupted" if stop == "SIGINT" else "terminated"
    assert f"hwnas: {word}; finish it with: hwnas search --resume {runs / 'r'}" in out
    assert "Traceback" not in out and "leaked semaphore" not in out, out
    time.sleep(1)
    assert len(children) == 2 and not [p for p in children if _parent_of(p) is not None]


def _parent_of(pid: int) -> int | None:
    """The parent pid of a running (not zombie) process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().split(") ")[-1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else int(fields[1])


def _is_worker(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return b"spawn_main" in cmdline.read()
    except OSError:
        return False


def test_a_search_that_asks_only_what_cheap_budgets_skip_stops(tmp_path, monkeypatch) -> None:
    # Seen: a latency ceiling the cheapest architecture met only before the safety margin:
    # every candidate skipped, 8,582 in 90 s, the progress bar at 0, never ending.
    import hwnas.runs as runs_module
    import hwnas.search as search_module

    smallest = 468608  # NB201's fewest MACs at 8x8 (cells without convolutions)
    with monkeypatch.context() as patch:
        # Past the check before the search (a budget met before the margin, as then).
        patch.setattr(runs_module._Components, "_check_feasible", lambda self: None)
        patch.setattr(search_module, "MAX_SKIPPED_IN_A_ROW", 40)
        cfg = config(strategy={"name": "random"}, budgets=[f"macs <= {smallest - 1}"])
        run = search(cfg, runs_dir=tmp_path, run_id="r")
    assert run.result.evaluations == 0
    assert run.result.stopped_by.startswith("40 candidates asked in a row broke a cheap budget")
    with pytest.raises(ConfigError) as info:
        search(config(budgets=[f"macs <= {smallest - 1}"]), runs_dir=tmp_path, run_id="s")
    assert str(info.value) == (
        "budgets: expected a budget some architecture can meet: the best of the smallest "
        f"architecture and 255 random ones has macs = {smallest}, got 'macs <= {smallest - 1}'"
    )


def test_a_relative_data_path_is_stored_absolute(tmp_path, monkeypatch) -> None:
    # `hwnas export RUN` from another directory failed: "data/x.npz: no such file".
    import numpy as np

    from hwnas.data import load_dataset
    from hwnas.runs import open_run

    digits = load_dataset("digits")
    (tmp_path / "data").mkdir()
    np.savez(tmp_path / "data" / "d.npz", x=digits.train.x[:120], y=digits.train.y[:120])
    monkeypatch.chdir(tmp_path)
    cfg = config(data={"name": "npz:data/d.npz"}, termination={"evaluations": 8})
    run = search(cfg, runs_dir="runs", run_id="r")
    stored = yaml.safe_load((tmp_path / "runs" / "r" / "config.yaml").read_text())
    assert stored["data"]["name"] == f"npz:{tmp_path / 'data' / 'd.npz'}"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert open_run(tmp_path / "runs" / "r").config.data.name == stored["data"]["name"]
    assert run.result.evaluations == 8
