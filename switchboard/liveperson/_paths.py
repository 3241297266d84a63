"""URL paths from ids: each id is exactly one path segment, whatever it contains.

Every segment is percent-quoted with ``safe=""`` (a ``/`` or ``?`` cannot start a new segment
or a query), and a segment made only of dots is refused, because ``.`` and ``..`` stay as they
are after quoting and clients and servers resolve them as steps up the path.
"""

from __future__ import annotations

from urllib.parse import quote

__all__ = ["account_path", "segment"]


def segment(value: str, *, name: str) -> str:
    """``value`` as one quoted path segment; ``ValueError`` naming ``name`` if it cannot be one."""
    if not value.strip("."):
        raise ValueError(f"{name}: {value!r} cannot be a URL path segment (empty or dots only)")
    return quote(value, safe="")


def account_path(prefix: str, account_id: str, suffix: str) -> str:
    """``{prefix}/account/{account_id}{suffix}`` with the account as one quoted segment."""
    return f"{prefix}/account/{segment(account_id, name='account_id')}{suffix}"
