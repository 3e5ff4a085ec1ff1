"""The API reference lists the entry points before the exceptions.

autodoc documents each module's members in ``__all__`` order
(``autodoc_member_order = "bysource"``), so that order is what a reader of
docs/api.rst sees.
"""

from __future__ import annotations

import importlib

import pytest

ENTRY_POINTS = {
    "gipc_transport": ["pipe", "Reader", "Writer"],
    "gipc_process": ["start_process", "Process"],
    "gipc": ["pipe", "start_process", "call_in_process", "ProcessPool", "Reader", "Writer", "Process"],
}


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_entry_points_come_first_and_exceptions_last(name: str) -> None:
    module = importlib.import_module(name)
    public = [n for n in module.__all__ if not n.startswith("__")]
    objects = [getattr(module, n) for n in public]
    is_error = [isinstance(obj, type) and issubclass(obj, BaseException) for obj in objects]
    # Once the exceptions begin, nothing else follows.
    assert is_error == sorted(is_error), public
    assert public[: len(ENTRY_POINTS[name])] == ENTRY_POINTS[name]
