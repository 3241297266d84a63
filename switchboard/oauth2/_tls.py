"""TLS to token endpoints beyond the system's trust store: a private CA (``tls_ca_cert``) and
a client certificate (``tls_client_auth``, RFC 8705 mutual TLS).

An ``ssl.SSLContext`` is costly to build and holds the key once loaded, so each TLS identity
gets one transport, built on first use and shared by every request that presents it.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import tempfile
import threading

import httpx2
from pydantic import SecretStr

from switchboard._models import ClientDefinition

__all__ = ["TLSTransports", "tls_refusal"]


def _load_client_chain(context: ssl.SSLContext, cert: str, key: SecretStr) -> None:
    """``load_cert_chain`` reads only files: the key and certificate go to a 0600 file in a
    private 0700 directory (``$TMPDIR``), which is removed as soon as they are loaded."""
    with tempfile.TemporaryDirectory(prefix="switchboard-tls-") as directory:
        path = os.path.join(directory, "client.pem")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(f"{key.get_secret_value().strip()}\n{cert.strip()}\n")
        context.load_cert_chain(path)


def _ssl_context(definition: ClientDefinition) -> ssl.SSLContext:
    if definition.tls_ca_cert is not None:  # this CA only: the endpoint is private
        context = ssl.create_default_context(cadata=definition.tls_ca_cert)
    else:
        context = httpx2.create_ssl_context()
    if definition.auth_method == "tls_client_auth":
        assert definition.tls_client_cert is not None and definition.tls_client_key is not None
        _load_client_chain(context, definition.tls_client_cert, definition.tls_client_key)
    return context


def _identity(definition: ClientDefinition) -> str | None:
    """A digest of the definition's TLS material (``None``: the shared default transport)."""
    key = definition.tls_client_key
    parts = (
        definition.tls_ca_cert,
        definition.tls_client_cert if definition.auth_method == "tls_client_auth" else None,
        key.get_secret_value() if key and definition.auth_method == "tls_client_auth" else None,
    )
    if not any(parts):
        return None
    return hashlib.sha256(repr(parts).encode()).hexdigest()


class TLSTransports:
    """One httpx2 transport per TLS identity (CA, certificate and key), safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: dict[str, httpx2.HTTPTransport] = {}

    def get(self, definition: ClientDefinition) -> httpx2.HTTPTransport | None:
        """The transport for ``definition``'s TLS material, or ``None`` when it has none."""
        identity = _identity(definition)
        if identity is None:
            return None
        with self._lock:
            transport = self._built.get(identity)
            if transport is None:
                transport = httpx2.HTTPTransport(verify=_ssl_context(definition))
                self._built[identity] = transport
            return transport

    def close(self) -> None:
        with self._lock:
            for transport in self._built.values():
                transport.close()
            self._built.clear()


def tls_refusal(exc: BaseException) -> str | None:
    """What a failed TLS handshake says about the certificates, if ``exc`` was one: our
    client certificate refused by the server, or the server's certificate not trusted by
    us. Either is configuration; retrying cannot change it."""
    seen: BaseException | None = exc
    for _ in range(10):  # the chain of causes is short; a cycle must not hang us
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"the server's certificate is not trusted: {seen.verify_message}"
        if isinstance(seen, ssl.SSLError) and "ALERT" in str(seen.reason or ""):
            return f"the server refused the client certificate ({seen.reason})"
        seen = seen.__cause__ or seen.__context__
    return None
