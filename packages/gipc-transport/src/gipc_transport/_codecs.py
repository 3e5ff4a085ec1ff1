"""Encoders and decoders: what turns objects into message bytes and back.

The default codec is pickle (highest protocol) with one refinement: a
top-level ``bytes`` or ``bytearray`` of at least 64 KiB (``_wire.SMALL``),
and any object that pickles out-of-band itself (protocol 5
:class:`pickle.PickleBuffer`, as NumPy arrays do), travel as out-of-band
buffers. The writer hands them to ``os.writev`` as they are, the reader
reads each into the object it unpickles to (a ``bytes`` or ``bytearray``),
so that neither side copies it.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

from . import _wire
from ._errors import GIPCError

Encoder = Callable[[Any], Any]
Decoder = Callable[[Any], Any]
Segments = list[Any]


def default_encoder(obj: Any) -> bytes:
    """Pickle ``obj`` in-band with the highest protocol (the 1.x default)."""
    return pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)


def default_decoder(data: Any) -> Any:
    """Unpickle one message."""
    return pickle.loads(data)


def raw_codec(data: Any) -> Any:
    """The codec ``None`` stands for: messages are bytes-like objects, passed as they are."""
    return data


def adopt_bytearray(buf: Any) -> bytearray:
    """Unpickling helper: the received buffer, as the ``bytearray`` that was sent."""
    if type(buf) is bytearray:
        return buf
    return bytearray(buf)


class _OutOfBand:
    """Wraps a top-level ``bytes``/``bytearray``, which pickle never sends out-of-band itself."""

    __slots__ = ("obj",)

    def __init__(self, obj: bytes | bytearray) -> None:
        self.obj = obj

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        rebuild = bytes if type(self.obj) is bytes else adopt_bytearray
        return (rebuild, (pickle.PickleBuffer(self.obj),))


class HasBuffers(Exception):
    """Raised from the pickler: the object has out-of-band buffers after all."""


def refuse_buffers(buffer: pickle.PickleBuffer) -> None:
    """``buffer_callback`` for pickling objects expected to have no out-of-band buffers.

    :raises HasBuffers: always; the caller starts over collecting buffers.
    """
    raise HasBuffers


_dumps = pickle.dumps
_PROTOCOL = pickle.HIGHEST_PROTOCOL
_pack_header = _wire.HEADER.pack


def _pickled_bytes_heads(dumps: Callable[[Any, int], bytes]) -> tuple[tuple[bytes, ...], bytes]:
    """What ``pickle.dumps()`` writes before and after a short ``bytes`` object.

    Pickling a short ``bytes`` is a fixed head (protocol, frame and opcode,
    which depend on the length only), the bytes themselves and a fixed tail.
    Found by pickling, and checked: if some Python pickles differently,
    there are no heads and every ``bytes`` goes through ``pickle.dumps()``.
    """
    heads: list[bytes] = []
    tail = dumps(b"", _PROTOCOL)[-2:]
    for k in range(256):
        zeros, ones = dumps(b"\x00" * k, _PROTOCOL), dumps(b"\xff" * k, _PROTOCOL)
        head = zeros[: len(zeros) - k - len(tail)]
        if zeros != head + b"\x00" * k + tail or ones != head + b"\xff" * k + tail:
            return (), b""
        heads.append(head)
    return tuple(heads), tail


# ``PICKLED_BYTES_HEADS[len(b)] + b + PICKLED_BYTES_TAIL == pickle.dumps(b)``
# for a ``bytes`` b shorter than ``len(PICKLED_BYTES_HEADS)``: the bytes
# messages that are small enough for pickle's cost to count are pickled
# byte for byte the same, several times faster.
PICKLED_BYTES_HEADS, PICKLED_BYTES_TAIL = _pickled_bytes_heads(_dumps)


def encode_default(obj: Any) -> tuple[Segments, int]:
    """Encode ``obj`` with the default codec into frame segments ready for ``writev``.

    :returns: the segments (headers and bodies) and the message length.
    """
    tp = type(obj)
    if (tp is bytes or tp is bytearray) and len(obj) >= _wire.SMALL:
        return _encode_out_of_band(_OutOfBand(obj), _wire.COPIED if tp is bytes else 0)
    try:
        # Most objects have no out-of-band buffers: pickle them without
        # collecting any, and start over in the rare case they have some.
        stream = _dumps(obj, _PROTOCOL, buffer_callback=refuse_buffers)
    except HasBuffers:
        return _encode_out_of_band(obj, 0)
    n = len(stream)
    if n <= _wire.JOIN:
        return [_pack_header(n) + stream], n
    return [_pack_header(n), stream], n


def _encode_out_of_band(obj: Any, flags: int) -> tuple[Segments, int]:
    buffers: list[pickle.PickleBuffer] = []
    stream = _dumps(obj, _PROTOCOL, buffer_callback=buffers.append)
    n = len(stream)
    if not buffers:
        return [_pack_header(n), stream], n
    segments: Segments = [
        _wire.header(_wire.PICKLE5, _wire.COUNT.size + n) + _wire.COUNT.pack(len(buffers) | flags),
        stream,
    ]
    total = _wire.COUNT.size + n
    for pb in buffers:
        view = pb.raw()
        segments.append(_wire.header(_wire.BUFFER, view.nbytes))
        segments.append(view)
        total += view.nbytes
    return segments, total


def decode_pickle5(body: Any, buffers: list[Any]) -> Any:
    """Unpickle a PICKLE5 frame body (count prefix included) with its buffers."""
    return pickle.loads(memoryview(body)[_wire.COUNT.size :], buffers=buffers)


def resolve_encoder(encoder: Encoder | str | None) -> Encoder:
    """Return the encoder callable that ``pipe(encoder=...)`` designates.

    :raises GIPCError: if ``encoder`` is neither callable, ``None`` nor ``'default'``.
    """
    if encoder is None:
        return raw_codec
    if isinstance(encoder, str) and encoder == "default":
        return default_encoder
    if not callable(encoder):
        raise GIPCError(f"pipe 'encoder' must be callable, None or 'default', not {encoder!r}")
    return encoder


def resolve_decoder(decoder: Decoder | str | None) -> Decoder:
    """Return the decoder callable that ``pipe(decoder=...)`` designates.

    :raises GIPCError: if ``decoder`` is neither callable, ``None`` nor ``'default'``.
    """
    if decoder is None:
        return raw_codec
    if isinstance(decoder, str) and decoder == "default":
        return default_decoder
    if not callable(decoder):
        raise GIPCError(f"pipe 'decoder' must be callable, None or 'default', not {decoder!r}")
    return decoder
