"""Checking the arguments of the public API: one place, one wording.

A wrong type is a :exc:`TypeError` and a value out of range a
:exc:`ValueError`, as for builtins. Where gipc 1.x raised
:exc:`~gipc_transport.GIPCError` for a bad argument (a codec that is not
callable), it still does: that is the codec resolution's own error.
"""

from __future__ import annotations

from typing import Any


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    integer: bool = False,
    unit: str = "",
) -> None:
    """Refuse ``value`` unless it is a number (an ``int`` if ``integer``) from ``low`` to ``high``.

    ``bool`` is not taken for a number. ``unit`` ("seconds") only words the
    message.

    :raises TypeError: if ``value`` is not a number (or not an integer).
    :raises ValueError: if it is below ``low`` or above ``high``.
    """
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        error: type[Exception] = TypeError
    elif (low is not None and value < low) or (high is not None and value > high):
        error = ValueError
    else:
        return
    what = "an integer" if integer else "a number"
    if unit:
        what += f" of {unit}"
    if low is not None and high is not None:
        what += f" from {low:g} to {high:g}"
    elif low is not None:
        what += f" of at least {low:g}"
    raise error(f"{name} must be {what}, not {value!r}")
