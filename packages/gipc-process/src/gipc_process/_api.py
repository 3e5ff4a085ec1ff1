"""How the public surface presents itself: where public objects say they live, how arguments are checked."""

from __future__ import annotations

from typing import Any


def set_public_module(module: str, *objs: Any) -> None:
    """Make ``objs`` name ``module``, their public home, in tracebacks, pickles and the docs."""
    for obj in objs:
        obj.__module__ = module


def check_type(name: str, value: object, kind: type | tuple[type, ...], expected: str) -> None:
    """Refuse an argument of the wrong type, in the words of the builtins.

    :raises TypeError: ``"<name> must be <expected>, not <type>"``.
    """
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be {expected}, not {type(value).__name__}")
