"""OAuth 1.0a request signing from Vault-held API keys (LivePerson's legacy "API keys").

authlib's ``OAuth1Auth`` drops a non-form body (a JSON POST) unless
``force_include_body=True`` (authlib issue #543); with it the body is sent and the
HMAC-SHA1 signature still verifies (RFC 5849 leaves such bodies out of the base string).
"""

from __future__ import annotations

import httpx2
from authlib.integrations.httpx_client import OAuth1Auth

from switchboard._models import OAuth1Keys

__all__ = ["oauth1_auth"]


def oauth1_auth(keys: OAuth1Keys) -> httpx2.Auth:
    """An httpx2 auth signing every request with HMAC-SHA1 in the ``Authorization`` header."""
    auth: httpx2.Auth = OAuth1Auth(
        client_id=keys.consumer_key.get_secret_value(),
        client_secret=keys.consumer_secret.get_secret_value(),
        token=keys.token.get_secret_value(),
        token_secret=keys.token_secret.get_secret_value(),
        signature_method="HMAC-SHA1",
        force_include_body=True,
    )
    return auth
