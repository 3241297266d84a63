"""hvac and transport (httpx2) exceptions mapped onto Switchboard's ``VaultError`` tree."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx2
import hvac.exceptions

from switchboard._exceptions import (
    CASConflict,
    VaultError,
    VaultNotFound,
    VaultPermissionDenied,
    VaultUnavailable,
)

__all__ = ["vault_errors"]

_UNAVAILABLE = (
    hvac.exceptions.InternalServerError,
    hvac.exceptions.VaultDown,
    hvac.exceptions.BadGateway,
    hvac.exceptions.RateLimitExceeded,
    hvac.exceptions.VaultNotInitialized,
)


@contextlib.contextmanager
def vault_errors(path: str) -> Iterator[None]:
    """Translate whatever hvac raises for ``path`` into a ``VaultError`` naming the path."""
    try:
        yield
    except httpx2.TransportError as exc:
        raise VaultUnavailable(
            f"Vault is unreachable ({type(exc).__name__}) at {path}", path=path
        ) from None
    except _UNAVAILABLE as exc:
        raise VaultUnavailable(
            f"Vault is unavailable or sealed ({type(exc).__name__}) at {path}", path=path
        ) from None
    except hvac.exceptions.Forbidden:
        raise VaultPermissionDenied(
            f"permission denied on {path}: the Vault token's policy does not allow this; "
            "grant it in the policy (see switchboard/policies/) or use another identity",
            path=path,
        ) from None
    except hvac.exceptions.Unauthorized:
        raise VaultPermissionDenied(
            f"Vault rejected the token at {path}: it is missing, expired or revoked", path=path
        ) from None
    except hvac.exceptions.InvalidPath:
        raise VaultNotFound(f"nothing stored at {path}", path=path) from None
    except hvac.exceptions.InvalidRequest as exc:
        if "check-and-set" in str(exc):
            raise CASConflict(
                f"check-and-set lost at {path}: it changed since it was read", path=path
            ) from None
        raise VaultError(f"Vault refused the request at {path}: {exc}", path=path) from None
    except hvac.exceptions.VaultError as exc:
        raise VaultError(f"Vault failed at {path} ({type(exc).__name__})", path=path) from None
