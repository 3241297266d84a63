"""OAuth 2 token endpoint client: grants, expiry, error taxonomy, client secret rotation."""

from switchboard.oauth2._endpoint import (
    DEFAULT_TIMEOUT_SECONDS,
    MAX_LIFETIME_SECONDS,
    TokenAnswer,
    TokenEndpoint,
    TokenResponse,
    expires_in_seconds,
    parse_token_answer,
    refresh_expires_at,
)
from switchboard.oauth2._errors import classify_oauth_error
from switchboard.oauth2._tls import load_key_and_chain

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_LIFETIME_SECONDS",
    "TokenAnswer",
    "TokenEndpoint",
    "TokenResponse",
    "classify_oauth_error",
    "expires_in_seconds",
    "load_key_and_chain",
    "parse_token_answer",
    "refresh_expires_at",
]
