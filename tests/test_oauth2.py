"""The token endpoint client against the sandbox's real OAuth 2 server."""

from __future__ import annotations

from datetime import timedelta

import httpx2
import pytest
from helpers import ping, token_fault
from pydantic import SecretStr

from sandbox.servers import ManagedProcess, free_port
from switchboard._exceptions import (
    ClientRejected,
    CredentialRevoked,
    TokenEndpointError,
    TransientTokenError,
)
from switchboard._models import ClientDefinition, utcnow
from switchboard.oauth2 import (
    TokenEndpoint,
    TokenResponse,
    expires_in_seconds,
    parse_token_answer,
)


def fetch(definition: ClientDefinition, refresh_token: SecretStr | None = None) -> TokenResponse:
    """One token request, parsed as the refresher parses it."""
    answer = TokenEndpoint().request_token(definition, refresh_token=refresh_token)
    return parse_token_answer(answer, definition, spent=refresh_token)


def _client(sandbox: ManagedProcess, **payload: object) -> dict[str, str]:
    return httpx2.post(f"{sandbox.url}/_control/clients", json=payload).raise_for_status().json()


def _definition(
    sandbox: ManagedProcess, client: dict[str, str], **extra: object
) -> ClientDefinition:
    return ClientDefinition.model_validate(
        {
            "token_url": f"{sandbox.url}/oauth/token",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            **extra,
        }
    )


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials(sandbox: ManagedProcess, auth_method: str) -> None:
    client = _client(sandbox, scope="read write")
    definition = _definition(sandbox, client, auth_method=auth_method, scope="read")
    before = utcnow()
    response = fetch(definition)
    assert ping(sandbox, response.access_token) == 200
    assert response.refresh_token is None
    assert before <= response.obtained_at <= utcnow()
    assert response.expires_at - response.obtained_at == timedelta(seconds=3600)
    assert "sbx-" not in repr(response)


def test_refresh_token_grant_rotates(sandbox: ManagedProcess) -> None:
    client = _client(sandbox, grant_types=["refresh_token"])
    definition = _definition(sandbox, client, grant="refresh_token")
    seed = SecretStr(client["refresh_token"])
    first = fetch(definition, refresh_token=seed)
    assert first.refresh_token is not None
    assert first.refresh_token.get_secret_value() != seed.get_secret_value()
    second = fetch(definition, refresh_token=first.refresh_token)
    assert ping(sandbox, second.access_token) == 200
    with pytest.raises(CredentialRevoked) as caught:  # reuse: the family is revoked
        fetch(definition, refresh_token=seed)
    assert caught.value.error == "invalid_grant"
    assert "sbx-" not in str(caught.value)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"expires_in_as_string": True, "access_token_lifetime": 120}, 120),
        ({"omit_expires_in": True}, 777),
    ],
)
def test_expires_in_string_or_missing(
    sandbox: ManagedProcess, options: dict[str, object], expected: int
) -> None:
    definition = _definition(sandbox, _client(sandbox, **options), default_lifetime_seconds=777)
    response = fetch(definition)
    assert (response.expires_at - response.obtained_at).total_seconds() == expected


def test_expires_in_seconds_parsing() -> None:
    assert expires_in_seconds("3600", default=5) == 3600
    assert expires_in_seconds(60.7, default=5) == 60
    for bad in (None, "soon", -3, 0, True, [1]):
        assert expires_in_seconds(bad, default=5) == 5


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_transient(sandbox: ManagedProcess, status: int) -> None:
    client = _client(sandbox)
    token_fault(sandbox, client["client_id"], status=status)
    with pytest.raises(TransientTokenError) as caught:
        fetch(_definition(sandbox, client))
    assert caught.value.status == status


def test_429_carries_retry_after(sandbox: ManagedProcess) -> None:
    client = _client(sandbox)
    token_fault(sandbox, client["client_id"], status=429, retry_after=3)
    with pytest.raises(TransientTokenError) as caught:
        fetch(_definition(sandbox, client))
    assert (caught.value.status, caught.value.retry_after) == (429, 3.0)


def test_timeout_is_transient(sandbox: ManagedProcess) -> None:
    client = _client(sandbox)
    token_fault(sandbox, client["client_id"], latency=2)
    with pytest.raises(TransientTokenError, match="did not answer"):
        TokenEndpoint(timeout=0.3).request_token(_definition(sandbox, client))


def test_unreachable_is_transient() -> None:
    definition = ClientDefinition(
        token_url=f"http://127.0.0.1:{free_port()}/oauth/token",
        client_id="x",
        client_secrets=(SecretStr("sbx-nothing"),),
    )
    with pytest.raises(TransientTokenError, match="unreachable"):
        fetch(definition)


def test_invalid_grant_from_fault_is_revoked(sandbox: ManagedProcess) -> None:
    client = _client(sandbox)
    token_fault(sandbox, client["client_id"], status=400, error="invalid_grant")
    with pytest.raises(CredentialRevoked):
        fetch(_definition(sandbox, client))


def test_wrong_secret_is_client_rejected(sandbox: ManagedProcess) -> None:
    client = {**_client(sandbox), "client_secret": "sbx-wrong"}
    with pytest.raises(ClientRejected) as caught:
        fetch(_definition(sandbox, client))
    assert caught.value.error == "invalid_client"
    assert "sbx-" not in str(caught.value)


def test_client_secret_rotation_falls_back_in_order(sandbox: ManagedProcess) -> None:
    client = _client(sandbox)
    rotated = (
        httpx2.post(f"{sandbox.url}/_control/clients/{client['client_id']}/rotate-secret", json={})
        .raise_for_status()
        .json()["client_secret"]
    )
    definition = ClientDefinition.model_validate(
        {
            "token_url": f"{sandbox.url}/oauth/token",
            "client_id": client["client_id"],
            "client_secrets": [client["client_secret"], rotated],
        }
    )
    assert ping(sandbox, fetch(definition).access_token) == 200


def test_non_json_4xx_is_an_endpoint_error(sandbox: ManagedProcess) -> None:
    definition = ClientDefinition(
        token_url=f"{sandbox.url}/no-such-endpoint",
        client_id="x",
        client_secrets=(SecretStr("sbx-nothing"),),
    )
    with pytest.raises(TokenEndpointError) as caught:
        fetch(definition)
    assert caught.value.status in (404, 405)
