"""``python -m bench --quick`` runs end to end and writes its results; no timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_quick_bench_writes_results(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "VAULT_"))}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--results-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]

    results = json.loads((tmp_path / "latest-quick.json").read_text())
    assert {"machine", "routing", "tokens", "peak_memory_mib"} <= set(results)
    assert {"nproc", "cpu", "python", "prefect"} <= set(results["machine"])

    routing = results["routing"]
    assert {"sizes", "latency", "warm_up"} <= set(routing)
    for part in routing["sizes"].values():
        assert {"raw", "plain", "orchestrated"} <= set(part["medians"])
        assert "ratio_orchestrated_raw" in part
        for run in part["runs"]["orchestrated"]:
            assert run["statuses"] == {"200": run["events"]}
            assert run["messages"]["recorded"] == run["messages"]["expected"]
            assert run["messages"]["wrong"] == run["messages"]["extra"] == 0
            assert {"p50", "p95", "p99"} <= set(run["event_to_message_seconds"])
            assert {"csds", "agent_view", "queue_health", "messages"} <= set(run["upstream"])
            assert "vault_reads_per_event" in run
    assert {"p50", "p95", "p99"} <= set(routing["latency"]["runs"][0]["event_to_message_seconds"])

    tokens = results["tokens"]
    assert {"raw", "core", "flow"} <= set(tokens["medians"])
    assert "ratio_flow_raw" in tokens
    for runs in tokens["runs"].values():
        for run in runs:
            assert run["refreshed_in_vault"] == tokens["credentials"]
            assert run["vault_ops_per_credential"] > 0

    summary = (tmp_path / "latest-quick.md").read_text()
    assert "### Targets" in summary
    assert "sbx-" not in summary and "sbx-" not in json.dumps(results)
