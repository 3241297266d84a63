"""Provider profiles: how a sandbox client's token endpoint behaves, after a real provider.

A client registered with ``"profile": "<name>"`` (``POST /_control/clients``) answers as that
provider documents it answers, so ``tests/test_providers.py`` can run Switchboard against each
odd behaviour it will meet in production. Each profile's docstring names the provider and the
behaviour; the sandbox builds them from the RFCs and those documents, not from what
Switchboard happens to accept. ``strict`` is the default: RFC 6749 with rotation and reuse
detection that revokes the whole family (RFC 9700 §4.14.2).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from email.utils import formatdate
from typing import Any, Literal

__all__ = ["PROFILES", "Profile", "body_of", "present_error", "profile_named", "with_overrides"]

ExpiresIn = Literal["number", "string", "omit"]


@dataclass(frozen=True)
class Profile:
    """What a token endpoint does that RFC 6749 leaves open (or that a provider gets wrong).

    ``doc`` is the citation: which provider does this, where it says so.
    """

    name: str
    doc: str = ""
    expires_in: ExpiresIn = "number"
    expires_in_value: str | float | None = None  # sent as given: "inf", 1e12, 0
    token_type: str = "Bearer"
    rotate: bool = True  # False: a refresh answer has no refresh_token; the old one stays valid
    reuse_grace_seconds: float = 0.0  # a rotated token presented again within it: same pair
    refresh_lifetime_field: str | None = None  # "refresh_expires_in" | "refresh_token_expires_in"
    refresh_token_lifetime: int | None = None  # seconds a refresh token lives (enforced)
    narrow_scope_on_refresh: bool = False  # the first refresh of a family drops a scope
    invalid_client_status: int | None = None  # None: authlib's (401 for Basic, 400 for post)
    error_status: int | None = None  # every 400/401 OAuth error answered with this status
    error_codes: Mapping[str, str] = field(default_factory=dict)  # provider names for RFC codes
    retry_after_as_date: bool = False  # Retry-After sent as an HTTP-date (RFC 9110 §10.2.3)
    extra: Mapping[str, Any] = field(default_factory=dict)  # fields a provider adds


PROFILES: dict[str, Profile] = {}


def _profile(**behaviour: Any) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Register the decorated function's name as a profile, its docstring as the citation."""

    def register(cite: Callable[[], None]) -> Callable[[], None]:
        name = cite.__name__
        PROFILES[name] = Profile(name=name, doc=(cite.__doc__ or "").strip(), **behaviour)
        return cite

    return register


@_profile()
def strict() -> None:
    """RFC 6749 with refresh token rotation and reuse detection (RFC 9700 §4.14.2): a rotated
    refresh token presented again revokes its whole family. Auth0 ("automatic reuse
    detection"), Okta (rotation without a grace period) and django-oauth-toolkit with
    ``REFRESH_TOKEN_GRACE_PERIOD_SECONDS = 0`` do this. The sandbox's default."""


@_profile(expires_in="string", extra={"ext_expires_in": "3600", "not_before": "0"})
def azure_ad_v1() -> None:
    """Azure AD v1 endpoint (``login.microsoftonline.com/<tenant>/oauth2/token``): every number
    is a JSON string: ``"expires_in": "3599"``, ``"ext_expires_in"``, ``"expires_on"``,
    ``"not_before"`` (Microsoft identity platform docs, "v1.0 token response")."""


@_profile(expires_in="string")
def netsuite() -> None:
    """NetSuite's OAuth 2.0 token endpoint answers ``"expires_in": "3600"`` as a string
    (NetSuite Help Center, "OAuth 2.0 Client Credentials / Refresh Token" examples); SAP
    endpoints (SAP Concur, SuccessFactors) are reported to do the same."""


@_profile(expires_in="omit", token_type="bearer", rotate=False)
def zendesk() -> None:
    """Zendesk: ``{"access_token", "token_type": "bearer", "scope"}`` with no ``expires_in``:
    its access tokens do not expire unless an expiry is configured (Zendesk API reference,
    "OAuth Tokens"). Salesforce also omits ``expires_in`` (its tokens last a session)."""


@_profile(
    refresh_lifetime_field="refresh_expires_in",
    refresh_token_lifetime=1800,
    extra={"not-before-policy": 0, "session_state": "sandbox"},
)
def keycloak() -> None:
    """Keycloak: every answer carries ``refresh_expires_in`` (the SSO session idle time, 1800 s
    by default; 0 for an offline token, which has no such limit) next to ``expires_in``, and
    ``not-before-policy`` / ``session_state`` (Keycloak server admin guide, "Session and token
    timeouts")."""


@_profile(
    token_type="bearer",
    refresh_lifetime_field="refresh_token_expires_in",
    refresh_token_lifetime=15_811_200,
    error_status=200,
    error_codes={
        "invalid_grant": "bad_refresh_token",
        "invalid_client": "incorrect_client_credentials",
    },
)
def github() -> None:
    """GitHub Apps' expiring user tokens: ``"token_type": "bearer"``, ``expires_in`` 28800 and
    ``refresh_token_expires_in`` 15811200 (six months); errors come back with HTTP 200 and
    GitHub's own codes: ``bad_refresh_token`` for an invalid or expired refresh token,
    ``incorrect_client_credentials`` for a wrong client secret (GitHub docs, "Refreshing user
    access tokens" and "Troubleshooting OAuth app access token request errors")."""


