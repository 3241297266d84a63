"""Vault session, KV v2 wrapper and the credential store on a real OpenBao."""

from __future__ import annotations

import time
from pathlib import Path

import certifi
import hvac
import pytest
from pydantic import SecretStr

from sandbox.servers import ManagedProcess, free_port
from switchboard._exceptions import (
    CASConflict,
    ConfigurationError,
    VaultNotFound,
    VaultPermissionDenied,
    VaultUnavailable,
)
from switchboard._models import ClientDefinition, CredentialHealth, OAuth1Keys, utcnow
from switchboard._settings import VaultSettings
from switchboard.vault import KV, CredentialStore, VaultSession, connect


def test_kv_round_trip_and_cas(credential_store: CredentialStore, unique_name: str) -> None:
    kv = credential_store.kv
    path = f"tests/{unique_name}"
    assert kv.read_current(path).data is None
    with pytest.raises(VaultNotFound, match=path):
        kv.read(path)
    assert kv.write(path, {"a": "1"}, cas=0) == 1
    with pytest.raises(CASConflict):
        kv.write(path, {"a": "2"}, cas=0)
    assert kv.write(path, {"a": "2"}, cas=1) == 2
    read = kv.read(path)
    assert (read.data, read.version) == ({"a": "2"}, 2)
    assert "2" not in repr(read).replace("version=2", "")
    assert kv.list(f"tests/{unique_name}-nothing") == []


def test_store_layout(
    credential_store: CredentialStore, unique_name: str, vault_root: hvac.Client
) -> None:
    definition = ClientDefinition.model_validate(
        {"token_url": "https://idp.example/token", "client_id": "c", "client_secret": "sbx-s1"}
    )
    credential_store.put_client(unique_name, definition)
    credential_store.put_seed(unique_name, SecretStr("sbx-seed"))
    credential_store.put_oauth1(
        unique_name,
        OAuth1Keys.model_validate(
            {
                "consumer_key": "k",
                "consumer_secret": "sbx-cs",
                "token": "t",
                "token_secret": "sbx-ts",
            }
        ),
    )
    raw = vault_root.secrets.kv.v2.read_secret_version(
        path=f"switchboard/credentials/{unique_name}/client", raise_on_deleted_version=True
    )["data"]["data"]
    assert raw["client_secrets"] == ["sbx-s1"] and raw["grant"] == "client_credentials"
    assert credential_store.read_client(unique_name) == definition
    seed = credential_store.read_seed(unique_name)
    assert seed is not None and seed.refresh_token.get_secret_value() == "sbx-seed"
    assert (seed.version, seed.consumed_version) == (1, 0)
    credential_store.mark_seed_consumed(unique_name, 1)
    seed = credential_store.read_seed(unique_name)
    assert seed is not None and seed.consumed_version == 1
    assert "sbx-" not in repr(seed)
    assert credential_store.read_oauth1(unique_name).token_secret.get_secret_value() == "sbx-ts"
    assert unique_name in credential_store.list_credentials()
    assert credential_store.read_token(unique_name).version == 0
    assert credential_store.read_health(unique_name) is None
    health = CredentialHealth(state="healthy", last_attempt_at=utcnow())
    credential_store.write_health(unique_name, health)
    read_back = credential_store.read_health(unique_name)
    assert read_back is not None and read_back.to_vault() == health.to_vault()


def test_bad_client_definition_names_field(
    credential_store: CredentialStore, unique_name: str
) -> None:
    credential_store.kv.write(
        credential_store.path(unique_name, "client"),
        {
            "token_url": "https://x/token",
            "client_id": "c",
            "client_secret": "sbx-s",
            "grant": "password",
        },
    )
    with pytest.raises(ConfigurationError, match=r"field `grant`.*client_credentials") as caught:
        credential_store.read_client(unique_name)
    assert "sbx-" not in str(caught.value)


def test_bad_credential_name(credential_store: CredentialStore) -> None:
    with pytest.raises(ConfigurationError, match="single path segment"):
        credential_store.read_client("a/b")


def test_permission_denied_names_path(
    openbao: ManagedProcess, vault_root: hvac.Client, unique_name: str
) -> None:
    vault_root.sys.create_or_update_policy(
        name=unique_name, policy='path "secret/data/nothing/*" { capabilities = ["read"] }'
    )
    token = vault_root.auth.token.create(policies=[unique_name], ttl="1h")["auth"]["client_token"]
    store = CredentialStore.from_settings(VaultSettings(addr=openbao.url, token=SecretStr(token)))
    with pytest.raises(VaultPermissionDenied, match=f"switchboard/credentials/{unique_name}/token"):
        store.read_token(unique_name)


def test_connect_fails_loudly_with_a_bad_token(openbao: ManagedProcess) -> None:
    with pytest.raises(ConfigurationError, match="cannot use Vault"):
        connect(VaultSettings(addr=openbao.url, token=SecretStr("sbx-not-a-token")))


