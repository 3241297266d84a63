"""The ``switchboard`` CLI against real OpenBao and the sandbox; secrets only via stdin/env."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest

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
