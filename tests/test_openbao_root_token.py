"""The dev server's root token stays out of its command line, where ``ps`` shows it to anyone."""

from __future__ import annotations

from pathlib import Path

import hvac

from sandbox.servers import ManagedProcess


def test_root_token_is_not_on_the_bao_command_line(
    openbao: ManagedProcess, vault_root: hvac.Client
) -> None:
    token = openbao.extra["root_token"]
    cmdline = Path(f"/proc/{openbao.process.pid}/cmdline").read_bytes()

    assert b"bao" in cmdline and b"server" in cmdline  # the server itself, not a wrapper
    assert token.encode() not in cmdline
    assert vault_root.auth.token.lookup_self()["data"]["policies"] == ["root"]


def test_the_log_that_prints_the_root_token_is_private(openbao: ManagedProcess) -> None:
    assert openbao.log_path.stat().st_mode & 0o777 == 0o600