@_profile(refresh_lifetime_field="refresh_token_expires_in", refresh_token_lifetime=1_209_600)
def azure_ad_b2c() -> None:
    """Azure AD B2C's token answers carry ``refresh_token_expires_in`` (14 days by default) and
    rotate the refresh token on each redemption (Azure AD B2C docs, "Overview of tokens":
    refresh token lifetime, and the token endpoint's sample response)."""


@_profile(rotate=False)
def google() -> None:
    """Google: a refresh answer holds no ``refresh_token``; the one the client has stays valid
    until revoked or unused for six months (Google Identity, "Using OAuth 2.0 to Access Google
    APIs": "Refreshing an access token"). Salesforce without rotation enabled does the same."""


@_profile(narrow_scope_on_refresh=True)
def narrowing_scope() -> None:
    """Scope narrowed on refresh: the answer's ``scope`` lists fewer scopes than were granted
    (a user withdrew one: Google's granular consent), and a later refresh may not widen it
    again: asking for the old scope is ``invalid_scope`` (RFC 6749 §6, "MUST NOT include any
    scope not originally granted"; django-oauth-toolkit and authlib enforce it)."""


@_profile(invalid_client_status=400, rotate=False, expires_in="omit")
def salesforce() -> None:
    """Salesforce: a wrong client secret is HTTP 400 ``{"error": "invalid_client",
    "error_description": "invalid client credentials"}`` whatever the authentication method
    (RFC 6749 §5.2 allows 400); no ``expires_in``, and no rotation by default (Salesforce
    Help, "OAuth 2.0 Refresh Token Flow")."""


@_profile(invalid_client_status=401)
def django_oauth_toolkit() -> None:
    """django-oauth-toolkit (oauthlib): a wrong client secret is HTTP 401 with
    ``WWW-Authenticate: Bearer error="invalid_client"`` even for ``client_secret_post``
    (RFC 6749 §5.2 requires 401 only for HTTP Basic); seen in its 3.x releases."""


@_profile(error_status=200)
def errors_in_200() -> None:
    """OAuth errors sent with HTTP 200, e.g. ``{"error": "invalid_grant"}`` (GitHub does this for
    every token error; so do gateways that wrap the answer). RFC 6749 §5.2 says 400; the body
    is what counts."""


@_profile(retry_after_as_date=True)
def retry_after_date() -> None:
    """``Retry-After`` as an HTTP-date on 429 and 503 (RFC 9110 §10.2.3 allows either form; it is
    what reverse proxies and gateways in front of token endpoints, and Microsoft Graph's
    throttled answers, may send). Injected faults carry the date form."""


@_profile(expires_in_value=0)
def expires_in_zero() -> None:
    """``"expires_in": 0``: sent for tokens without a fixed lifetime (Keycloak's
    ``refresh_expires_in`` of offline tokens; some providers' long-lived tokens). It cannot mean
    "already expired": that would be an error answer."""


@_profile(expires_in_value=1e12)
def expires_in_absurd() -> None:
    """``expires_in`` of ``1e12`` (or ``"inf"`` with ``expires_in_value``): a provider bug, seen
    in hand-written token endpoints; Switchboard's earlier version raised ``OverflowError``
    after the provider had rotated (README, "Other probes")."""


@_profile(reuse_grace_seconds=60.0)
def reuse_grace() -> None:
    """A reuse grace period: a rotated refresh token presented again within it gets the same
    pair again (django-oauth-toolkit ``REFRESH_TOKEN_GRACE_PERIOD_SECONDS``; Auth0 "reuse
    interval"; Okta "grace period for token rotation"). After it, reuse revokes the family."""


def profile_named(name: Any) -> Profile:
    """The profile called ``name``; ``ValueError`` naming the known ones otherwise."""
    if not isinstance(name, str) or name not in PROFILES:
        raise ValueError(f"`profile` must be one of {', '.join(sorted(PROFILES))}, got {name!r}")
    return PROFILES[name]


def with_overrides(profile: Profile, **changes: Any) -> Profile:
    """``profile`` with some behaviours changed (the legacy per-client flags)."""
    return replace(profile, **changes)


def present_error(
    profile: Profile, status: int, body: dict[str, Any], headers: dict[str, str]
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """An error answer as the profile's provider sends it: status, code names, headers."""
    error = body.get("error")
    headers = dict(headers)
    if error == "invalid_client" and profile.invalid_client_status is not None:
        status = profile.invalid_client_status
    if isinstance(error, str) and error in profile.error_codes:
        body = {**body, "error": profile.error_codes[error]}
    if profile.error_status is not None and status in (400, 401) and isinstance(error, str):
        status = profile.error_status
    challenge = next((k for k in headers if k.lower() == "www-authenticate"), None)
    if challenge is not None and status != 401:
        del headers[challenge]  # a challenge belongs to a 401 only (RFC 9110 §15.5.2)
    if status == 401 and error == "invalid_client" and profile.invalid_client_status == 401:
        headers.pop(challenge or "", None)
        headers["WWW-Authenticate"] = 'Bearer error="invalid_client"'
    retry = next((k for k in headers if k.lower() == "retry-after"), None)
    if profile.retry_after_as_date and retry is not None:
        seconds = float(headers.pop(retry))
        headers["Retry-After"] = formatdate(time.time() + seconds, usegmt=True)
    return status, body, headers


def body_of(raw: bytes) -> dict[str, Any]:
    """A JSON error answer's body as a dict (``{}`` when it is not one)."""
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
