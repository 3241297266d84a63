"""hvac's HTTP session on httpx2 instead of requests.

hvac sends every request through ``session.request(...)`` and reads ``ok``, ``status_code``,
``headers``, ``text`` and ``json()`` of the answer. ``HttpxSession`` offers exactly that on an
``httpx2.Client``: it costs less client CPU per request than ``requests``, and a token-fleet run
is bound by that CPU (the measurement is in BENCHMARKS.md).
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx2

__all__ = ["KEEP_ALIVE", "HttpxSession"]

KEEP_ALIVE = 64
"""Idle connections kept open to Vault (more than any default concurrency needs)."""


class _Answer:
    """An ``httpx2.Response`` seen as the ``requests.Response`` hvac expects."""

    __slots__ = ("_response",)

    def __init__(self, response: httpx2.Response) -> None:
        self._response = response

    @property
    def ok(self) -> bool:
        return self._response.status_code < 400  # requests' meaning of ``ok``

    @property
    def status_code(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> httpx2.Headers:
        return self._response.headers

    @property
    def text(self) -> str:  # Vault answers UTF-8 JSON: no charset sniffing (hvac reads every error)
        return self._response.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return self._response.json()

    def __repr__(self) -> str:
        return f"<Vault answer {self._response.status_code}>"


class HttpxSession:
    """The slice of ``requests.Session`` hvac uses, on one thread-safe ``httpx2.Client``.

    TLS verification is fixed when the session is built; hvac's per-request ``verify``,
    ``cert`` and ``proxies`` arguments repeat it and are dropped. The proxy environment is
    ignored (``trust_env=False``): Vault is reached directly.
    """

    # hvac adopts a session's own verify/cert/proxies when they are set; these say "not set"
    cert = None
    proxies = None

    def __init__(self, *, verify: bool | ssl.SSLContext, timeout: float) -> None:
        self.verify = verify
        self._client = httpx2.Client(
            verify=verify,
            timeout=timeout,
            trust_env=False,
            # like requests: never wait for a free connection (refresh threads and lock
            # renewals share this client, and their number follows the settings)
            limits=httpx2.Limits(max_connections=None, max_keepalive_connections=KEEP_ALIVE),
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        allow_redirects: bool = True,
        timeout: float | None = None,
        params: Any = None,
        json: Any = None,
        verify: object = None,
        cert: object = None,
        proxies: object = None,
    ) -> _Answer:
        del verify, cert, proxies  # fixed when the session was built
        return _Answer(
            self._client.request(
                method.upper(),
                url,
                headers=headers,
                params=params,
                json=json,
                follow_redirects=allow_redirects,
                timeout=timeout if timeout is not None else httpx2.USE_CLIENT_DEFAULT,
            )
        )

    def close(self) -> None:
        self._client.close()
