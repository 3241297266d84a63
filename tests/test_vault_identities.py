"""Narrow identities on a real OpenBao: consumers of named credentials, the ingress's routing
identity, which reads the LivePerson bearer's token and API keys and nothing else, and the
metrics identity, which lists the credentials and reads their health records only."""

from __future__ import annotations

import stat
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import hvac
import hvac.exceptions
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sandbox.servers import ManagedProcess
from switchboard import admin, policies
from switchboard._exceptions import VaultPermissionDenied
from switchboard._models import CredentialHealth
from switchboard._settings import VaultSettings
from switchboard.metrics import metrics_command
from switchboard.vault import CredentialStore

BASE = "switchboard/credentials"
ROOT = Path(__file__).resolve().parent.parent
LEAVES = ("client", "seed", "token", "refresh", "health")
TOKEN = {
    "access_token": "at-{name}",
    "token_type": "Bearer",
    "expires_at": "2099-01-01T00:00:00.000Z",
    "obtained_at": "2026-01-01T00:00:00.000Z",
    "refresh_after": "2098-01-01T00:00:00.000Z",
}


def _write_credential(root: hvac.Client, name: str) -> None:
    """Every record of credential ``name``, as operators and the flows leave them."""
    kv = root.secrets.kv.v2
    records = {
        "client": {"token_url": "https://idp.example/token", "client_id": name},
        "seed": {"refresh_token": f"seed-{name}"},
        "token": {key: value.format(name=name) for key, value in TOKEN.items()},
        "refresh": {"refresh_token": f"rt-{name}"},
        "health": {"state": "healthy"},
    }
    for leaf, secret in records.items():
        kv.create_or_update_secret(path=f"{BASE}/{name}/{leaf}", secret=secret)


def _client_with(openbao: ManagedProcess, root: hvac.Client, policy: str) -> hvac.Client:
    token = root.auth.token.create(policies=[policy], ttl="5m")["auth"]["client_token"]
    return hvac.Client(url=openbao.url, token=token)


def _readable(client: hvac.Client, path: str) -> bool:
    try:
        client.secrets.kv.v2.read_secret_version(path=path, raise_on_deleted_version=True)
    except hvac.exceptions.Forbidden:
        return False
    return True


def _env_values(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


# -- a consumer of named credentials --------------------------------------------------------


def test_named_consumer_policy_reads_only_its_credentials_tokens(
    openbao: ManagedProcess,
    vault_root: hvac.Client,
    unique_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b, c = (f"{unique_name}-{suffix}" for suffix in "abc")
    for name in (a, b, c):
        _write_credential(vault_root, name)
    policy = f"{unique_name}-consumer"

    code = admin.main(["consumer-policy", policy, "--credential", a, "--credential", c])

    assert code == 0, capsys.readouterr().err
    assert f"policy {policy} installed" in capsys.readouterr().out
    consumer = _client_with(openbao, vault_root, policy)
    readable = {
        (name, leaf)
        for name in (a, b, c)
        for leaf in LEAVES
        if _readable(consumer, f"{BASE}/{name}/{leaf}")
    }
    assert readable == {(a, "token"), (c, "token")}
    with pytest.raises(hvac.exceptions.Forbidden):
        consumer.secrets.kv.v2.list_secrets(path=BASE)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["consumer-policy", "p", "--credential", "a/b"], "--credential: 'a/b' is not a valid"),
        (["consumer-policy", "p", "--credential", "+"], "--credential: '+' is not a valid"),
        (["consumer-policy", "p", "--credential", 'x"}'], "--credential:"),
        (["consumer-policy", "switchboard-flows", "--credential", "a"], "NAME: 'switchboard-"),
        (["consumer-policy", "switchboard-metrics", "--credential", "a"], "NAME: 'switchboard-"),
        (["consumer-policy", "p", "--credential", "a", "--mount", "a*"], "--mount:"),
        (["--bearer-credential", "lp/*"], "--bearer-credential: 'lp/*' is not a valid"),
        (["--oauth1-keys", ".."], "--oauth1-keys: '..' is not a valid"),
    ],
)
def test_bad_names_are_refused_before_vault_is_touched(
    openbao: ManagedProcess, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert admin.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"error: {message}"), err


