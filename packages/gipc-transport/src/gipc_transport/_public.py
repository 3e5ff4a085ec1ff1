"""Public objects show their public path (``gipc_transport.Reader``), not the private module."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import FunctionType
from typing import Any


def publish(module: str, namespace: Mapping[str, Any], names: Iterable[str]) -> None:
    """Set ``__module__`` of the classes and functions ``names`` of ``namespace`` to ``module``.

    Called by a public module for its ``__all__``, so that tracebacks,
    pickles, ``repr()`` and the API reference name the public path.
    Constants and submodules are left alone.
    """
    for name in names:
        obj = namespace[name]
        # What inspect.isclass() and isfunction() test, without importing
        # inspect (about 4 ms, with ast and dis) into every program and child.
        if isinstance(obj, (type, FunctionType)):
            obj.__module__ = module
