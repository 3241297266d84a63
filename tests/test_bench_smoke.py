"""``python -m bench --quick`` runs every part end to end and writes its results and pictures;
no timing is asserted."""

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
    parts = {"routing", "latency_curve", "batch_curve", "tokens", "fleet_curve", "prefect_api"}
    assert {"machine", "peak_memory_mib", *parts} <= set(results)
    assert {"nproc", "cpu", "python", "prefect"} <= set(results["machine"])

    routing = results["routing"]
    assert {"sizes", "latency", "warm_up"} <= set(routing)
    for part in routing["sizes"].values():
        assert {"raw", "plain", "orchestrated"} <= set(part["medians"])
        assert part["floor"] in {"raw", "plain"}
        assert part["ratio_orchestrated_floor"] > 0
        for run in (run for runs in part["runs"].values() for run in runs):
            assert run["statuses"] == {"200": run["events"]}
            assert run["messages"]["recorded"] == run["messages"]["expected"]
            assert run["messages"]["wrong"] == run["messages"]["extra"] == 0
            assert {"p50", "p95", "p99"} <= set(run["event_to_message_seconds"])
            assert {"csds", "agent_view", "queue_health", "messages"} <= set(run["upstream"])
            assert "vault_reads_per_event" in run
    for runs in routing["latency"]["runs"].values():
        assert {"p50", "p95", "p99"} <= set(runs[0]["event_to_message_seconds"])

    curve = results["latency_curve"]
    for points in curve["points"].values():
        assert [p["rate"] for p in points] == [50.0, 200.0]
        assert all(p["complete"] for p in points)
    assert set(curve["p99_crossing_rate"]) == {"plain", "orchestrated"}
    assert set(results["batch_curve"]["points"]) == {"raw", "plain", "orchestrated"}
    for points in results["batch_curve"]["points"].values():
        assert [p["max_batch_size"] for p in points] == [10, 50]
        assert all(p["statuses"] == {"200": p["events"]} for p in points)

    tokens = results["tokens"]
    assert {"raw", "core", "flow"} <= set(tokens["medians"])
    assert "ratio_flow_raw" in tokens
    for runs in tokens["runs"].values():
        for run in runs:
            assert run["refreshed_in_vault"] == tokens["credentials"]
            assert run["vault_ops_per_credential"] > 0

    fleet = results["fleet_curve"]
    assert [p["credentials"] for p in fleet["points"]["flow"]] == [5, 12]
    assert all(s["vault_ops_per_credential"] > 0 for s in fleet["steady"])
    for grant in ("client_credentials", "refresh_token"):
        assert fleet["grants"][grant]["vault_ops_per_credential"] > 0
    assert fleet["grants"]["refresh_token"]["refreshed_in_vault"] == 4
    assert fleet["capacity"]["credentials"] > 0

    assert len(results["pictures"]) == 3
    for name in results["pictures"]:
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
    summary = (tmp_path / "latest-quick.md").read_text()
    assert "### Targets" in summary
    assert all(f"]({name})" in summary for name in results["pictures"])
    assert "sbx-" not in summary and "sbx-" not in json.dumps(results)
