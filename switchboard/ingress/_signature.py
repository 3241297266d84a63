"""HMAC-SHA256 webhook signatures: who may post events, checked before anything is parsed.

The sender signs the raw body with the shared secret and sends
``X-Switchboard-Signature: sha256=<hex>``. With ``X-Switchboard-Timestamp: <unix seconds>`` the
signed string is ``<timestamp>.<body>`` and a request older (or newer) than ``max_age`` seconds
is refused, so a captured request cannot be replayed later; without it the body alone is signed.
Comparison is constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
import time

from pydantic import SecretStr

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "BadSignature",
    "sign",
    "signed_headers",
    "verify",
]

SIGNATURE_HEADER = "X-Switchboard-Signature"
TIMESTAMP_HEADER = "X-Switchboard-Timestamp"
_PREFIX = "sha256="


class BadSignature(Exception):
    """The request is unsigned, wrongly signed or too old; the message says which, never a value."""


def _message(body: bytes, timestamp: str | None) -> bytes:
    return body if timestamp is None else timestamp.encode("ascii") + b"." + body


def sign(secret: SecretStr, body: bytes, timestamp: str | None = None) -> str:
    """The ``X-Switchboard-Signature`` value for ``body`` (and ``timestamp`` when given)."""
    key = secret.get_secret_value().encode()
    return _PREFIX + hmac.new(key, _message(body, timestamp), hashlib.sha256).hexdigest()


def signed_headers(secret: SecretStr, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """Headers a sender adds: a timestamp (now) and the signature over it and ``body``."""
    timestamp = str(int(time.time() if now is None else now))
    return {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, body, timestamp),
    }


def verify(
    secret: SecretStr,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    max_age: float,
    now: float | None = None,
) -> None:
    """Raise ``BadSignature`` unless ``signature`` signs ``body`` (and a recent ``timestamp``)."""
    if not signature:
        raise BadSignature(f"{SIGNATURE_HEADER}: missing; sign the body with the shared secret")
    if timestamp is not None:
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            raise BadSignature(f"{TIMESTAMP_HEADER}: not a Unix time in seconds")
        age = (time.time() if now is None else now) - int(timestamp)
        if abs(age) > max_age:
            raise BadSignature(f"{TIMESTAMP_HEADER}: more than {max_age:g} s from now")
    expected = sign(secret, body, timestamp)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace")):
        raise BadSignature(f"{SIGNATURE_HEADER}: does not match the body")
