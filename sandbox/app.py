"""Assemble the sandbox: one Starlette app over in-memory state (``create_app``)."""

from __future__ import annotations

from starlette.applications import Starlette

from sandbox.control import ControlAPI
from sandbox.liveperson import LivePersonSimulator, LivePersonState
from sandbox.oauth1_verifier import OAuth1Endpoints, OAuth1KeyStore, OAuth1Verifier
from sandbox.oauth2_server import OAuth2Endpoints, TokenStore
from sandbox.state import Counters, Faults
from sandbox.tls import TestCA

__all__ = ["create_app"]


def create_app(tls: tuple[TestCA, str] | None = None) -> Starlette:
    """A fresh sandbox with empty state (each call is independent); ``tls`` is the CA and
    URL of the mutual-TLS listener serving the same app, if one runs."""
    tokens, oauth1_keys, liveperson = TokenStore(), OAuth1KeyStore(), LivePersonState()
    faults, counters = Faults(), Counters()
    verifier = OAuth1Verifier(oauth1_keys)
    control = ControlAPI(
        tokens=tokens,
        faults=faults,
        counters=counters,
        oauth1_keys=oauth1_keys,
        liveperson=liveperson,
        tls=tls,
    )
    return Starlette(
        routes=[
            *OAuth2Endpoints(tokens, faults, counters).routes(),
            *OAuth1Endpoints(verifier).routes(),
            *LivePersonSimulator(liveperson, tokens, verifier, faults, counters).routes(),
            *control.routes(),
        ]
    )
