"""An authenticated Vault client that stays authenticated.

``connect`` logs in (token or AppRole), checks the identity loudly with
``lookup-self``, and ``VaultSession.client()`` renews the Vault token before it
expires: ``renew-self`` when renewable, a fresh AppRole login otherwise.
"""

from __future__ import annotations

import ssl
import threading
import time
from typing import Any

import hvac

from switchboard._exceptions import ConfigurationError, VaultError
from switchboard._settings import VaultSettings
from switchboard.vault._errors import vault_errors
from switchboard.vault._transport import HttpxSession

__all__ = ["RENEW_AT_FRACTION", "VaultSession", "connect"]

RENEW_AT_FRACTION = 0.5
"""Renew once this share of the Vault token's TTL has passed."""


class VaultSession:
    """One hvac client per process, re-authenticated before its token expires."""

    def __init__(self, settings: VaultSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._client = self._new_client()
        self._renew_at: float | None = None
        self._renewable = False

    def _new_client(self) -> hvac.Client:
        """An hvac client on httpx2 (``HttpxSession``) reaching ``addr`` directly.

        Configured by settings only: ``HTTP(S)_PROXY``, ``NO_PROXY``, ``SSL_CERT_FILE`` and
        ``~/.netrc`` are ignored; use ``VAULT_CACERT`` for a private CA.
        """
        settings = self.settings
        verify = _tls_verification(settings)
        return hvac.Client(
            url=settings.addr,
            token=settings.token.get_secret_value() if settings.token else None,
            namespace=settings.namespace,
            verify=verify,
            timeout=settings.timeout,
            session=HttpxSession(verify=verify, timeout=settings.timeout),
        )

    def login(self) -> None:
        """Log in (AppRole) if configured, then ``GET /auth/token/lookup-self`` to prove access."""
        settings = self.settings
        if settings.auth_method == "approle":
            assert settings.role_id is not None and settings.secret_id is not None
            with vault_errors(f"auth/{settings.approle_mount}/login"):
                self._client.auth.approle.login(
                    role_id=settings.role_id.get_secret_value(),
                    secret_id=settings.secret_id.get_secret_value(),
                    mount_point=settings.approle_mount,
                )
        with vault_errors("auth/token/lookup-self"):
            info: dict[str, Any] = self._client.auth.token.lookup_self()["data"]
        self._schedule(ttl=float(info.get("ttl") or 0), renewable=bool(info.get("renewable")))

    def _schedule(self, *, ttl: float, renewable: bool) -> None:
        self._renewable = renewable
        self._renew_at = time.monotonic() + ttl * RENEW_AT_FRACTION if ttl > 0 else None

    def client(self) -> hvac.Client:
        """The hvac client, its token renewed first when half its TTL has passed."""
        if self._renew_at is not None and time.monotonic() >= self._renew_at:
            with self._lock:
                if self._renew_at is not None and time.monotonic() >= self._renew_at:
                    self.renew()
        return self._client

    def renew(self) -> None:
        """``POST /auth/token/renew-self``, or log in again when the token cannot be renewed."""
        if self._renewable:
            try:
                with vault_errors("auth/token/renew-self"):
                    auth = self._client.auth.token.renew_self()["auth"]
                self._schedule(ttl=float(auth["lease_duration"]), renewable=bool(auth["renewable"]))
                return
            except VaultError:
                if self.settings.auth_method != "approle":
                    raise
        if self.settings.auth_method == "approle":
            self.login()
        else:
            self._renew_at = None  # a non-renewable static token: nothing we can do but use it


def _tls_verification(settings: VaultSettings) -> bool | ssl.SSLContext:
    """``False`` with ``VAULT_SKIP_VERIFY``, else the ``VAULT_CACERT`` bundle or directory, or
    the system's CAs (``True``)."""
    if settings.skip_verify:
        return False
    ca = settings.ca_cert
    if ca is None:
        return True
    try:
        if ca.is_dir():
            return ssl.create_default_context(capath=str(ca))
        return ssl.create_default_context(cafile=str(ca))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"VAULT_CACERT: cannot load {ca} ({type(exc).__name__}); point it at a PEM bundle "
            "or a directory of CA certificates"
        ) from None


def connect(settings: VaultSettings) -> VaultSession:
    """A logged-in session; raises one clear error when Vault refuses us at start."""
    session = VaultSession(settings)
    try:
        session.login()
    except VaultError as exc:
        raise ConfigurationError(f"cannot use Vault at {settings.addr}: {exc}") from None
    return session
