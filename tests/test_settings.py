"""Settings and models: bad input gives one clear line naming the variable or field and the fix;
nothing secret shows in a repr."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from switchboard._exceptions import ConfigurationError
from switchboard._models import (
    ClientDefinition,
    CredentialHealth,
    OAuth1Keys,
    StoredToken,
    format_time,
    parse_time,
)
from switchboard._settings import TokenSettings, VaultSettings, load


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in (
        "VAULT_ADDR",
        "VAULT_TOKEN",
        "VAULT_NAMESPACE",
        "VAULT_CACERT",
        "VAULT_SKIP_VERIFY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "VAULT_ADDR"),
        ({"VAULT_ADDR": "vault:8200", "VAULT_TOKEN": "t"}, "VAULT_ADDR"),
        ({"VAULT_ADDR": "http://v:8200"}, "SWITCHBOARD_VAULT_ROLE_ID"),
        (
            {"VAULT_ADDR": "http://v", "VAULT_TOKEN": "t", "SWITCHBOARD_VAULT_TIMEOUT": "-1"},
            "SWITCHBOARD_VAULT_TIMEOUT",
        ),
    ],
)
def test_vault_settings_errors_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigurationError, match=named) as caught:
        load(VaultSettings)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SWITCHBOARD_TOKEN_MAX_CONCURRENCY", "0"),
        ("SWITCHBOARD_TOKEN_REFRESH_AT_FRACTION", "1.5"),
        ("SWITCHBOARD_TOKEN_CLAIM_STALE_SECONDS", "soon"),
        ("SWITCHBOARD_TOKEN_VAULT_RETRY_SECONDS", "0"),
    ],
)
def test_token_settings_errors_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=variable):
        load(TokenSettings)


def test_vault_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_ADDR", "https://vault.example:8200")
    monkeypatch.setenv("SWITCHBOARD_VAULT_ROLE_ID", "role")
    monkeypatch.setenv("SWITCHBOARD_VAULT_SECRET_ID", "sbx-secret-id")
    settings = load(VaultSettings)
    assert settings.auth_method == "approle" and not settings.skip_verify
    assert "sbx-" not in repr(settings)


def test_client_definition_accepts_one_or_many_secrets() -> None:
    base = {"token_url": "https://idp/token", "client_id": "c"}
    one = ClientDefinition.model_validate({**base, "client_secret": "sbx-a"})
    many = ClientDefinition.model_validate({**base, "client_secrets": ["sbx-a", "sbx-b"]})
    assert [s.get_secret_value() for s in many.client_secrets] == ["sbx-a", "sbx-b"]
    assert one.to_vault()["client_secrets"] == ["sbx-a"]
    assert "sbx-" not in repr(one) + repr(many) + str(many)


@pytest.mark.parametrize(
    ("data", "field", "fix"),
    [
        ({"client_id": "c", "client_secret": "s"}, "token_url", "https://"),
        ({"token_url": "https://x", "client_secret": "s"}, "client_id", "client id"),
        ({"token_url": "https://x", "client_id": "c"}, "client_secrets", "client_secret"),
        ({"token_url": "https://x", "client_id": "c", "client_secrets": []}, "client_secrets", ""),
        ({"token_url": "x", "client_id": "c", "client_secret": "s"}, "", "https://"),
        (
            {"token_url": "https://x", "client_id": "c", "client_secret": "s", "grant": "pw"},
            "grant",
            "refresh_token",
        ),
        (
            {
                "token_url": "https://x",
                "client_id": "c",
                "client_secret": "s",
                "default_lifetime_seconds": 0,
            },
            "default_lifetime_seconds",
            "greater than 0",
        ),
    ],
)
def test_client_definition_errors_name_field_and_fix(
    data: dict[str, object], field: str, fix: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ClientDefinition.from_vault(data, path="secret/switchboard/credentials/x/client")
    message = str(caught.value)
    assert "secret/switchboard/credentials/x/client" in message
    assert field in message and fix in message
    assert "'s'" not in message


def test_both_secret_forms_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        ClientDefinition.from_vault(
            {
                "token_url": "https://x",
                "client_id": "c",
                "client_secret": "a",
                "client_secrets": ["b"],
            },
            path="p",
        )


def test_stored_token_round_trip_in_rfc3339_utc() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    token = StoredToken(
        access_token=SecretStr("sbx-at"),
        expires_at=moment,
        obtained_at=moment,
        refresh_after=moment,
    )
    data = token.to_vault()
    assert data["expires_at"] == "2026-01-02T03:04:05.678Z"
    assert StoredToken.from_vault(data, path="p") == token
    assert "sbx-" not in repr(token) + str(token)
    assert parse_time("2026-01-02T03:04:05Z") == moment.replace(microsecond=0)
    assert format_time(parse_time("2026-01-02T03:04:05+01:00")) == "2026-01-02T02:04:05.000Z"


def test_health_and_keys_hold_no_visible_secret() -> None:
    keys = OAuth1Keys.model_validate(
        {
            "consumer_key": "sbx-k",
            "consumer_secret": "sbx-c",
            "token": "sbx-t",
            "token_secret": "sbx-s",
        }
    )
    assert "sbx-" not in repr(keys)
    health = CredentialHealth(state="failing", error_class="TransientTokenError")
    assert CredentialHealth.from_vault(health.to_vault(), path="p") == health
    with pytest.raises(ConfigurationError, match="state"):
        CredentialHealth.from_vault({"state": "sad"}, path="p")
