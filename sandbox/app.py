"""Assemble the sandbox: one Starlette app over in-memory state (``create_app``)."""

from __future__ import annotations

from starlette.applications import Starlette

from sandbox.control import ControlAPI
from sandbox.oauth2_server import OAuth2Endpoints, TokenStore
from sandbox.state import Counters, Faults

__all__ = ["create_app"]


def create_app() -> Starlette:
    """A fresh sandbox with empty state (each call is independent)."""
    tokens, faults, counters = TokenStore(), Faults(), Counters()
    oauth2 = OAuth2Endpoints(tokens, faults, counters)
    control = ControlAPI(tokens=tokens, faults=faults, counters=counters)
    return Starlette(routes=[*oauth2.routes(), *control.routes()])
