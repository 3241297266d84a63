"""TLS to token endpoints beyond the system's trust store: a private CA (``tls_ca_cert``) and
a client certificate (``tls_client_auth``, RFC 8705 mutual TLS).

An ``ssl.SSLContext`` is costly to build and holds the key once loaded, so each TLS identity
gets one transport, built on first use and shared by every request that presents it. A rotated
certificate replaces its transport, and only a few are kept, so old keys and their connection
pools do not stay in memory for the life of the process.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import ssl
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx2
from pydantic import SecretStr

from switchboard._models import ClientDefinition

__all__ = ["MAX_TLS_TRANSPORTS", "TLSTransports", "load_key_and_chain", "tls_refusal"]

MAX_TLS_TRANSPORTS = 32
"""TLS identities kept at once; the least recently used beyond this is closed. A refresher sees
each identity once per token lifetime, so rebuilding an evicted one costs little, while every
one kept holds a private key and a connection pool."""

_PROC_FDS = "/proc/self/fd"


def _memory_file() -> int | None:
    """A descriptor of an anonymous in-memory file (Linux ``memfd_create``) that ``ssl`` can
    open as ``/proc/self/fd/N``: it has no name on any filesystem and vanishes with the last
    descriptor, even when the process is killed. ``None`` where the platform has none."""
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is None or not os.path.isdir(_PROC_FDS):
        return None
    try:
        return int(memfd_create("switchboard-tls", getattr(os, "MFD_CLOEXEC", 1)))
    except OSError:  # ENOSYS under a seccomp filter, EMFILE...
        return None


def load_key_and_chain(context: ssl.SSLContext, cert: str, key: SecretStr) -> None:
    """Load a PEM private key and its certificate chain into ``context``.

    ``load_cert_chain`` reads only files. The PEM goes to an in-memory file, so no copy of the
    key ever lands on a disk, not even when the process dies while ``ssl`` reads it. Where
    there is no such file (not Linux, no ``/proc``), it goes to a 0600 file in a private 0700
    directory under ``$TMPDIR``, removed as soon as it is loaded: a kill in between can leave
    that one behind, so it is only the fallback.
    """
    pem = f"{key.get_secret_value().strip()}\n{cert.strip()}\n".encode()
    descriptor = _memory_file()
    if descriptor is None:
        with tempfile.TemporaryDirectory(prefix="switchboard-tls-") as directory:
            path = os.path.join(directory, "client.pem")
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as file:
                file.write(pem)
            context.load_cert_chain(path)
        return
    try:
        with os.fdopen(descriptor, "wb", closefd=False) as file:
            file.write(pem)
        context.load_cert_chain(f"{_PROC_FDS}/{descriptor}")
    finally:
        os.close(descriptor)


def _ssl_context(definition: ClientDefinition) -> ssl.SSLContext:
    if definition.tls_ca_cert is not None:  # this CA only: the endpoint is private
        context = ssl.create_default_context(cadata=definition.tls_ca_cert)
    else:
        context = httpx2.create_ssl_context()
    if definition.auth_method == "tls_client_auth":
        assert definition.tls_client_cert is not None and definition.tls_client_key is not None
        load_key_and_chain(context, definition.tls_client_cert, definition.tls_client_key)
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


_Client = tuple[str, str]
"""(token URL, client id): one client at one provider, whose TLS material a rotation replaces."""


@dataclass(eq=False)
class _Entry:
    transport: httpx2.HTTPTransport
    clients: set[_Client] = field(default_factory=set)
    leases: int = 0
    evicted: bool = False


class TLSTransports:
    """One httpx2 transport per TLS identity (CA, certificate and key), safe across threads.

    An identity no client uses any more (its certificate was rotated) is evicted at once, and
    beyond ``capacity`` the least recently used one is: each holds a key and a connection pool.
    An evicted transport is closed when its last request ends, never under one: a refresh
    whose answer is cut off is in doubt, and its refresh token possibly spent.
    """

    def __init__(self, capacity: int = MAX_TLS_TRANSPORTS) -> None:
        if capacity < 1:
            raise ValueError("a TLSTransports keeps at least one transport")
        self._capacity = capacity
        self._lock = threading.Lock()
        self._built: OrderedDict[str, _Entry] = OrderedDict()
        self._identity_of: dict[_Client, str] = {}

    @contextlib.contextmanager
    def lease(self, definition: ClientDefinition) -> Iterator[httpx2.HTTPTransport | None]:
        """The transport for ``definition``'s TLS material for one request, or ``None`` when
        it has none; it is not closed before the ``with`` block ends."""
        identity = _identity(definition)
        if identity is None:
            yield None
            return
        with self._lock:  # built under the lock: two threads never load one key twice
            entry = self._built.get(identity)
            if entry is None:
                entry = _Entry(httpx2.HTTPTransport(verify=_ssl_context(definition)))
                self._built[identity] = entry
            self._built.move_to_end(identity)
            entry.leases += 1
            closing = self._evict_stale(identity, (definition.token_url, definition.client_id))
        try:
            _close(closing)
            yield entry.transport
        finally:
            with self._lock:
                entry.leases -= 1
                closing = [entry] if entry.evicted and entry.leases == 0 else []
            _close(closing)

    def _evict_stale(self, identity: str, client: _Client) -> list[_Entry]:
        """Record that ``client`` now uses ``identity``; evict the identity it used before if
        no other client does, and the least recently used beyond capacity (never
        ``identity``). The evicted entries no request holds, to close (lock held)."""
        stale: list[str] = []
        previous = self._identity_of.get(client)
        self._identity_of[client] = identity
        self._built[identity].clients.add(client)
        if previous is not None and previous != identity and previous in self._built:
            old = self._built[previous]
            old.clients.discard(client)
            if not old.clients:
                stale.append(previous)
        for key in self._built:
            if len(self._built) - len(stale) <= self._capacity or key == identity:
                break
            if key not in stale:
                stale.append(key)
        closing: list[_Entry] = []
        for key in stale:
            entry = self._built.pop(key)
            entry.evicted = True
            for user in entry.clients:
                if self._identity_of.get(user) == key:
                    del self._identity_of[user]
            if entry.leases == 0:
                closing.append(entry)
        return closing

    def kept(self) -> int:
        """How many transports are kept (evicted ones still serving a request excluded)."""
        with self._lock:
            return len(self._built)

    def close(self) -> None:
        """Close every kept transport: at shutdown, when no request is expected."""
        with self._lock:
            entries = list(self._built.values())
            self._built.clear()
            self._identity_of.clear()
        _close(entries)


def _close(entries: list[_Entry]) -> None:
    """Close transports outside the lock: closing a pool may wait on its sockets."""
    for entry in entries:
        entry.transport.close()


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
