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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.topology._cluster import Topology, TopologyShape, start_topology
from bench.topology._faults import (
    api_server_kill,
    fleet_refresh_with_leader_kill,
    ingress_kill_under_load,
    redis_and_postgres_restart,
    worker_kill_mid_run,
)
from bench.topology._report import render

__all__ = ["FaultSizes", "main", "run_faults"]

RESULTS = Path(__file__).resolve().parent.parent / "results"


@dataclass(frozen=True)
class FaultSizes:
    credentials: int = 1000
    rate: float = 100.0
    seconds: float = 30.0
    orphans: int = 100  # the fleet whose first refresh loses its worker
    durable: bool = True


FAULTS: dict[str, Callable[[Topology, FaultSizes], dict[str, Any]]] = {
    "ingress_kill": lambda t, s: ingress_kill_under_load(t, rate=s.rate, seconds=s.seconds),
    "openbao_leader_kill": lambda t, s: fleet_refresh_with_leader_kill(
        t, credentials=s.credentials
    ),
    "api_server_kill": lambda t, s: api_server_kill(t),
    "worker_kill": lambda t, s: worker_kill_mid_run(t, credentials=s.orphans),
    "redis_postgres_restart": lambda t, s: redis_and_postgres_restart(t),
}


def run_faults(
    workdir: Path, sizes: FaultSizes, only: Iterable[str] = tuple(FAULTS)
) -> dict[str, Any]:
    """The faults in turn on one topology; each result has a ``failed`` list (empty: held)."""
    results: dict[str, Any] = {"sizes": sizes.__dict__}
    started = time.monotonic()
    with start_topology(workdir, TopologyShape(durable=sizes.durable)) as topology:
        results["startup_seconds"] = round(time.monotonic() - started, 1)
        for name in only:
            results[name] = FAULTS[name](topology, sizes)
    return results


def write_results(results: dict[str, Any], directory: Path, stamp: str) -> Path:
    """``<stamp>-ha.json`` and the same as Markdown (``-ha.md``) in ``directory``."""
    path = directory / f"{stamp}-ha.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    path.with_suffix(".md").write_text(render(results))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench --topology ha", description=__doc__)
    defaults = FaultSizes()
    parser.add_argument("--credentials", type=int, default=defaults.credentials)
    parser.add_argument("--rate", type=float, default=defaults.rate, help="events/s offered")
    parser.add_argument("--seconds", type=float, default=defaults.seconds, help="of load per fault")
    parser.add_argument("--orphans", type=int, default=defaults.orphans)
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--only", help=f"comma-separated, of {', '.join(FAULTS)}")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the topology on TERM too
    sizes = FaultSizes(args.credentials, args.rate, args.seconds, args.orphans)
    workdir = Path(tempfile.mkdtemp(prefix="switchboard-ha-"))
    only = args.only.split(",") if args.only else list(FAULTS)
    unknown = set(only) - set(FAULTS)
    if unknown:
        parser.error(f"--only: unknown fault(s) {sorted(unknown)}; choose from {', '.join(FAULTS)}")
    results = run_faults(workdir, sizes, only)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = write_results(results, args.results_dir, stamp)
    broken = {
        name: r["failed"] for name, r in results.items() if isinstance(r, dict) and r.get("failed")
    }
    print(f"results: {path}" + (f"\nbroken: {broken}" if broken else "\nevery check held"))
    return 1 if broken else 0
