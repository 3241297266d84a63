"""The shipped Vault policies and AppRole setup, on a real OpenBao."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import httpx2
import hvac
import hvac.exceptions
import pytest
from pydantic import SecretStr

from sandbox.servers import ManagedProcess
from switchboard import admin, policies
from switchboard._exceptions import VaultPermissionDenied
from switchboard._models import ClientDefinition, OAuth1Keys
from switchboard._settings import TokenSettings, VaultSettings
from switchboard.refresh import Refresher
from switchboard.vault import CredentialStore

BASE = "switchboard/credentials"


def _login(openbao: ManagedProcess, identity: admin.AppRoleIdentity) -> hvac.Client:
    client = hvac.Client(url=openbao.url)
    client.auth.approle.login(
        role_id=identity.role_id,
        secret_id=identity.secret_id.get_secret_value(),
        mount_point=identity.mount,
    )
    return client


@pytest.fixture
def flows_identity(vault_root: hvac.Client, unique_name: str) -> admin.AppRoleIdentity:
    """The flows' AppRole on a mount of its own, so tests never share a role."""
    mount = f"approle-{unique_name}"
    admin.set_up(vault_root, approle_mount=mount)
    return admin.issue_identity(vault_root, mount=mount)


@pytest.fixture
def operator_wrote(vault_root: hvac.Client, unique_name: str) -> str:
    """A credential as an operator defines it; returns its name."""
    kv = vault_root.secrets.kv.v2
    kv.create_or_update_secret(
        path=f"{BASE}/{unique_name}/client",
        secret={
            "token_url": "http://127.0.0.1:1/oauth/token",
            "client_id": "cid",
            "client_secret": "not-a-real-secret",
            "grant": "refresh_token",
        },
    )
    kv.create_or_update_secret(path=f"{BASE}/{unique_name}/seed", secret={"refresh_token": "seed"})
    kv.create_or_update_secret(
        path=f"switchboard/oauth1/{unique_name}",
        secret={"consumer_key": "k", "consumer_secret": "s", "token": "t", "token_secret": "ts"},
    )
    return unique_name


def test_flows_identity_works_inside_its_policy(
    openbao: ManagedProcess, flows_identity: admin.AppRoleIdentity, operator_wrote: str
) -> None:
    client = _login(openbao, flows_identity)
    kv = client.secrets.kv.v2
    name = operator_wrote

    def read(path: str) -> dict[str, str]:
        return dict(kv.read_secret_version(path=path)["data"]["data"])

    assert read(f"{BASE}/{name}/client")["client_id"] == "cid"
    assert read(f"{BASE}/{name}/seed")["refresh_token"] == "seed"
    assert read(f"switchboard/oauth1/{name}")["token"] == "t"
    for leaf in ("token", "refresh", "health"):
        kv.create_or_update_secret(path=f"{BASE}/{name}/{leaf}", secret={"x": "1"}, cas=0)
        kv.create_or_update_secret(path=f"{BASE}/{name}/{leaf}", secret={"x": "2"}, cas=1)
        assert read(f"{BASE}/{name}/{leaf}") == {"x": "2"}
        assert kv.read_secret_metadata(path=f"{BASE}/{name}/{leaf}")["data"]["current_version"] == 2
    assert f"{name}/" in kv.list_secrets(path=BASE)["data"]["keys"]


def _patch_seed_metadata(client: hvac.Client, name: str, body: dict[str, object]) -> None:
    """``PATCH .../metadata/.../seed`` as the token half marks a seed version consumed."""
    client.adapter.request(
        "PATCH",
        f"/v1/secret/metadata/{BASE}/{name}/seed",
        json=body,
        headers={"Content-Type": "application/merge-patch+json"},
    )


def test_flows_mark_a_seed_consumed_in_its_custom_metadata_only(
    openbao: ManagedProcess,
    vault_root: hvac.Client,
    flows_identity: admin.AppRoleIdentity,
    operator_wrote: str,
) -> None:
    client = _login(openbao, flows_identity)
    name = operator_wrote

    _patch_seed_metadata(client, name, {"custom_metadata": {"consumed": "1"}})

    seed = vault_root.secrets.kv.v2.read_secret_metadata(path=f"{BASE}/{name}/seed")["data"]
    assert seed["custom_metadata"] == {"consumed": "1"}
    with pytest.raises(hvac.exceptions.Forbidden):  # nothing but custom_metadata
        _patch_seed_metadata(client, name, {"max_versions": 1})
    with pytest.raises(hvac.exceptions.Forbidden):  # nor the metadata of any other record
        client.adapter.request(
            "PATCH",
            f"/v1/secret/metadata/{BASE}/{name}/client",
            json={"custom_metadata": {"consumed": "1"}},
            headers={"Content-Type": "application/merge-patch+json"},
        )


