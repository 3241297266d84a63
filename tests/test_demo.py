"""``make demo`` as a user runs it (``DEMO_ONCE=1``), on free ports with its own state directory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.servers import free_port, port_in_use
from scripts.deploy import ROOT
from scripts.hygiene import scan_paths

DEMO_TIMEOUT_SECONDS = 900


def demo_env(state_dir: Path, **ports: int) -> dict[str, str]:
    """A user's environment: no test server, Vault token or Switchboard setting leaks in."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "VAULT_", "SWITCHBOARD_", "DEMO_"))
    }
    env.update(DEMO_ONCE="1", DEMO_STATE_DIR=str(state_dir))
    chosen: set[int] = set()
    for key in ("vault", "prefect", "sandbox", "ingress"):
        port = ports.get(key) or free_port()
        while key not in ports and (port in chosen or (key == "vault" and port_in_use(port + 1))):
            port = free_port()
        chosen.update({port, port + 1} if key == "vault" else {port})  # OpenBao takes port + 1
        env[f"DEMO_{key.upper()}_PORT"] = str(port)
    return env


@pytest.mark.slow
def test_demo_once_runs_the_whole_scenario_and_leaks_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = subprocess.run(
        [sys.executable, "-m", "scripts.demo"],
        cwd=ROOT,
        env=demo_env(state),
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_SECONDS,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Prefect UI:" in result.stdout
    assert "secret scan of Prefect's database, logs and API: 0 finding(s)" in result.stdout
    assert "healthy" in result.stdout
    assert (state / "prefect" / "prefect.db").exists()
    assert oct((state / "approle.env").stat().st_mode & 0o777) == "0o600"

    findings = scan_paths([state / "prefect", state / "logs"])
    assert not findings, "\n".join(map(str, findings[:50]))


def test_a_taken_port_gives_one_clear_line_and_exit_code_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "scripts.demo"],
            cwd=ROOT,
            env=demo_env(tmp_path / "state", prefect=port),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(port) in lines[0]
    assert "DEMO_PREFECT_PORT" in lines[0]
    assert not (tmp_path / "state").exists(), "nothing is started or written before the check"


def test_ctrl_c_stops_every_child(tmp_path: Path) -> None:
    """Interrupted while the Prefect server starts: OpenBao and the sandbox are already up."""
    env = demo_env(tmp_path / "state")
    del env["DEMO_ONCE"]
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.demo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if "starting the Prefect server" in line:
            process.send_signal(signal.SIGINT)
            break
    output = "".join(seen) + process.communicate(timeout=120)[0]

    assert process.returncode == 0, output
    assert "[demo] stopping" in output
    ports = [int(env[f"DEMO_{key}_PORT"]) for key in ("PREFECT", "VAULT", "SANDBOX", "INGRESS")]
    busy = [port for port in ports if port_in_use(port)]
    assert not busy, f"still listening after Ctrl-C: {busy}\n{output}"
