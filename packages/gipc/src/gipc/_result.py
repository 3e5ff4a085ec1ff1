"""Outcomes of calls made in a child: encoded there, decoded in the parent.

A call's outcome travels as one pickle: ``(True, value)`` for a return value
or ``(False, failure)`` for an exception. A failure carries the exception
pickled on its own plus its type, message and formatted traceback as text, so
that an exception that cannot be pickled or unpickled still arrives as a
:class:`RemoteError` with the child's traceback.
"""

from __future__ import annotations

import pickle
import traceback
from collections.abc import Callable
from typing import Any

from ._result_errors import RemoteError, RemoteTraceback

_PROTOCOL = pickle.HIGHEST_PROTOCOL

# A call arrives in a worker as this tuple, pickled on its own.
Call = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


def _failure(exc: BaseException) -> tuple[str, str, str, bytes | None]:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    # The traceback is text now; dropping the frames keeps pickling cheap and
    # keeps locals of the child's frames from being pickled along.
    exc.__traceback__ = None
    try:
        data: bytes | None = pickle.dumps(exc, _PROTOCOL)
    except Exception:  # noqa: BLE001 - any pickling failure falls back to text
        data = None
    name = f"{type(exc).__module__}.{type(exc).__qualname__}"
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not lose the outcome
        message = "<unprintable exception>"
    return name, message, tb, data


def encode_failure(exc: BaseException) -> bytes:
    """Return the outcome bytes for a call that raised ``exc``."""
    return pickle.dumps((False, _failure(exc)), _PROTOCOL)


def run_call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """Call ``fn(*args, **kwargs)`` here and return its outcome as bytes.

    A return value that cannot be pickled turns into a failure carrying the
    pickling error.
    """
    try:
        value = fn(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - every outcome goes back, as concurrent.futures does
        return encode_failure(exc)
    try:
        return pickle.dumps((True, value), _PROTOCOL)
    except BaseException as exc:  # noqa: BLE001
        return encode_failure(exc)


def run_pickled_call(payload: bytes | memoryview) -> bytes:
    """Unpickle a :data:`Call`, run it and return its outcome as bytes."""
    try:
        fn, args, kwargs = pickle.loads(payload)
    except BaseException as exc:  # noqa: BLE001 - a task that cannot be loaded fails alone
        return encode_failure(exc)
    return run_call(fn, args, kwargs)


def rebuild_exception(failure: tuple[str, str, str, bytes | None]) -> BaseException:
    """Turn a failure made by :func:`encode_failure` into an exception to raise.

    The child's traceback becomes its ``__cause__``.
    """
    name, message, tb, data = failure
    cause = RemoteTraceback(f'\n"""\n{tb}"""')
    exc: BaseException | None = None
    if data is not None:
        try:
            exc = pickle.loads(data)
        except Exception:  # noqa: BLE001 - fall back to the text form below
            exc = None
    if not isinstance(exc, BaseException):
        exc = RemoteError(f"the child raised {name}: {message}")
    exc.__cause__ = cause
    return exc


def decode_outcome(data: bytes | memoryview) -> tuple[bool, Any]:
    """Return ``(True, value)`` or ``(False, exception)`` from outcome bytes.

    Unpickling errors of the value itself are returned as ``(False, error)``.
    """
    try:
        ok, value = pickle.loads(data)
    except Exception as exc:  # noqa: BLE001 - the call's own future gets the error
        return False, exc
    if ok:
        return True, value
    return False, rebuild_exception(value)