def test_flows_read_the_version_of_a_soft_deleted_record(
    openbao: ManagedProcess,
    vault_root: hvac.Client,
    flows_identity: admin.AppRoleIdentity,
    operator_wrote: str,
) -> None:
    path = f"{BASE}/{operator_wrote}/token"
    vault_root.secrets.kv.v2.create_or_update_secret(path=path, secret={"x": "1"})
    vault_root.secrets.kv.v2.delete_latest_version_of_secret(path=path)
    client = _login(openbao, flows_identity)

    assert client.secrets.kv.v2.read_secret_metadata(path=path)["data"]["current_version"] == 1
    client.secrets.kv.v2.create_or_update_secret(path=path, secret={"x": "2"}, cas=1)
    with pytest.raises(hvac.exceptions.Forbidden):  # records are replaced, never removed
        client.secrets.kv.v2.delete_latest_version_of_secret(path=path)


def test_flows_token_is_short_lived_and_renewable(
    openbao: ManagedProcess, flows_identity: admin.AppRoleIdentity
) -> None:
    client = _login(openbao, flows_identity)
    me = client.auth.token.lookup_self()["data"]
    assert me["renewable"] is True
    assert 0 < me["ttl"] <= 15 * 60
    assert "switchboard-flows" in me["policies"]
    renewed = client.auth.token.renew_self()["auth"]
    assert renewed["lease_duration"] > 0


@pytest.mark.parametrize(
    ("verb", "path"),
    [
        ("write", "{base}/{name}/client"),  # operators own client definitions
        ("write", "{base}/{name}/seed"),
        ("write", "switchboard/oauth1/{name}"),
        ("write", "{base}/{name}/lock"),  # the old lease record is gone from the layout
        ("read", "{base}/{name}/lock"),
        ("read", "{base}/{name}/anything-else"),
        ("read", "elsewhere/{name}"),  # nothing outside the base path
        ("read", "switchboard/other/{name}"),
    ],
)
def test_flows_identity_is_denied_outside_its_policy(
    openbao: ManagedProcess,
    flows_identity: admin.AppRoleIdentity,
    operator_wrote: str,
    verb: str,
    path: str,
) -> None:
    client = _login(openbao, flows_identity)
    full = path.format(base=BASE, name=operator_wrote)
    with pytest.raises(hvac.exceptions.Forbidden, match="permission denied") as denied:
        if verb == "write":
            client.secrets.kv.v2.create_or_update_secret(path=full, secret={"x": "y"})
        else:
            client.secrets.kv.v2.read_secret_version(path=full)
    assert full in str(denied.value)


def test_consumer_reads_tokens_only(
    openbao: ManagedProcess, vault_root: hvac.Client, operator_wrote: str
) -> None:
    admin.install_policies(vault_root)
    name = operator_wrote
    vault_root.secrets.kv.v2.create_or_update_secret(
        path=f"{BASE}/{name}/token", secret={"access_token": "at", "token_type": "Bearer"}
    )
    consumer_token = vault_root.auth.token.create(policies=[admin.CONSUMER_POLICY], ttl="5m")
    consumer = hvac.Client(url=openbao.url, token=consumer_token["auth"]["client_token"])

    token = consumer.secrets.kv.v2.read_secret_version(path=f"{BASE}/{name}/token")
    assert token["data"]["data"]["access_token"] == "at"
    for leaf in ("client", "seed", "refresh", "health"):
        with pytest.raises(hvac.exceptions.Forbidden):
            consumer.secrets.kv.v2.read_secret_version(path=f"{BASE}/{name}/{leaf}")
        with pytest.raises(hvac.exceptions.Forbidden):
            consumer.secrets.kv.v2.read_secret_metadata(path=f"{BASE}/{name}/{leaf}")
    with pytest.raises(hvac.exceptions.Forbidden):
        consumer.secrets.kv.v2.create_or_update_secret(path=f"{BASE}/{name}/token", secret={})
    with pytest.raises(hvac.exceptions.Forbidden):
        consumer.secrets.kv.v2.read_secret_version(path=f"switchboard/oauth1/{name}")


def test_render_policy_follows_mount_and_base_path() -> None:
    text = policies.render(admin.FLOWS_POLICY, mount="kv", base_path="/team/sb/")
    assert 'path "kv/data/team/sb/credentials/+/client"' in text
    assert 'path "kv/metadata/team/sb/credentials/"' in text
    assert 'path "kv/metadata/team/sb/credentials/+/seed"' in text
    assert "secret/" not in text
    assert 'path "auth/token/renew-self"' in text


def test_identity_never_shows_its_secret_id_but_writes_it_0600(
    flows_identity: admin.AppRoleIdentity, tmp_path: Path
) -> None:
    identity = flows_identity
    secret = identity.secret_id.get_secret_value()
    assert secret not in repr(identity)
    assert secret not in str(identity)

    env_file = tmp_path / "state" / "approle.env"
    identity.write_env_file(env_file)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert f"SWITCHBOARD_VAULT_SECRET_ID={secret}\n" in env_file.read_text()
    assert f"SWITCHBOARD_VAULT_ROLE_ID={identity.role_id}\n" in env_file.read_text()


