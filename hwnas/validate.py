"""Checks of plain numeric arguments, raising :class:`~hwnas.errors.ConfigError`.

For function and constructor arguments that do not go through a pydantic model (the
configs in :mod:`hwnas.config` do). Messages follow ``ConfigError``:
``"cv: expected an integer >= 2, got 1"``.
"""

from __future__ import annotations

import math
import numbers

from hwnas.errors import ConfigError


def check_int(field: str, value: object, minimum: int) -> int:
    """``value`` as an ``int`` if it is an integer (Python or NumPy, not ``bool``) >= ``minimum``.

    Args:
        field: The argument's name, for the message.
        value: The value to check.
        minimum: The smallest accepted value.

    Raises:
        ConfigError: ``value`` is not an integer, is a ``bool``, or is below ``minimum``.
    """
    # numbers.Integral covers numpy integers as well as int; bool is an int but never meant.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(field, f"an integer >= {minimum}", value)
    return int(value)


def check_float(
    field: str,
    value: object,
    low: float,
    high: float = math.inf,
    *,
    include_high: bool = True,
) -> float:
    """``value`` as a ``float`` if it is a number (not ``bool``) in ``[low, high]``.

    Args:
        field: The argument's name, for the message.
        value: The value to check.
        low: The smallest accepted value.
        high: The largest accepted value (default: no upper bound).
        include_high: Whether ``high`` itself is accepted (``False``: ``[low, high)``).

    Raises:
        ConfigError: ``value`` is not a real number, is a ``bool``, is NaN, or lies outside
            the interval.
    """
    number = math.nan  # anything that is not a real number fails the comparison below
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
    inside = low <= number <= high and (include_high or number < high)
    if not inside:
        if math.isfinite(high):
            expected = f"a number in [{low}, {high}{']' if include_high else ')'}"
        else:
            expected = f"a number >= {low}"
        raise ConfigError(field, expected, value)
    return number
