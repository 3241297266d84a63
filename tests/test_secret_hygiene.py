"""After the whole suite (marker ``last``), no sandbox secret (``sbx-…``) anywhere Prefect keeps
things: its database, every server log of the session, result storage, artifacts, events, logs
and flow-run parameters read back through the API.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import drain_prefect_workers

from sandbox.servers import ManagedProcess
from scripts.hygiene import scan_api, scan_paths

PLANTED = "sbx-" + "planted0123456789"


def test_the_scanner_finds_a_planted_secret_in_files_and_databases(tmp_path: Path) -> None:
    (tmp_path / "server.log").write_text(f"INFO token={PLANTED}\n")
    with sqlite3.connect(tmp_path / "prefect.db") as db:
        db.execute("CREATE TABLE artifact (data TEXT)")
        db.execute("INSERT INTO artifact VALUES (?)", (f'{{"token": "{PLANTED}"}}',))
    db.close()

    findings = [str(f) for f in scan_paths([tmp_path])]

    assert any("server.log" in f for f in findings)
    assert any("artifact.data rowid 1" in f for f in findings)
    assert not any(PLANTED in f for f in findings), "a finding must not print the secret"


def test_the_scanner_ignores_the_bare_prefix(tmp_path: Path) -> None:
    (tmp_path / "doc.log").write_text("every sandbox secret starts with sbx- so scans find it\n")
    assert scan_paths([tmp_path]) == []


def test_the_session_scan_is_collected_last() -> None:
    """The ``last`` marker, not the file name, puts the scan after every other test."""
    collect = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [*collect, f"tests/{Path(__file__).name}", "tests/test_readme.py"],  # this file first
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    nodes = [line for line in done.stdout.splitlines() if "::" in line]
    assert done.returncode == 0 and len(nodes) > 3, done.stdout[-2000:] + done.stderr[-2000:]
    assert nodes[-1].endswith("::test_no_secret_anywhere_prefect_keeps_things")


def _recent_files(root: Path, since: float) -> list[Path]:
    if not root.is_dir():
        return []
    return [p for p in root.rglob("*") if p.is_file() and p.stat().st_mtime >= since]


@pytest.mark.last
def test_no_secret_anywhere_prefect_keeps_things(
    prefect_server: ManagedProcess, session_dir: Path
) -> None:
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    drain_prefect_workers()
    time.sleep(1)  # the server writes what it just received

    homes = [p for p in session_dir.rglob("*prefect-home*") if p.is_dir()]
    logs = list(session_dir.rglob("*.log"))
    # Results of flows run in this test process (if any were persisted) during this session.
    results = _recent_files(Path(PREFECT_LOCAL_STORAGE_PATH.value()), session_dir.stat().st_ctime)
    assert (session_dir / "prefect-home" / "prefect.db").exists()

    findings = scan_paths([*homes, *logs, *results]) + scan_api(prefect_server.extra["api_url"])

    if findings:
        pytest.fail(
            f"{len(findings)} sandbox secret(s) leaked:\n" + "\n".join(map(str, findings[:50]))
        )