def test_vault_is_reached_directly_whatever_the_proxy_environment(
    openbao: ManagedProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(variable, dead_proxy)
    for variable in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(variable, raising=False)
    session = connect(VaultSettings(addr=openbao.url))  # lookup-self went through
    assert KV(session).list("switchboard-no-such-path") == []  # and so does a KV request


def test_a_ca_bundle_that_cannot_be_loaded_is_a_configuration_error(tmp_path: Path) -> None:
    addr, token = "https://127.0.0.1:8200", SecretStr("x")
    with pytest.raises(ConfigurationError, match=r"VAULT_CACERT: cannot load .*missing\.pem"):
        VaultSession(VaultSettings(addr=addr, token=token, ca_cert=tmp_path / "missing.pem"))
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(ConfigurationError, match="PEM bundle"):
        VaultSession(VaultSettings(addr=addr, token=token, ca_cert=tmp_path / "junk.pem"))
    VaultSession(VaultSettings(addr=addr, token=token, ca_cert=Path(certifi.where())))


def test_unreachable_vault_is_unavailable() -> None:
    session = VaultSession(
        VaultSettings(addr=f"http://127.0.0.1:{free_port()}", token=SecretStr("x"))
    )
    with pytest.raises(VaultUnavailable):
        KV(session).read("anything")


def test_token_is_renewed_before_expiry(
    openbao: ManagedProcess, vault_root: hvac.Client, unique_name: str
) -> None:
    vault_root.sys.create_or_update_policy(
        name=unique_name,
        policy='path "secret/data/switchboard/*" { capabilities = ["create", "read", "update"] }',
    )
    token = vault_root.auth.token.create(policies=[unique_name], ttl="3s", renewable=True)["auth"]
    store = CredentialStore.from_settings(
        VaultSettings(addr=openbao.url, token=SecretStr(token["client_token"]))
    )
    for _ in range(4):  # 4.8 s in all: the token would have expired without renewal
        time.sleep(1.2)
        store.read_token(unique_name)


def test_approle_login(openbao: ManagedProcess, vault_root: hvac.Client, unique_name: str) -> None:
    if "approle/" not in vault_root.sys.list_auth_methods():
        vault_root.sys.enable_auth_method("approle")
    vault_root.auth.approle.create_or_update_approle(
        role_name=unique_name, token_policies=["default"], token_ttl="1h"
    )
    role_id = vault_root.auth.approle.read_role_id(role_name=unique_name)["data"]["role_id"]
    secret_id = vault_root.auth.approle.generate_secret_id(role_name=unique_name)["data"][
        "secret_id"
    ]
    session = connect(
        VaultSettings(addr=openbao.url, token=None, role_id=role_id, secret_id=SecretStr(secret_id))
    )
    assert session.client().auth.token.lookup_self()["data"]["display_name"].startswith("approle")
    session.renew()  # AppRole tokens: renew-self, or a fresh login
    assert session.client().is_authenticated()


def test_approle_logs_in_again_when_its_token_cannot_be_renewed(
    openbao: ManagedProcess, vault_root: hvac.Client, unique_name: str
) -> None:
    if "approle/" not in vault_root.sys.list_auth_methods():
        vault_root.sys.enable_auth_method("approle")
    vault_root.sys.create_or_update_policy(
        name=unique_name,
        policy='path "secret/data/switchboard/*" { capabilities = ["read"] }',
    )
    vault_root.auth.approle.create_or_update_approle(
        role_name=unique_name, token_policies=[unique_name], token_ttl="3s", token_type="batch"
    )
    role_id = vault_root.auth.approle.read_role_id(role_name=unique_name)["data"]["role_id"]
    secret_id = vault_root.auth.approle.generate_secret_id(role_name=unique_name)["data"][
        "secret_id"
    ]
    store = CredentialStore.from_settings(
        VaultSettings(addr=openbao.url, token=None, role_id=role_id, secret_id=SecretStr(secret_id))
    )
    for _ in range(4):  # batch tokens are not renewable: a new login keeps the session alive
        time.sleep(1.2)
        store.read_token(unique_name)


def test_vault_connection_block_to_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from blocks.vault import VaultConnection

    monkeypatch.setenv("VAULT_TOKEN", "sbx-from-env")  # the block wins over the environment
    approle = VaultConnection(
        addr="https://vault.example:8200",
        role_id="role",
        secret_id=SecretStr("sbx-secret-id"),
        base_path="team-a",
        skip_verify=True,
    ).to_settings()
    assert approle.auth_method == "approle" and approle.token is None
    assert (approle.base_path, approle.skip_verify) == ("team-a", True)
    assert approle.role_id is not None and approle.role_id.get_secret_value() == "role"
    assert "sbx-role" not in repr(VaultConnection(addr="https://v", role_id="sbx-role"))
    token = VaultConnection(addr="http://127.0.0.1:8200", token=SecretStr("t")).to_settings()
    assert token.auth_method == "token" and not token.skip_verify
    with pytest.raises(ConfigurationError, match="`role_id` and `secret_id`"):
        VaultConnection(addr="https://v", role_id="r").to_settings()
    with pytest.raises(ConfigurationError, match="set `token`"):
        VaultConnection(addr="https://v").to_settings()
    with pytest.raises(ConfigurationError, match=r"VaultConnection: .*http://"):
        VaultConnection(addr="vault:8200", token=SecretStr("t")).to_settings()
    assert "sbx-" not in repr(approle) + repr(
        VaultConnection(addr="https://v", token=SecretStr("sbx-x"))
    )
