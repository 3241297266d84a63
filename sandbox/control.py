"""``/_control/*``: how tests, the demo and the benchmarks set the sandbox up and read it back."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from cryptography.hazmat.primitives import serialization
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.client_auth import JWT_BEARER, KEY_METHODS, public_keys
from sandbox.liveperson import LivePersonState
from sandbox.oauth1_verifier import OAuth1KeyStore
from sandbox.oauth2_server import GRANT_TYPES, Client, TokenStore
from sandbox.profiles import Profile, profile_named, with_overrides
from sandbox.scenario import parse_scenario
from sandbox.state import Counters, Faults, bad_request, new_secret, parse_fault
from sandbox.tls import TestCA

__all__ = ["ControlAPI", "read_json"]


async def read_json(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (empty body = ``{}``); ``ValueError`` otherwise."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        payload = json.loads(raw)
    except ValueError as error:
        raise ValueError(f"the body is not valid JSON: {error}") from None
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object")
    return payload


def _flag(payload: dict[str, Any], name: str) -> bool:
    value = payload.get(name, False)
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be true or false, got {value!r}")
    return value


def parse_client(payload: dict[str, Any]) -> Client:
    """Validate a ``POST /_control/clients`` body into a new client with a fresh secret."""
    grants = payload.get("grant_types", ["client_credentials"])
    if (
        not isinstance(grants, list)
        or not grants
        or any(grant not in GRANT_TYPES for grant in grants)
    ):
        raise ValueError(f"`grant_types` must be a non-empty list of {GRANT_TYPES}, got {grants!r}")
    client_id = payload.get("client_id") or f"client-{uuid.uuid4().hex[:12]}"
    if not isinstance(client_id, str):
        raise ValueError("`client_id` must be a string")
    scope = payload.get("scope") or ""
    if not isinstance(scope, str):
        raise ValueError("`scope` must be a space-separated string")
    lifetime = payload.get("access_token_lifetime", 3600)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime < 1:
        raise ValueError(f"`access_token_lifetime` must be whole seconds >= 1, got {lifetime!r}")
    return Client(
        client_id=client_id,
        client_secret=new_secret("cs"),
        grant_types=frozenset(grants),
        scope=scope,
        access_token_lifetime=lifetime,
        profile=_profile(payload),
        **_proof(payload, client_id, grants),
    )


def _proof(payload: dict[str, Any], client_id: str, grants: list[str]) -> dict[str, Any]:
    """What the client proves itself with besides a secret (RFC 7591 metadata names):
    ``token_endpoint_auth_method`` ``private_key_jwt`` with ``jwks`` or ``public_key``,
    ``tls_client_auth`` with ``tls_client_auth_subject_dn``; the JWT bearer grant needs the
    key too and accepts ``sub`` from ``subjects`` (default: the client id)."""
    method = payload.get("token_endpoint_auth_method")
    if method is not None and method not in KEY_METHODS:
        raise ValueError(f"`token_endpoint_auth_method` must be one of {KEY_METHODS} or absent")
    keys = public_keys(payload)
    if keys is None and (method == "private_key_jwt" or JWT_BEARER in grants):
        raise ValueError("`jwks` or `public_key` is required to verify signed assertions")
    dn = payload.get("tls_client_auth_subject_dn")
    if method == "tls_client_auth" and (not isinstance(dn, str) or not dn):
        raise ValueError("`tls_client_auth_subject_dn` (RFC 4514) is required")
    subjects = payload.get("subjects", [client_id])
    if not isinstance(subjects, list) or not all(isinstance(s, str) for s in subjects):
        raise ValueError("`subjects` must be a list of strings")
    return {
        "auth_method": method,
        "jwks": keys,
        "tls_subject_dn": dn if method == "tls_client_auth" else None,
        "subjects": frozenset(subjects),
    }


def _profile(payload: dict[str, Any]) -> Profile:
    """The client's ``profile`` (default ``strict``), with the per-client flags that predate
    profiles applied on top: ``expires_in_as_string``, ``omit_expires_in``, ``expires_in_value``."""
    profile = profile_named(payload.get("profile", "strict"))
    odd = payload.get("expires_in_value")
    if odd is not None and (isinstance(odd, bool) or not isinstance(odd, str | int | float)):
        raise ValueError("`expires_in_value` must be a string or a number")
    changes: dict[str, Any] = {}
    if _flag(payload, "expires_in_as_string"):
        changes["expires_in"] = "string"
    if _flag(payload, "omit_expires_in"):
        changes["expires_in"] = "omit"
    if odd is not None:
        changes["expires_in_value"] = odd
    return with_overrides(profile, **changes) if changes else profile


Handler = Callable[[Request, dict[str, Any]], Awaitable[Response]]


def _json_route(path: str, handler: Handler) -> Route:
    """A POST route whose handler gets the JSON body; bad input answers 400 naming the field."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request, await read_json(request))
        except ValueError as error:
            return bad_request(str(error))

    return Route(path, endpoint, methods=["POST"])