def test_admin_command_is_idempotent_and_prints_no_secret(
    vault_root: hvac.Client,
    unique_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mount = f"approle-{unique_name}"
    assert admin.main(["--approle-mount", mount]) == 0
    out = capsys.readouterr().out
    assert "no secret id issued" in out
    assert "role switchboard-routing ready" in out

    env_file = tmp_path / "approle.env"
    assert admin.main(["--approle-mount", mount, "--env-file", str(env_file)]) == 0
    out = capsys.readouterr().out
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert values["SWITCHBOARD_VAULT_SECRET_ID"] not in out
    assert values["SWITCHBOARD_VAULT_APPROLE_MOUNT"] == mount
    login = hvac.Client(url=vault_root.url).auth.approle.login(
        role_id=values["SWITCHBOARD_VAULT_ROLE_ID"],
        secret_id=values["SWITCHBOARD_VAULT_SECRET_ID"],
        mount_point=mount,
    )
    assert "switchboard-flows" in login["auth"]["policies"]


def _flows_store(openbao: ManagedProcess, identity: admin.AppRoleIdentity) -> CredentialStore:
    settings = VaultSettings(
        VAULT_ADDR=openbao.url,
        token=None,  # the session's VAULT_TOKEN (root) must not be used
        role_id=identity.role_id,
        secret_id=identity.secret_id,
        approle_mount=identity.mount,
    )
    assert settings.auth_method == "approle"
    return CredentialStore.from_settings(settings)


def test_a_refresh_runs_under_the_flows_approle(
    openbao: ManagedProcess,
    sandbox: ManagedProcess,
    vault_root: hvac.Client,
    flows_identity: admin.AppRoleIdentity,
    unique_name: str,
    tmp_path: Path,
) -> None:
    client = httpx2.post(
        f"{sandbox.url}/_control/clients", json={"grant_types": ["client_credentials"]}
    ).json()
    vault_root.secrets.kv.v2.create_or_update_secret(
        path=f"{BASE}/{unique_name}/client",
        secret={
            "token_url": f"{sandbox.url}/oauth/token",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            "grant": "client_credentials",
        },
    )
    store = _flows_store(openbao, flows_identity)
    refresher = Refresher(store, TokenSettings(journal_dir=tmp_path / "journal"))

    outcome = refresher.refresh(unique_name, force=True)

    assert outcome.state == "healthy", outcome
    assert unique_name in store.list_credentials()
    token = store.read_token(unique_name).token
    assert token is not None
    assert token.access_token.get_secret_value().startswith("sbx-")


def test_the_flows_store_names_the_path_it_may_not_write(
    openbao: ManagedProcess, flows_identity: admin.AppRoleIdentity, operator_wrote: str
) -> None:
    store = _flows_store(openbao, flows_identity)
    name = operator_wrote
    definition = ClientDefinition(
        token_url="http://127.0.0.1:1/oauth/token",
        client_id="cid",
        client_secrets=(SecretStr("changed"),),
    )
    with pytest.raises(VaultPermissionDenied) as denied:
        store.put_client(name, definition)
    assert f"secret/data/{BASE}/{name}/client" in str(denied.value)
    assert "policy" in str(denied.value)

    keys = OAuth1Keys(
        consumer_key=SecretStr("k"),
        consumer_secret=SecretStr("s"),
        token=SecretStr("t"),
        token_secret=SecretStr("ts"),
    )
    with pytest.raises(VaultPermissionDenied, match=f"switchboard/oauth1/{name}"):
        store.put_oauth1(name, keys)
    assert store.read_oauth1(name).token.get_secret_value() == "t"


def test_the_flows_token_is_renewed_under_the_flows_policy(
    openbao: ManagedProcess, vault_root: hvac.Client, operator_wrote: str, unique_name: str
) -> None:
    mount = f"approle-{unique_name}"
    admin.set_up(vault_root, approle_mount=mount, token_ttl="3s", token_max_ttl="1m")
    store = _flows_store(openbao, admin.issue_identity(vault_root, mount=mount))
    first = store.session.client().auth.token.lookup_self()["data"]["accessor"]
    for _ in range(4):  # 4.8 s in all: the 3 s token would have expired without renewal
        time.sleep(1.2)
        assert store.read_client(operator_wrote).client_id == "cid"
    assert store.session.client().auth.token.lookup_self()["data"]["accessor"] == first


def test_admin_command_without_admin_rights_fails_in_one_line(
    vault_root: hvac.Client, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin.install_policies(vault_root)
    weak = vault_root.auth.token.create(policies=[admin.CONSUMER_POLICY], ttl="5m")
    monkeypatch.setenv("VAULT_TOKEN", weak["auth"]["client_token"])

    assert admin.main([]) == 1

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: permission denied on sys/policy/switchboard-")
