"""The entry point: :func:`pipe`."""

from __future__ import annotations

from ._checks import check_number
from ._codecs import Decoder, Encoder, resolve_decoder, resolve_encoder
from ._duplex import DuplexHandle, HandlePair
from ._pipes import channel, close
from ._reader import Reader
from ._writer import Writer


def pipe(
    duplex: bool = False,
    encoder: Encoder | str | None = "default",
    decoder: Decoder | str | None = "default",
    max_message_size: int | None = None,
) -> HandlePair:
    """Create a message channel and return its two ends.

    The wire format is described in :mod:`gipc_transport._wire` (a 64-bit
    length header per frame). The pipe buffer is enlarged on Linux the first
    time a large message is written.

    :param duplex: if false, return ``(reader, writer)``; if true, return two
        :class:`DuplexHandle` objects, each able to ``put()`` and ``get()``.
    :param encoder: turns objects into bytes: ``'default'`` (pickle, highest
        protocol, large buffers out-of-band), ``None`` (``put()`` takes
        bytes-like objects as they are) or a callable.
    :param decoder: turns bytes into objects: ``'default'`` (pickle), ``None``
        (``get()`` returns bytes) or a callable.
    :param max_message_size: if given, the largest message in bytes: ``put()``
        refuses larger ones, ``get()`` refuses to receive them (and breaks,
        because a larger announced length means the stream is not to be trusted).
    :returns: a tuple of the two ends that is also a context manager closing both.
    :raises GIPCError: if a codec is neither callable, ``None`` nor ``'default'``
        (as in gipc 1.x).
    :raises TypeError: if ``max_message_size`` is neither ``None`` nor an integer.
    :raises ValueError: if ``max_message_size`` is less than 1.

    .. versionchanged:: 2.0
       ``max_message_size``.
    """
    # Codecs are resolved once, here, for every handle of the pipe.
    enc = resolve_encoder(encoder)
    dec = resolve_decoder(decoder)
    if max_message_size is not None:
        check_number(max_message_size, "max_message_size", low=1, integer=True)
    limit = max_message_size
    r1, w1 = channel()
    if not duplex:
        return HandlePair((Reader(r1, dec, limit), Writer(w1, enc, limit)))
    try:
        r2, w2 = channel()
    except BaseException:
        close(r1)
        close(w1)
        raise
    return HandlePair(
        (
            DuplexHandle(Reader(r1, dec, limit), Writer(w2, enc, limit)),
            DuplexHandle(Reader(r2, dec, limit), Writer(w1, enc, limit)),
        )
    )
