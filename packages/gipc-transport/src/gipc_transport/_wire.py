"""The wire format: how messages are framed on the pipe.

A message travels as one or more *frames*. Every frame starts with an 8-byte
header, an unsigned 64-bit little-endian integer: its low 62 bits are the
length of the frame body in bytes, its high 2 bits the frame *kind*:

``0`` DATA
    The body is a complete message, exactly the bytes the encoder returned
    (with the default codec: a pickle stream).
``1`` PICKLE5
    Written by the default codec only. The body is a 4-byte little-endian
    buffer count followed by a pickle protocol 5 stream; the ``n`` out-of-band
    buffers of that stream follow as ``n`` BUFFER frames. The count's high bit
    is not part of ``n``: it says that unpickling copies the buffers (a
    top-level ``bytes``), so the reader may read them into a reused buffer.
``2`` BUFFER
    The body is one out-of-band buffer of the preceding PICKLE5 frame.

Kind ``3`` is reserved: a reader treats it, and a BUFFER frame where none is
expected, as a corrupt stream. The length of a message, checked against
``max_message_size``, is the sum of its frame bodies (headers not counted).
Frames of one message are written back to back while the writer holds its
lock, so messages of concurrent writers in one process never interleave.
"""

from __future__ import annotations

import struct
import sys

HEADER = struct.Struct("<Q")
HEADER_SIZE = HEADER.size
COUNT = struct.Struct("<I")
COPIED = 1 << 31

KIND_SHIFT = 62
LENGTH_MASK = (1 << KIND_SHIFT) - 1
DATA = 0
PICKLE5 = 1
BUFFER = 2

# Frames up to SMALL body bytes are parsed out of the reader's read-ahead
# buffer; larger bodies are read straight into a buffer of their own.
SMALL = 64 * 1024
# The read-ahead buffer holds at least one whole small frame.
RING = 2 * SMALL + HEADER_SIZE
# A body buffer starts at most this large and at most doubles while data
# arrives, so a forged length cannot make the reader allocate memory that
# the peer did not send (beyond this start). On Windows a body buffer that
# grows costs far more than one of the final size (each growth reallocates
# and copies: a 16 MiB body grown from 1 MiB took 25 ms against 9.5 ms,
# measured under wine), so there bodies up to 16 MiB get their buffer at once.
BODY_START = 16 * 1024 * 1024 if sys.platform == "win32" else 1024 * 1024
BODY_MAX_STEP = 64 * 1024 * 1024
# Up to this size header and body are joined before writing: one small copy
# is cheaper than a scatter/gather list.
JOIN = 16 * 1024


def header(kind: int, length: int) -> bytes:
    """Return the 8-byte header of a frame of ``kind`` with a body of ``length`` bytes."""
    return HEADER.pack((kind << KIND_SHIFT) | length)


def next_capacity(filled: int, length: int) -> int:
    """Return the size to grow a body buffer to once ``filled`` bytes arrived."""
    step = min(max(filled, BODY_START), BODY_MAX_STEP)
    return min(length, filled + step)
