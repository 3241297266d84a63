"""The ``switchboard`` CLI against real OpenBao and the sandbox; secrets only via stdin/env."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from test_client_auth import JWT_BEARER, client_certificate, new_key, register, tls_listener

from sandbox.servers import ManagedProcess
from switchboard.cli import main
from switchboard.vault import CredentialStore


@pytest.fixture(autouse=True)
def _journal(tmp_path, monkeypatch: pytest.MonkeyPatch, openbao: ManagedProcess) -> None:
    monkeypatch.setenv("SWITCHBOARD_TOKEN_JOURNAL_DIR", str(tmp_path))


def _client(sandbox: ManagedProcess, name: str, grant: str) -> dict[str, str]:
    body = {"client_id": name, "grant_types": [grant], "scope": "read write"}
    return httpx2.post(f"{sandbox.url}/_control/clients", json=body).json()


def test_add_seed_refresh_list(
    sandbox: ManagedProcess,
    credential_store: CredentialStore,
    unique_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = _client(sandbox, unique_name, "refresh_token")
    argv = ["credentials", "add", unique_name, "--token-url", f"{sandbox.url}/oauth/token"]
    argv += ["--client-id", unique_name, "--grant", "refresh_token"]
    assert main(argv, stdin=io.StringIO(client["client_secret"] + "\n")) == 0
    assert (
        main(["credentials", "seed", unique_name], stdin=io.StringIO(client["refresh_token"])) == 0
    )
    assert main(["refresh", unique_name]) == 0
    assert main(["credentials", "list"]) == 0
    out = capsys.readouterr().out
    assert f"{unique_name}: refreshed (state healthy" in out
    assert any(line.startswith(unique_name) and "healthy" in line for line in out.splitlines())
    assert "sbx-" not in out
    record = credential_store.read_refresh(unique_name).record
    assert record is not None and record.seed_version == 1


def test_client_secret_from_an_environment_variable(
    sandbox: ManagedProcess,
    credential_store: CredentialStore,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = _client(sandbox, unique_name, "client_credentials")
    monkeypatch.setenv("MY_SECRET", client["client_secret"])
    argv = ["credentials", "add", unique_name, "--token-url", f"{sandbox.url}/oauth/token"]
    argv += ["--client-id", unique_name, "--client-secret-env", "MY_SECRET", "--scope", "read"]
    assert main(argv) == 0
    assert main(["refresh", unique_name, "--force"]) == 0
    assert credential_store.read_client(unique_name).scope == "read"
    assert "sbx-" not in capsys.readouterr().out


def test_bad_input_names_the_field(
    unique_name: str, capsys: pytest.CaptureFixture[str], openbao: ManagedProcess
) -> None:
    argv = ["credentials", "add", unique_name, "--token-url", "ftp://nope", "--client-id", "c"]
    assert main(argv, stdin=io.StringIO("sbx-secret\n")) == 2
    err = capsys.readouterr().err
    assert "token_url" in err and "sbx-" not in err
    assert (
        main(
            ["credentials", "add", unique_name, "--token-url", "https://x", "--client-id", "c"],
            stdin=io.StringIO(""),
        )
        == 2
    )
    assert "no client secret" in capsys.readouterr().err


def test_missing_env_variable_is_named(
    unique_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["credentials", "seed", unique_name, "--refresh-token-env", "NOT_SET_ANYWHERE"]
    assert main(argv) == 2
    assert "NOT_SET_ANYWHERE" in capsys.readouterr().err


def test_oauth1_add_from_json_stdin(
    sandbox: ManagedProcess,
    credential_store: CredentialStore,
    unique_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    keys = httpx2.post(f"{sandbox.url}/_control/oauth1-keys", json={}).text
    assert main(["oauth1", "add", unique_name], stdin=io.StringIO(keys)) == 0
    assert (
        credential_store.read_oauth1(unique_name).token_secret.get_secret_value().startswith("sbx-")
    )
    assert main(["oauth1", "add", unique_name], stdin=io.StringIO('{"consumer_key": "k"}')) == 2
    assert "consumer_secret" in capsys.readouterr().err


def test_refresh_of_an_unknown_credential_fails_clearly(
    capsys: pytest.CaptureFixture[str], openbao: ManagedProcess
) -> None:
    assert main(["refresh", "no-such-credential"]) == 2
    assert "no client definition for no-such-credential" in capsys.readouterr().err


def test_missing_vault_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    monkeypatch.delenv("SWITCHBOARD_VAULT_ADDR", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    assert main(["credentials", "list"]) == 2
    assert "VAULT_ADDR" in capsys.readouterr().err


def test_console_script_is_the_core_cli_plus_ingest() -> None:
    """``switchboard`` is ``serve:main`` (the Prefect side): the core's commands and ``ingest``;
    the core's own CLI (``python -m switchboard.cli``) has every command but ``ingest``."""
    for command in (
        [str(Path(sys.executable).with_name("switchboard"))],
        [sys.executable, "-m", "serve"],
    ):
        full = subprocess.run([*command, "--help"], capture_output=True, text=True)
        assert full.returncode == 0 and "credentials" in full.stdout and "ingest" in full.stdout
    core = subprocess.run(
        [sys.executable, "-m", "switchboard.cli", "--help"], capture_output=True, text=True
    )
    assert core.returncode == 0 and "credentials" in core.stdout and "vault" in core.stdout
    assert "ingest" not in core.stdout


