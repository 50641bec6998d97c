"""``hwnas.validate``: integer and number checks with ``ConfigError`` messages."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hwnas.errors import ConfigError
from hwnas.validate import check_float, check_int


def test_check_int_accepts_python_and_numpy_integers() -> None:
    assert check_int("cv", 2, 2) == 2
    value = check_int("seed", np.int64(7), 0)
    assert value == 7 and type(value) is int


@pytest.mark.parametrize("value", [1, True, 2.0, "3", None])
def test_check_int_names_the_field_and_the_bound(value) -> None:
    with pytest.raises(ConfigError, match="cv: expected an integer >= 2") as info:
        check_int("cv", value, 2)
    assert info.value.field == "cv" and info.value.got is value


def test_check_float_bounds() -> None:
    assert check_float("f", 0, 0, 1, include_high=False) == 0.0
    assert check_float("f", 1, 0, 1) == 1.0
    assert check_float("f", 1e9, 0) == 1e9
    with pytest.raises(ConfigError, match=r"f: expected a number in \[0, 1\), got 1"):
        check_float("f", 1, 0, 1, include_high=False)
    with pytest.raises(ConfigError, match=r"f: expected a number in \[0, 1\], got 1.5"):
        check_float("f", 1.5, 0, 1)
    with pytest.raises(ConfigError, match=r"f: expected a number >= 0\.5, got 0\.1"):
        check_float("f", 0.1, 0.5)
    for bad in (True, "0.5", None, math.nan):
        with pytest.raises(ConfigError):
            check_float("f", bad, 0, 1)
