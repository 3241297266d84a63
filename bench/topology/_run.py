"""``python -m bench --topology ha``: start the HA topology, break it five ways, report.

Writes ``bench/results/<UTC time>-ha.json`` with every figure and the CPU seconds each process
used in each phase; BENCHMARKS.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.topology._cluster import TopologyShape, start_topology
from bench.topology._faults import (
    api_server_kill,
    fleet_refresh_with_leader_kill,
    ingress_kill_under_load,
    redis_and_postgres_restart,
    worker_kill_mid_run,
)

__all__ = ["FaultSizes", "main", "run_faults"]

RESULTS = Path(__file__).resolve().parent.parent / "results"


@dataclass(frozen=True)
class FaultSizes:
    credentials: int = 1000
    rate: float = 100.0
    seconds: float = 30.0
    orphans: int = 100  # the fleet whose first refresh loses its worker
    durable: bool = True


def run_faults(workdir: Path, sizes: FaultSizes) -> dict[str, Any]:
    """Every fault in turn on one topology; each result has a ``failed`` list (empty: held)."""
    results: dict[str, Any] = {"sizes": sizes.__dict__}
    started = time.monotonic()
    with start_topology(workdir, TopologyShape(durable=sizes.durable)) as topology:
        results["startup_seconds"] = round(time.monotonic() - started, 1)
        results["ingress_kill"] = ingress_kill_under_load(
            topology, rate=sizes.rate, seconds=sizes.seconds
        )
        results["openbao_leader_kill"] = fleet_refresh_with_leader_kill(
            topology, credentials=sizes.credentials
        )
        results["api_server_kill"] = api_server_kill(topology)
        results["worker_kill"] = worker_kill_mid_run(topology, credentials=sizes.orphans)
        results["redis_postgres_restart"] = redis_and_postgres_restart(topology)
    return results


def write_results(results: dict[str, Any], directory: Path, stamp: str) -> Path:
    path = directory / f"{stamp}-ha.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench --topology ha", description=__doc__)
    defaults = FaultSizes()
    parser.add_argument("--credentials", type=int, default=defaults.credentials)
    parser.add_argument("--rate", type=float, default=defaults.rate, help="events/s offered")
    parser.add_argument("--seconds", type=float, default=defaults.seconds, help="of load per fault")
    parser.add_argument("--orphans", type=int, default=defaults.orphans)
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the topology on TERM too
    sizes = FaultSizes(args.credentials, args.rate, args.seconds, args.orphans)
    workdir = Path(tempfile.mkdtemp(prefix="switchboard-ha-"))
    results = run_faults(workdir, sizes)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = write_results(results, args.results_dir, stamp)
    broken = {
        name: r["failed"] for name, r in results.items() if isinstance(r, dict) and r.get("failed")
    }
    print(f"results: {path}" + (f"\nbroken: {broken}" if broken else "\nevery check held"))
    return 1 if broken else 0