# -- clients that prove themselves with a key or a certificate ----------------------------------


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


def _added_then_refreshed(
    argv: list[str], capsys: pytest.CaptureFixture[str], stdin: str = ""
) -> str:
    assert main(argv, stdin=io.StringIO(stdin)) == 0
    assert main(["refresh", argv[2]]) == 0
    out = capsys.readouterr().out
    assert f"{argv[2]}: refreshed (state healthy" in out
    assert "PRIVATE KEY" not in out and "sbx-" not in out
    return out


def test_a_jwt_bearer_client_with_its_key_in_a_file(
    sandbox: ManagedProcess,
    credential_store: CredentialStore,
    unique_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pem, public = new_key()
    client = register(
        sandbox, grant_types=[JWT_BEARER], jwks={"keys": [public]}, subjects=["svc@example.test"]
    )
    argv = ["credentials", "add", unique_name, "--token-url", f"{sandbox.url}/oauth/token"]
    argv += ["--client-id", client["client_id"], "--grant", "jwt_bearer"]
    argv += ["--private-key-file", _write(tmp_path, "key.pem", pem), "--private-key-id", "k1"]
    argv += ["--subject", "svc@example.test"]

    out = _added_then_refreshed(argv, capsys)

    assert "(RS256 signing key, kid k1)" in out
    stored = credential_store.read_client(unique_name)
    assert (stored.auth_method, stored.subject) == ("none", "svc@example.test")
    assert stored.private_key is not None and stored.private_key.get_secret_value() == pem


@pytest.mark.parametrize("file_option", [[], ["--private-key-file", "-"]], ids=["unset", "dash"])
def test_a_private_key_jwt_client_with_its_key_on_stdin(
    sandbox: ManagedProcess,
    unique_name: str,
    capsys: pytest.CaptureFixture[str],
    file_option: list[str],
) -> None:
    pem, public = new_key("EC")
    client = register(
        sandbox, token_endpoint_auth_method="private_key_jwt", jwks={"keys": [public]}
    )
    argv = ["credentials", "add", unique_name, "--token-url", f"{sandbox.url}/oauth/token"]
    argv += ["--client-id", client["client_id"], "--auth-method", "private_key_jwt"]
    argv += ["--private-key-id", "k1", *file_option]

    assert "(ES256 signing key, kid k1)" in _added_then_refreshed(argv, capsys, stdin=pem)


def test_a_mutual_tls_client_from_its_files(
    sandbox: ManagedProcess,
    credential_store: CredentialStore,
    unique_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    listener = tls_listener(sandbox)
    cert, key, dn = client_certificate(sandbox, "switchboard-cli")
    client = register(
        sandbox, token_endpoint_auth_method="tls_client_auth", tls_client_auth_subject_dn=dn
    )
    argv = ["credentials", "add", unique_name, "--token-url", f"{listener['url']}/oauth/token"]
    argv += ["--client-id", client["client_id"], "--auth-method", "tls_client_auth"]
    argv += ["--tls-client-cert-file", _write(tmp_path, "cert.pem", cert)]
    argv += ["--tls-client-key-file", _write(tmp_path, "key.pem", key)]
    argv += ["--tls-ca-cert-file", _write(tmp_path, "ca.pem", listener["ca_cert"])]

    assert "(TLS client certificate and key)" in _added_then_refreshed(argv, capsys)
    assert credential_store.read_client(unique_name).tls_ca_cert == listener["ca_cert"]


@pytest.mark.parametrize(
    ("options", "stdin", "named"),
    [
        (["--private-key-file", "key.pem"], "sbx-secret\n", "--private-key-file is not used"),
        (["--grant", "jwt_bearer", "--client-secret-env", "X"], "", "--client-secret-env is not"),
        (["--auth-method", "tls_client_auth"], "", "needs --tls-client-cert-file"),
        (["--auth-method", "private_key_jwt", "--private-key-file", "nowhere.pem"], "", "cannot"),
        (["--auth-method", "private_key_jwt"], "", "no private key given"),
        (["--auth-method", "private_key_jwt"], "-----BEGIN sbx-not-a-key\n", "private_key"),
        (["--auth-method", "private_key_jwt", "--subject", "s"], "", "--subject is not used"),
        (["--grant", "jwt_bearer", "--auth-method", "private_key_jwt"], "key", "--auth-method:"),
        ([], "key", "client_secrets"),
        (["--tls-client-cert-file", "key.pem"], "sbx-secret\n", "choose --auth-method tls"),
        (["--auth-method", "private_key_jwt", "--client-secret-env", "X"], "key", "secret-env"),
        (["--auth-method", "private_key_jwt", "--private-key-file", "der.key"], "", "not UTF-8"),
        (["--auth-method", "tls_client_auth", "--private-key-id", "k"], "", "--private-key-id"),
    ],
    ids=[
        "key-for-a-secret",
        "secret-for-a-key",
        "no-cert",
        "no-file",
        "no-key",
        "not-a-key",
        "subject-without-jwt-bearer",
        "method-for-jwt-bearer",
        "key-piped-as-secrets",
        "certificate-for-a-secret",
        "secret-env-for-private-key-jwt",
        "a-der-key",
        "key-id-for-tls",
    ],
)
def test_a_proof_that_does_not_fit_is_refused_and_nothing_stored(
    options: list[str],
    stdin: str,
    named: str,
    credential_store: CredentialStore,
    unique_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    key = new_key()[0]
    (tmp_path / "key.pem").write_text(key)
    (tmp_path / "der.key").write_bytes(b"\x30\x82\xff\xfe sbx-der")
    argv = ["credentials", "add", unique_name, "--token-url", "https://idp.example.test/token"]
    argv += ["--client-id", "c", *options]

    assert main(argv, stdin=io.StringIO(key if stdin == "key" else stdin)) == 2
    err = capsys.readouterr().err
    assert named in err
    assert "sbx-" not in err and "PRIVATE KEY" not in err
    assert unique_name not in credential_store.list_credentials()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_key_is_never_asked_for_at_a_terminal(
    unique_name: str, capsys: pytest.CaptureFixture[str], openbao: ManagedProcess
) -> None:
    """A PEM cannot be typed at a hidden prompt: the command says where to put it instead."""
    argv = ["credentials", "add", unique_name, "--token-url", "https://idp.example.test/token"]
    argv += ["--client-id", "c", "--auth-method", "private_key_jwt"]
    assert main(argv, stdin=_Terminal("")) == 2
    assert "name its file with --private-key-file, or pipe it" in capsys.readouterr().err
