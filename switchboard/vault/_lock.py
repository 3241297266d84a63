"""The single-flight lock on ``<base>/credentials/<name>/lock``, built on KV v2 check-and-set.

Taking the lock is a CAS write over the version we read, so two processes can never
both win. The lease (``expires_at``) outlives the slowest refresh and a background
thread renews it while held; a crashed holder's lease expires and can be taken over.
The lock only avoids spending a refresh token twice; correctness of the token write
still rests on its own CAS.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from datetime import timedelta
from types import TracebackType

from switchboard._exceptions import CASConflict, LockBusy, VaultError
from switchboard._models import format_time, parse_time, utcnow
from switchboard.vault._store import CredentialStore

__all__ = ["CredentialLock", "lock_owner_id"]


def lock_owner_id() -> str:
    """``host:pid:random``: tells operators who holds a lock, and is unique per holder."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class CredentialLock:
    """``with CredentialLock(store, name, lease_seconds=60):`` or ``LockBusy``."""

    def __init__(self, store: CredentialStore, name: str, *, lease_seconds: float) -> None:
        self.store = store
        self.name = name
        self.lease_seconds = lease_seconds
        self.owner = lock_owner_id()
        self.lost = False
        self._version: int | None = None  # only the renewer writes it until release() joins it
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _lease(self) -> dict[str, str]:
        expires = utcnow() + timedelta(seconds=self.lease_seconds)
        return {"owner": self.owner, "expires_at": format_time(expires)}

    def acquire(self) -> None:
        """Take the lease with a CAS write, or raise ``LockBusy`` naming the holder."""
        found = self.store.read_lock(self.name)
        if found is None:
            cas = 0
        else:
            holder = str(found.data.get("owner") or "")
            expires_at = found.data.get("expires_at")
            if holder and expires_at and parse_time(str(expires_at)) > utcnow():
                raise LockBusy(f"{self.name}: refresh lock held by {holder} until {expires_at}")
            cas = found.version
        try:
            self._version = version = self.store.write_lock(self.name, self._lease(), cas=cas)
        except CASConflict:
            raise LockBusy(f"{self.name}: another process took the refresh lock first") from None
        self._stop.clear()
        self._renewer = threading.Thread(
            target=self._renew_until_released,
            args=(version,),
            name=f"lock-{self.name}",
            daemon=True,
        )
        self._renewer.start()

    def _renew_until_released(self, version: int) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                version = self._version = self.store.write_lock(
                    self.name, self._lease(), cas=version
                )
            except CASConflict:
                self.lost = True  # someone took over an expired lease: stop renewing
                return
            except VaultError:
                continue  # Vault is away; try again before the lease runs out

    def release(self) -> None:
        """Stop renewing and end the lease; a lease we lost or cannot write simply expires."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        version, self._version = self._version, None
        if version is None or self.lost:
            return
        with contextlib.suppress(VaultError):
            self.store.write_lock(
                self.name, {"owner": "", "expires_at": format_time(utcnow())}, cas=version
            )

    def __enter__(self) -> CredentialLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
