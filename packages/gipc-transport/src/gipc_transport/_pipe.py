"""The entry point: :func:`pipe`."""

from __future__ import annotations

import os

from ._codecs import Decoder, Encoder, resolve_decoder, resolve_encoder
from ._duplex import DuplexHandle, HandlePair
from ._handles import Reader, Writer


def pipe(
    duplex: bool = False,
    encoder: Encoder | str | None = "default",
    decoder: Decoder | str | None = "default",
) -> HandlePair:
    """Create a message channel and return its two ends.

    :param duplex: if false, return ``(reader, writer)``; if true, return two
        :class:`DuplexHandle` objects, each able to ``put()`` and ``get()``.
    :param encoder: turns objects into bytes: ``'default'`` (pickle, highest
        protocol), ``None`` (``put()`` takes bytes-like objects as they are) or a
        callable.
    :param decoder: turns bytes into objects: ``'default'`` (pickle), ``None``
        (``get()`` returns bytes) or a callable.
    :returns: a tuple of the two ends that is also a context manager closing both.
    :raises GIPCError: if a codec is neither callable, ``None`` nor ``'default'``.
    """
    enc = resolve_encoder(encoder)
    dec = resolve_decoder(decoder)
    r1, w1 = _new_pipe()
    if not duplex:
        return HandlePair((Reader(r1, dec), Writer(w1, enc)))
    r2, w2 = _new_pipe()
    return HandlePair(
        (
            DuplexHandle(Reader(r1, dec), Writer(w2, enc)),
            DuplexHandle(Reader(r2, dec), Writer(w1, enc)),
        )
    )


def _new_pipe() -> tuple[int, int]:
    return os.pipe()