class ControlAPI:
    """Set-up and inspection endpoints; ``reset`` clears every part it was given."""

    def __init__(
        self,
        *,
        tokens: TokenStore,
        faults: Faults,
        counters: Counters,
        oauth1_keys: OAuth1KeyStore,
        liveperson: LivePersonState,
        tls: tuple[TestCA, str] | None = None,
    ) -> None:
        self.tokens = tokens
        self.faults = faults
        self.counters = counters
        self.oauth1_keys = oauth1_keys
        self.liveperson = liveperson
        self.tls = tls
        self.resettables = [
            tokens.clear,
            faults.clear,
            counters.clear,
            oauth1_keys.clear,
            liveperson.clear,
        ]

    def routes(self) -> list[Route]:
        return [
            Route("/_control/health", self.health, methods=["GET"]),
            _json_route("/_control/reset", self.reset),
            _json_route("/_control/clients", self.create_client),
            _json_route("/_control/clients/{client_id}/rotate-secret", self.rotate_secret),
            _json_route("/_control/clients/{client_id}/seed", self.reseed),
            Route("/_control/faults", self.list_faults, methods=["GET"]),
            _json_route("/_control/faults", self.add_fault),
            Route("/_control/counters", self.get_counters, methods=["GET"]),
            _json_route("/_control/expire-tokens", self.expire_tokens),
            _json_route("/_control/oauth1-keys", self.create_oauth1_key),
            _json_route("/_control/scenario", self.set_scenario),
            Route("/_control/messages", self.list_messages, methods=["GET"]),
            Route("/_control/tls", self.tls_listener, methods=["GET"]),
            _json_route("/_control/tls/certificates", self.issue_certificate),
        ]

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def reset(self, request: Request, payload: dict[str, Any]) -> Response:
        for clear in self.resettables:
            clear()
        return JSONResponse({"status": "reset"})

    async def create_client(self, request: Request, payload: dict[str, Any]) -> Response:
        client = parse_client(payload)
        try:
            seed = self.tokens.register(client)
        except KeyError:
            return bad_request(f"client_id {client.client_id!r} is already registered", 409)
        body = {"client_id": client.client_id}
        if client.auth_method is None and client.grant_types != {JWT_BEARER}:
            body["client_secret"] = client.client_secret  # only a client that uses one
        if seed is not None:
            body["refresh_token"] = seed
        return JSONResponse(body)

    async def rotate_secret(self, request: Request, payload: dict[str, Any]) -> Response:
        return _renew(request, self.tokens.rotate_secret, "client_secret")

    async def reseed(self, request: Request, payload: dict[str, Any]) -> Response:
        return _renew(request, self.tokens.reseed, "refresh_token")

    async def add_fault(self, request: Request, payload: dict[str, Any]) -> Response:
        endpoint, fault, count, scope = parse_fault(payload)
        self.faults.add(endpoint, fault, count, scope)
        return JSONResponse({"endpoint": endpoint, "count": count})

    async def list_faults(self, request: Request) -> Response:
        return JSONResponse(self.faults.pending())

    async def get_counters(self, request: Request) -> Response:
        return JSONResponse(self.counters.snapshot())

    async def expire_tokens(self, request: Request, payload: dict[str, Any]) -> Response:
        client_id = payload.get("client_id")
        if client_id is not None and not isinstance(client_id, str):
            raise ValueError("`client_id` must be a string")
        return JSONResponse({"expired": self.tokens.expire(client_id)})

    async def create_oauth1_key(self, request: Request, payload: dict[str, Any]) -> Response:
        return JSONResponse(self.oauth1_keys.create().as_dict())

    async def set_scenario(self, request: Request, payload: dict[str, Any]) -> Response:
        account_id, scenario = parse_scenario(payload)
        self.liveperson.scenarios[account_id] = scenario
        return JSONResponse(
            {
                "account_id": account_id,
                "skills": len(scenario.skills),
                "agents": len(scenario.agents),
            }
        )

    async def tls_listener(self, request: Request) -> Response:
        """``{"url", "ca_cert"}``: the mutual-TLS listener and the CA to trust it by."""
        if self.tls is None:
            return bad_request("this sandbox runs no TLS listener", 404)
        ca, url = self.tls
        return JSONResponse({"url": url, "ca_cert": ca.ca_pem})

    async def issue_certificate(self, request: Request, payload: dict[str, Any]) -> Response:
        """``{"csr"}`` -> ``{"certificate", "subject_dn"}``, signed by the listener's CA."""
        if self.tls is None:
            return bad_request("this sandbox runs no TLS listener", 404)
        certificate = self.tls[0].issue(str(payload.get("csr", "")))
        return JSONResponse(
            {
                "certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
                "subject_dn": certificate.subject.rfc4514_string(),
            }
        )

    async def list_messages(self, request: Request) -> Response:
        """Recorded messages, optionally only ``?account_id=`` / ``?conversation_id=``."""
        wanted = {
            name: request.query_params[name]
            for name in ("account_id", "conversation_id")
            if name in request.query_params
        }
        return JSONResponse(
            [
                message
                for message in self.liveperson.messages
                if all(message[name] == value for name, value in wanted.items())
            ]
        )


def _renew(request: Request, renew: Callable[[str], str], field: str) -> Response:
    """The new ``field`` value of the path's client, or 404 for an unknown client."""
    client_id = request.path_params["client_id"]
    try:
        value = renew(client_id)
    except KeyError:
        return bad_request(f"no client {client_id!r}; register it with /_control/clients", 404)
    return JSONResponse({"client_id": client_id, field: value})
