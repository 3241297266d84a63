"""Token endpoint URLs: which ones a refresh token may be sent to, and how they are shown.

A refresh token is a bearer secret: whoever can edit a client definition must not be able to
send it to a plain-http host, and a URL printed in a message or a health record must not carry
credentials (userinfo) or whatever a query string holds.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

__all__ = ["check_token_url", "origin", "redact_url"]

_LOOPBACK_NAMES = frozenset({"localhost"})


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_token_url(url: str) -> str:
    """``url`` if a token may be requested from it, else ``ValueError`` saying what to change.

    ``https://`` only, except ``http://`` on loopback (a sandbox or a local proxy); no
    userinfo (credentials go in the client definition, never in the URL); no fragment.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError("`token_url` is not a valid URL") from None
    if parts.scheme not in {"https", "http"} or not host:
        raise ValueError("`token_url` must be an https:// URL with a host")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ValueError("`token_url` must use https:// (http:// is allowed on loopback only)")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "`token_url` must not contain user:password@; put the client in the definition"
        )
    if parts.fragment:
        raise ValueError("`token_url` must not have a #fragment")
    return url


_DEFAULT_PORTS = {"https": 443, "http": 80}


def origin(url: str) -> str:
    """``scheme://host[:port]``: the party a refresh token was issued by (default port dropped)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    explicit = parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme)
    port = f":{parts.port}" if explicit else ""
    return f"{parts.scheme}://{host.lower()}{port}"


def redact_url(url: str) -> str:
    """``url`` without userinfo, query or fragment: safe for messages, logs and Vault records."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    query = "?…" if parts.query else ""
    return urlunsplit((parts.scheme, f"{host}{port}", parts.path, "", "")) + query
