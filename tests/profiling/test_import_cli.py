"""``hwnas profile import``, ``hwnas profile`` and ``hwnas devices`` from the command line."""

from __future__ import annotations

import json

import pytest

from hwnas.cli import main
from hwnas.profiling.store import read_profile

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"  # noqa: E501


def write_csv(path, rows) -> None:
    path.write_text("arch,lat\n" + "".join(f"{a},{v}\n" for a, v in rows))


def test_import_writes_a_profile(tmp_path, capsys) -> None:
    csv_path = tmp_path / "lat.csv"
    other = ARCH.replace("avg_pool_3x3~1", "none~1")
    write_csv(csv_path, [(ARCH, 3.5), (other, 2.0)])
    argv = [
        "profile",
        "import",
        str(csv_path),
        "--space",
        "nb201",
        "--device",
        "toy",
        "--arch-column",
        "arch",
        "--latency-column",
        "lat",
        "--out-dir",
        str(tmp_path),
        "--json",
    ]
    assert main(argv) == 0
    info = json.loads(capsys.readouterr().out)
    records = read_profile(info["path"])
    assert [r.median_ms for r in records] == [3.5, 2.0]
    assert records[0].fingerprint["device_kind"] == "published"
    assert info["device_id"].startswith("published-toy-")
    # A second import into the same profile is refused rather than duplicated.
    assert main(argv) == 2
    assert "exists already" in capsys.readouterr().err


def test_published_devices_are_never_mixed(tmp_path) -> None:
    from hwnas.profiling.fingerprint import fingerprints_compatible
    from hwnas.profiling.importer import published_fingerprint

    a = published_fingerprint("pixel3", input_shape=(3, 32, 32), batch=1, source_sha256="x")
    b = published_fingerprint("samsung_a50", input_shape=(3, 32, 32), batch=1, source_sha256="x")
    assert not fingerprints_compatible(a, b)
    assert a["device_id"] != b["device_id"]


@pytest.mark.parametrize(
    "rows,extra,message",
    [
        ([(ARCH, "fast")], [], "line 2: lat: expected a latency in ms"),
        ([(ARCH, 1.0), ("|bad|", 1.0)], [], "line 3: arch"),
        ([(ARCH, -2)], [], "line 2: lat: expected a positive number"),
        ([(ARCH, 1.0), (ARCH, 2.0)], [], "line 3: architecture .* appears twice"),
        ([(ARCH, 1.0)], ["--latency-column", "nope"], "--latency-column: expected a column"),
        ([(ARCH, 1.0)], ["--device", "a b"], "--device"),
    ],
)
def test_import_errors_name_the_line(tmp_path, capsys, rows, extra, message) -> None:
    csv_path = tmp_path / "lat.csv"
    write_csv(csv_path, rows)
    argv = [
        "profile",
        "import",
        str(csv_path),
        "--space",
        "nb201",
        "--device",
        "toy",
        "--arch-column",
        "arch",
        "--latency-column",
        "lat",
        "--out-dir",
        str(tmp_path),
    ]
    assert main(argv + extra) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    import re

    assert re.search(message, err), err


def test_profile_command_and_unknown_runtime(tmp_path, capsys) -> None:
    archs = tmp_path / "archs.txt"
    archs.write_text(ARCH + "\n")
    argv = [
        "profile",
        "--space",
        "nb201",
        "--archs",
        str(archs),
        "--input-shape",
        "3,8,8",
        "--classes",
        "10",
        "--max-seconds",
        "0.3",
        "--out-dir",
        str(tmp_path),
        "--json",
    ]
    assert main(argv) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["measured"] == 1 and len(read_profile(info["path"])) == 1
    assert main([*argv[:-1], "--runtime", "tpu-magic"]) == 2
    assert "runtime: expected one of" in capsys.readouterr().err


def test_devices_lists_every_runtime(capsys) -> None:
    assert main(["devices", "--json"]) == 0
    status = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert status["onnxruntime-cpu"]["available"] is True
    assert set(status) >= {
        "onnxruntime-cpu",
        "onnxruntime-cuda",
        "onnxruntime-tensorrt",
        "torch-cpu",
        "torch-cuda",
    }


def test_checking_an_imported_devices_predictor_asks_for_a_runtime(tmp_path, capsys) -> None:
    import numpy as np

    from hwnas.spaces import create_space

    space = create_space("nb201")
    rng = np.random.default_rng(0)
    archs = {str(space.sample(rng)) for _ in range(40)}
    write_csv(tmp_path / "lat.csv", [(a, 1.0 + a.count("conv")) for a in sorted(archs)])
    argv = ["profile", "import", str(tmp_path / "lat.csv"), "--space", "nb201"]
    argv += ["--device", "toy", "--arch-column", "arch", "--latency-column", "lat"]
    assert main([*argv, "--out-dir", str(tmp_path), "--json"]) == 0
    profile = json.loads(capsys.readouterr().out)["path"]
    fitted = tmp_path / "toy.json"
    assert main(["fit", profile, "--model", "linear-macs", "--out", str(fitted), "--json"]) == 0
    capsys.readouterr()
    assert main(["predict", "--check", str(fitted)]) == 2
    err = capsys.readouterr().err
    assert "--runtime: expected a runtime to measure this machine on" in err
    assert "'published'" in err and "Traceback" not in err
