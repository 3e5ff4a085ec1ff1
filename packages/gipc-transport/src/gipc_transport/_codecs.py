"""Encoders and decoders: what turns objects into message bytes and back."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

from ._errors import GIPCError

Encoder = Callable[[Any], Any]
Decoder = Callable[[Any], Any]


def default_encoder(obj: Any) -> bytes:
    return pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)


default_decoder: Decoder = pickle.loads


def _raw(data: Any) -> Any:
    return data


def resolve_encoder(encoder: Encoder | str | None) -> Encoder:
    if encoder is None:
        return _raw
    if isinstance(encoder, str) and encoder == "default":
        return default_encoder
    if not callable(encoder):
        raise GIPCError(f"pipe 'encoder' must be callable, None or 'default', not {encoder!r}")
    return encoder


def resolve_decoder(decoder: Decoder | str | None) -> Decoder:
    if decoder is None:
        return _raw
    if isinstance(decoder, str) and decoder == "default":
        return default_decoder
    if not callable(decoder):
        raise GIPCError(f"pipe 'decoder' must be callable, None or 'default', not {decoder!r}")
    return decoder
