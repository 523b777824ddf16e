"""Opaque keyset cursors bound to their query.

A cursor is ``base64url(msgpack(last sort key) + tag)`` where the tag is a BLAKE2b digest
of the key *and* the endpoint's canonical filters: a cursor edited by hand, truncated, or
taken from another query or endpoint fails the tag and is a 400 naming ``cursor``. (The tag
guards integrity, not secrecy: the key is public data, a well-formed cursor only picks the
starting point of a public listing.)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import msgspec

from od.api.problems import Problem

_TAG_BYTES = 12
_INVALID = "not a cursor of this query (altered, truncated or from another query)"


def _tag(key_bytes: bytes, scope: str, filters: msgspec.Struct) -> bytes:
    digest = hashlib.blake2b(digest_size=_TAG_BYTES, person=b"od-cursor")
    digest.update(scope.encode() + b"\0" + msgspec.msgpack.encode(filters) + b"\0" + key_bytes)
    return digest.digest()


def encode_cursor(key: tuple[Any, ...], *, scope: str, filters: msgspec.Struct) -> str:
    """``filters`` is the query without ``cursor`` and ``limit`` (they may change between pages)."""
    key_bytes = msgspec.msgpack.encode(key)
    return base64.urlsafe_b64encode(key_bytes + _tag(key_bytes, scope, filters)).rstrip(b"=").decode()


def decode_cursor(token: str, key_type: Any, *, scope: str, filters: msgspec.Struct) -> Any:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise Problem.bad_param("cursor", _INVALID) from None
    key_bytes, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
    if len(raw) <= _TAG_BYTES or tag != _tag(key_bytes, scope, filters):
        raise Problem.bad_param("cursor", _INVALID)
    try:
        return msgspec.msgpack.decode(key_bytes, type=key_type)
    except msgspec.DecodeError:
        raise Problem.bad_param("cursor", _INVALID) from None
