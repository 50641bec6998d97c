"""Profiling a space: stratified sampling, real measurements, resume."""

from __future__ import annotations

import numpy as np
import pytest

from hwnas.costs import count_costs_fast
from hwnas.errors import ConfigError
from hwnas.profiling import create_runtime
from hwnas.profiling.profiler import profile_space, stratified_sample
from hwnas.profiling.store import read_profile
from hwnas.spaces import create_space

FAST = {"warmup": 1, "min_repeats": 3, "max_repeats": 5, "max_seconds": 0.5, "min_seconds": 0.0}


def test_stratified_sample_spreads_over_the_mac_range() -> None:
    space = create_space("mbconv")
    shape = (3, 32, 32)
    chosen = stratified_sample(space, 20, np.random.default_rng(0), shape, 10)
    uniform = [space.sample(np.random.default_rng(1)) for _ in range(20)]
    log_chosen = np.log([count_costs_fast(space, a, shape, 10).macs for a in chosen])
    log_uniform = np.log([count_costs_fast(space, a, shape, 10).macs for a in uniform])
    assert len(set(map(str, chosen))) == 20
    # Covers the extremes of the space and spreads wider than uniform sampling.
    assert log_chosen.min() == pytest.approx(
        np.log(count_costs_fast(space, space.smallest(), shape, 10).macs)
    )
    assert log_chosen.max() == pytest.approx(
        np.log(count_costs_fast(space, space.largest(), shape, 10).macs)
    )
    assert np.ptp(log_chosen) > np.ptp(log_uniform)
    assert stratified_sample(space, 5, np.random.default_rng(3), shape, 10) == stratified_sample(
        space, 5, np.random.default_rng(3), shape, 10
    )


def test_profile_measures_appends_and_resumes(tmp_path) -> None:
    space = create_space("nb201")
    runtime = create_runtime("onnxruntime-cpu", threads=1)
    kwargs = dict(input_shape=(3, 8, 8), num_classes=10, root=tmp_path, protocol=FAST)
    first = profile_space(space, runtime, n=3, seed=0, **kwargs)
    assert (first.measured, first.skipped) == (3, 0)
    records = read_profile(first.path)
    assert len(records) == 3
    for r in records:
        assert r.latency_ms["median"] > 0 and r.macs and r.params
        assert r.device_id == first.device_id and r.fingerprint["runtime"] == "onnxruntime-cpu"
        assert r.space_fingerprint == space.fingerprint()
    again = profile_space(space, runtime, n=3, seed=0, **kwargs)
    assert (again.measured, again.skipped) == (0, 3)
    more = profile_space(space, runtime, archs=[space.from_index(7)], **kwargs)
    assert more.measured + more.skipped == 1
    assert len(read_profile(first.path)) == 3 + more.measured


def test_profile_needs_n_or_archs(tmp_path) -> None:
    space = create_space("nb201")
    with pytest.raises(ConfigError, match="n"):
        profile_space(
            space,
            create_runtime("onnxruntime-cpu"),
            input_shape=(3, 8, 8),
            num_classes=10,
            root=tmp_path,
        )