def test_consumer_policy_needs_a_credential(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        admin.main(["consumer-policy", "p"])
    assert exited.value.code == 2
    assert "--credential" in capsys.readouterr().err


# -- the ingress's routing identity ------------------------------------------------------------


def test_routing_identity_reads_the_bearer_token_and_api_keys_only(
    openbao: ManagedProcess,
    vault_root: hvac.Client,
    unique_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bearer, other = f"{unique_name}-lp", f"{unique_name}-crm"
    keys, other_keys = f"{unique_name}-v1", f"{unique_name}-v1-other"
    for name in (bearer, other):
        _write_credential(vault_root, name)
    for name in (keys, other_keys):
        vault_root.secrets.kv.v2.create_or_update_secret(
            path=f"switchboard/oauth1/{name}",
            secret={"consumer_key": "k", "consumer_secret": "s", "token": "t", "token_secret": "x"},
        )
    mount = f"approle-{unique_name}"
    env_file = tmp_path / "routing.env"
    argv = ["--approle-mount", mount, "--bearer-credential", bearer, "--oauth1-keys", keys]

    assert admin.main([*argv, "--routing-env-file", str(env_file)]) == 0

    out = capsys.readouterr().out
    values = _env_values(env_file)
    assert values["SWITCHBOARD_VAULT_SECRET_ID"] not in out
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    client = hvac.Client(url=openbao.url)
    login = client.auth.approle.login(
        role_id=values["SWITCHBOARD_VAULT_ROLE_ID"],
        secret_id=values["SWITCHBOARD_VAULT_SECRET_ID"],
        mount_point=mount,
    )
    assert login["auth"]["policies"] == ["default", admin.ROUTING_POLICY]
    assert login["auth"]["renewable"] is True
    readable = {
        (name, leaf)
        for name in (bearer, other)
        for leaf in LEAVES
        if _readable(client, f"{BASE}/{name}/{leaf}")
    }
    assert readable == {(bearer, "token")}
    assert _readable(client, f"switchboard/oauth1/{keys}")
    assert not _readable(client, f"switchboard/oauth1/{other_keys}")
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.create_or_update_secret(path=f"{BASE}/{bearer}/token", secret={})
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.list_secrets(path=BASE)


def test_the_ingress_store_works_under_the_routing_identity(
    openbao: ManagedProcess, vault_root: hvac.Client, unique_name: str
) -> None:
    """What the ingress does with its identity: its store reads the bearer and the keys, and
    a path outside the policy is named in a ``VaultPermissionDenied``."""
    bearer, keys = f"{unique_name}-lp", f"{unique_name}-v1"
    _write_credential(vault_root, bearer)
    vault_root.secrets.kv.v2.create_or_update_secret(
        path=f"switchboard/oauth1/{keys}",
        secret={"consumer_key": "k", "consumer_secret": "s", "token": "t", "token_secret": "x"},
    )
    mount = f"approle-{unique_name}"
    roles = admin.set_up(vault_root, approle_mount=mount, routing=admin.RoutingAccess(bearer, keys))
    identity = admin.issue_identity(
        vault_root, role=admin.ROUTING_ROLE, mount=mount, role_id=roles.routing
    )
    store = CredentialStore.from_settings(
        VaultSettings(
            VAULT_ADDR=openbao.url,
            token=None,
            role_id=identity.role_id,
            secret_id=identity.secret_id,
            approle_mount=identity.mount,
        )
    )

    token = store.read_token(bearer).token
    assert token is not None
    assert token.access_token.get_secret_value() == f"at-{bearer}"
    assert store.read_oauth1(keys).token.get_secret_value() == "t"
    with pytest.raises(VaultPermissionDenied, match=f"{BASE}/{bearer}/client"):
        store.read_client(bearer)


def test_setup_keeps_the_flows_and_routing_identities_apart(
    vault_root: hvac.Client, unique_name: str
) -> None:
    mount = f"approle-{unique_name}"
    roles = admin.set_up(vault_root, approle_mount=mount)
    flows = admin.issue_identity(vault_root, mount=mount, role_id=roles.flows)
    routing = admin.issue_identity(
        vault_root, role=admin.ROUTING_ROLE, mount=mount, role_id=roles.routing
    )

    assert roles.flows != roles.routing
    assert flows.secret_id.get_secret_value() != routing.secret_id.get_secret_value()
    text = vault_root.sys.read_policy(admin.ROUTING_POLICY)["data"]["rules"]
    assert 'path "secret/data/switchboard/credentials/liveperson/token"' in text
    assert "+" not in text and "*" not in text
    assert "oauth1" not in text  # no keys named: none readable


# -- the metrics identity ----------------------------------------------------------------------


def test_metrics_identity_produces_metrics_and_reads_no_secret(
    openbao: ManagedProcess,
    vault_root: hvac.Client,
    unique_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``switchboard metrics`` listens on the network: its identity lists the credentials and
    reads their health, and cannot read a client secret, seed, access or refresh token."""
    name = unique_name
    _write_credential(vault_root, name)
    now = datetime.now(UTC)
    health = CredentialHealth(
        state="expiring",
        error_class="TokenEndpointError",
        consecutive_failures=2,
        last_success_at=now - timedelta(hours=1),
        expires_at=now + timedelta(minutes=30),
        refresh_expires_at=now + timedelta(days=3),
    )
    vault_root.secrets.kv.v2.create_or_update_secret(
        path=f"{BASE}/{name}/health", secret=health.to_vault()
    )
    mount = f"approle-{unique_name}"
    env_file = tmp_path / "metrics.env"

    assert admin.main(["--approle-mount", mount, "--metrics-env-file", str(env_file)]) == 0

    out = capsys.readouterr().out
    values = _env_values(env_file)
    assert values["SWITCHBOARD_VAULT_SECRET_ID"] not in out
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    client = hvac.Client(url=openbao.url)
    login = client.auth.approle.login(
        role_id=values["SWITCHBOARD_VAULT_ROLE_ID"],
        secret_id=values["SWITCHBOARD_VAULT_SECRET_ID"],
        mount_point=mount,
    )
    assert login["auth"]["policies"] == ["default", admin.METRICS_POLICY]
    assert {leaf for leaf in LEAVES if _readable(client, f"{BASE}/{name}/{leaf}")} == {"health"}
    assert f"{name}/" in client.secrets.kv.v2.list_secrets(path=BASE)["data"]["keys"]
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.create_or_update_secret(path=f"{BASE}/{name}/health", secret={})

    monkeypatch.delenv("VAULT_TOKEN")  # the command runs with the metrics identity alone
    for variable, value in values.items():
        monkeypatch.setenv(variable, value)
    assert metrics_command(["--credential-names", "--cache-seconds", "0"]) == 0

    text = capsys.readouterr().out
    found = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    labels = frozenset({("credential", name), ("state", "expiring")})
    assert found[("switchboard_credential_state", labels)] == 1
    labels = frozenset({("credential", name), ("error_class", "TokenEndpointError")})
    assert found[("switchboard_credential_consecutive_failures", labels)] == 2
    access = found[
        ("switchboard_credential_access_token_expiry_seconds", frozenset({("credential", name)}))
    ]
    assert 25 * 60 < access <= 30 * 60
    refresh = found[
        ("switchboard_credential_refresh_token_expiry_seconds", frozenset({("credential", name)}))
    ]
    assert 2.9 * 86400 < refresh <= 3 * 86400
    success = found[
        ("switchboard_credential_last_success_timestamp_seconds", frozenset({("credential", name)}))
    ]
    assert success == pytest.approx((now - timedelta(hours=1)).timestamp(), abs=1)
    assert f"at-{name}" not in text and f"rt-{name}" not in text and f"seed-{name}" not in text


def test_setup_gives_the_metrics_role_only_the_metrics_policy(
    vault_root: hvac.Client, unique_name: str
) -> None:
    mount = f"approle-{unique_name}"
    roles = admin.set_up(vault_root, approle_mount=mount)

    assert len({roles.flows, roles.routing, roles.metrics}) == 3
    role = vault_root.auth.approle.read_role(role_name=admin.METRICS_ROLE, mount_point=mount)
    assert role["data"]["token_policies"] == [admin.METRICS_POLICY]
    text = vault_root.sys.read_policy(admin.METRICS_POLICY)["data"]["rules"]
    assert text == policies.render(admin.METRICS_POLICY)


def test_the_metrics_policy_is_health_and_the_listing_for_any_layout() -> None:
    text = policies.render(policies.METRICS_POLICY, mount="kv", base_path="x/y")
    paths = [line for line in text.splitlines() if line.startswith("path ")]
    assert paths == [
        'path "kv/data/x/y/credentials/+/health" {',
        'path "kv/metadata/x/y/credentials/" {',
        'path "auth/token/renew-self" {',
        'path "auth/token/lookup-self" {',
    ]


# -- admin reaches Vault as the flows do --------------------------------------------------------


def test_admin_ignores_proxy_variables_like_the_flows(
    vault_root: hvac.Client,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The flows' Vault session ignores ``HTTP(S)_PROXY``; ``requests`` would send the admin's
    root token to a proxy (here a dead port) instead of Vault."""
    for variable in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(variable, raising=False)
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")

    code = admin.main(["consumer-policy", f"{unique_name}-p", "--credential", unique_name])

    assert code == 0, capsys.readouterr().err


def test_admin_refuses_an_approle_identity(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("VAULT_TOKEN")
    monkeypatch.setenv("SWITCHBOARD_VAULT_ROLE_ID", "role")
    monkeypatch.setenv("SWITCHBOARD_VAULT_SECRET_ID", "secret")

    assert admin.main([]) == 2
    assert capsys.readouterr().err.startswith("error: VAULT_TOKEN: `switchboard vault` needs")


def test_an_unreachable_vault_fails_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VAULT_ADDR", "http://127.0.0.1:9")

    assert admin.main([]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]]
    assert "Vault is unreachable" in err[0] and "VAULT_ADDR=http://127.0.0.1:9" in err[0]


# -- the policies ship inside the package ---------------------------------------------------


@pytest.mark.slow
def test_an_installed_wheel_renders_the_policies(tmp_path: Path) -> None:
    """Built and installed apart from the checkout, the policies are still found."""
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(ROOT)],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("switchboard-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for policy in policies.SHIPPED:
        assert f"switchboard/policies/{policy}.hcl" in names
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True)
    script = (
        "import switchboard.policies as p; "
        f"assert p.__file__.startswith({str(target)!r}), p.__file__; "
        "print(p.render('switchboard-flows', mount='kv'))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": str(target)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert 'path "kv/data/switchboard/credentials/+/refresh"' in shown.stdout


def test_reader_policy_is_exactly_the_named_paths() -> None:
    text = policies.reader_policy(
        "title", credentials=["b", "a", "a"], oauth1_keys=["k"], mount="kv", base_path="/x/y/"
    )
    paths = [line for line in text.splitlines() if line.startswith("path ")]
    assert paths == [
        'path "kv/data/x/y/credentials/a/token" {',
        'path "kv/data/x/y/credentials/b/token" {',
        'path "kv/data/x/y/oauth1/k" {',
        'path "auth/token/renew-self" {',
        'path "auth/token/lookup-self" {',
    ]
