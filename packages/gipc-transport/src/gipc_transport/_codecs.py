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


def _custom_frames(encode: Encoder) -> Callable[[Any], tuple[Segments, int]]:
    """Return the ``frames`` function of a codec other than the default: one DATA frame per message."""

    def frames(obj: Any) -> tuple[Segments, int]:
        data = encode(obj)
        if type(data) is not bytes:
            try:
                data = memoryview(data).cast("B")
            except TypeError:
                raise TypeError(
                    f"a gipc encoder must return a contiguous bytes-like object, not {type(data).__name__}"
                ) from None
        n = len(data)
        if n <= _wire.JOIN:
            return [_wire.header(_wire.DATA, n) + data], n
        return [_wire.header(_wire.DATA, n), data], n

    return frames


class Encoding:
    """An encoder resolved once, when a pipe is made: what the writer does with a message.

    Calling it encodes as the encoder it stands for does. The writer looks
    at :attr:`pickles` and :attr:`raw` for its inline fast path (small
    messages) and calls :attr:`frames` for everything else.

    :raises GIPCError: if ``spec`` is neither callable, ``None`` nor ``'default'``
        (as in gipc 1.x).
    """

    __slots__ = ("_encode", "frames", "pickles", "raw", "spec")

    def __init__(self, spec: Encoder | str | None) -> None:
        #: What ``pipe(encoder=...)`` was given: what a child resolves again.
        self.spec = spec
        #: The default codec: pickle, with large buffers out-of-band.
        self.pickles = isinstance(spec, str) and spec == "default"
        #: ``None``: bytes-like messages go out as they are.
        self.raw = spec is None
        if self.pickles:
            self._encode: Encoder = default_encoder
            #: ``frames(obj)``: the frame segments of a message and its length.
            self.frames: Callable[[Any], tuple[Segments, int]] = encode_default
            return
        if self.raw:
            self._encode = raw_codec
        elif callable(spec):
            self._encode = spec
        else:
            raise GIPCError(f"pipe 'encoder' must be callable, None or 'default', not {spec!r}")
        self.frames = _custom_frames(self._encode)

    def __call__(self, obj: Any) -> Any:
        return self._encode(obj)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Encoding, (self.spec,))


class Decoding:
    """A decoder resolved once, when a pipe is made: what the reader does with a message.

    Calling it decodes as the decoder it stands for does. The reader looks
    at :attr:`unpickles` to unpickle in place; any other decoder is given
    the message as ``bytes`` (see :attr:`decode`), as in gipc 1.x.

    :raises GIPCError: if ``spec`` is neither callable, ``None`` nor ``'default'``
        (as in gipc 1.x).
    """

    __slots__ = ("decode", "spec", "unpickles")

    def __init__(self, spec: Decoder | str | None) -> None:
        #: What ``pipe(decoder=...)`` was given: what a child resolves again.
        self.spec = spec
        #: The default codec: message bodies are unpickled where they lie, and
        #: out-of-band (PICKLE5) messages are understood.
        self.unpickles = isinstance(spec, str) and spec == "default"
        if self.unpickles:
            self.decode: Decoder = default_decoder
        elif spec is None:
            self.decode = raw_codec
        elif callable(spec):
            self.decode = spec
        else:
            raise GIPCError(f"pipe 'decoder' must be callable, None or 'default', not {spec!r}")

    def __call__(self, data: Any) -> Any:
        return self.decode(data)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Decoding, (self.spec,))


def resolve_encoder(encoder: Encoder | str | None) -> Encoding:
    """Return the :class:`Encoding` that ``pipe(encoder=...)`` designates (an Encoding stands for itself).

    :raises GIPCError: if ``encoder`` is neither callable, ``None`` nor ``'default'``.
    """
    return encoder if isinstance(encoder, Encoding) else Encoding(encoder)


def resolve_decoder(decoder: Decoder | str | None) -> Decoding:
    """Return the :class:`Decoding` that ``pipe(decoder=...)`` designates (a Decoding stands for itself).

    :raises GIPCError: if ``decoder`` is neither callable, ``None`` nor ``'default'``.
    """
    return decoder if isinstance(decoder, Decoding) else Decoding(decoder)
