"""``python -m bench`` (``make bench``): routing and token-fleet benchmarks with raw baselines.

    python -m bench                       # every part, the issue's sizes, 3 repetitions
    python -m bench --quick               # tiny sizes, 1 repetition: a smoke run
    python -m bench --only curve          # one part (or several, comma-separated)
    python -m bench --topology ha [--credentials N --rate R --only FAULT,...]
                                          # the HA topology, broken five ways (-ha.json)

Writes ``bench/results/<UTC time>.json``, ``.md`` and one PNG per curve (and ``latest.*``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._curves import BATCH_SIZES, RATES, batch_curve, latency_curve
from bench._fleet_curve import FLEET_SIZES, fleet_curve
from bench._ingress import account_env
from bench._measure import PeakMemory, wait_until_idle
from bench._plots import draw
from bench._prefect_api import run_prefect_api
from bench._report import render
from bench._routing import (
    BEARER,
    ORCH_ACCOUNT,
    VARIANTS,
    RoutingConfig,
    prepare_routing,
    run_routing,
)
from bench._servers import bench_servers
from bench._tokens import TokenConfig, run_tokens

RESULTS = Path(__file__).resolve().parent / "results"
PARTS = ("routing", "curve", "batch-curve", "tokens", "fleet-curve", "prefect-api")


def _ints(text: str | None, default: list[int]) -> list[int]:
    return [int(v) for v in text.split(",")] if text else default


def _memory_total() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    return "?"


def _machine() -> dict[str, Any]:
    def run(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            return "?"

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    import prefect

    from sandbox.servers import bao_binary

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": _memory_total(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "prefect": prefect.__version__,
        "openbao": run(bao_binary(), "version"),
        "git_commit": run("git", "rev-parse", "--short", "HEAD"),
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
    }


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition")
    parser.add_argument(
        "--only",
        help="comma-separated parts to run: " + ", ".join(PARTS) + " (routing: throughput and "
        "open-loop latency; curve: latency against offered rate; batch-curve: throughput and "
        "CPU against batch size; tokens: the 1,000-credential fleet; fleet-curve: 100 to "
        "10,000 credentials and the capacity; prefect-api: flow-run API latency by call, a "
        "diagnostic); default all",
    )
    parser.add_argument("--repeats", type=int, help="repetitions per scenario (default 3)")
    parser.add_argument("--sizes", help="routing sizes, comma-separated (default 1000,10000)")
    parser.add_argument("--credentials", type=int, help="token fleet size (default 1000)")
    parser.add_argument(
        "--latency-events", type=int, help="events in the latency run (default 1000)"
    )
    parser.add_argument(
        "--rate", type=float, default=200.0, help="offered load, events/s (default 200)"
    )
    parser.add_argument(
        "--rates", help="curve: offered rates, comma-separated (default 25,50,100,200,400)"
    )
    parser.add_argument(
        "--curve-seconds",
        type=float,
        help="curve: seconds of events offered at each rate (default 10)",
    )
    parser.add_argument(
        "--batch-sizes", help="batch-curve: max batch sizes (default 25,50,100,250,500,1000)"
    )
    parser.add_argument(
        "--batch-events", type=int, help="batch-curve: events per point (default 3000)"
    )
    parser.add_argument(
        "--fleet-sizes", help="fleet-curve: fleet sizes, comma-separated (default 100,1000,10000)"
    )
    parser.add_argument(
        "--refresh-token-credentials",
        type=int,
        help="fleet-curve: size of the refresh-token fleet (default 1000)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1000,
        help="requests outstanding in the throughput runs (default 1000)",
    )
    parser.add_argument(
        "--prefect-db",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the Prefect server's database (default sqlite, the embedded default)",
    )
    parser.add_argument(
        "--ingress",
        action="append",
        default=[],
        metavar="SETTING=VALUE",
        help="an ingress setting for both ingress variants, e.g. max_in_flight=1 (repeatable)",
    )
    parser.add_argument("--no-plain", action="store_true", help="skip the plain-ingress variant")
    parser.add_argument("--no-core", action="store_true", help="skip the token core variant")
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where results go")
    parser.add_argument(  # taken before parsing (see main); listed here for --help
        "--topology",
        choices=["ha"],
        help="the HA topology under faults instead (`--topology ha --help` for its options)",
    )
    parser.add_argument(
        "--keep-workdir", action="store_true", help="keep server logs and audit log"
    )
    return parser.parse_args(argv)


def _topology(argv: list[str]) -> list[str] | None:
    """The other arguments when ``--topology ha`` (or ``--topology=ha``) is among ``argv``."""
    for index, arg in enumerate(argv):
        if arg == "--topology=ha":
            return argv[:index] + argv[index + 1 :]
        if arg == "--topology" and argv[index + 1 : index + 2] == ["ha"]:
            return argv[:index] + argv[index + 2 :]
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    topology = _topology(argv)
    if topology is not None:  # the HA topology under faults: its own options
        from bench.topology._run import main as run_topology

        return run_topology(topology)
    args = _parse(argv)
    parts = set(args.only.split(",")) if args.only else set(PARTS)
    unknown = parts - set(PARTS)
    if unknown:
        print(f"python -m bench: --only: unknown part(s) {sorted(unknown)}", file=sys.stderr)
        return 2
    quick = args.quick
    repeats = args.repeats or (1 if quick else 3)
    sizes = _ints(args.sizes, [60] if quick else [1000, 10_000])
    routing = RoutingConfig(
        sizes=sizes,
        latency_events=args.latency_events or (25 if quick else 2000),
        rate=args.rate,
        concurrency=args.concurrency,
        repeats=repeats,
        plain=not args.no_plain,
        ingress_settings=dict(item.split("=", 1) for item in args.ingress),
    )
    tokens = TokenConfig(
        credentials=args.credentials or (12 if quick else 1000),
        repeats=repeats,
        core=not args.no_core,
    )
    started = datetime.now(UTC)
    results: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "command": shlex.join(
            ["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])]
        ),
        "quick": quick,
        "machine": _machine(),
        "prefect_database": args.prefect_db,
    }
    workdir = Path(tempfile.mkdtemp(prefix="switchboard-bench-"))
    memory = PeakMemory()
    clock = time.perf_counter()
    try:
        with bench_servers(workdir, database=args.prefect_db) as servers:
            memory.watch("prefect server", servers.prefect.process.pid)
            memory.watch("openbao", servers.openbao.process.pid)
            memory.watch("sandbox", servers.sandbox.process.pid)
            memory.start()
            try:
                if parts & {"routing", "curve", "batch-curve", "prefect-api"}:
                    prepare_routing(servers)
                if "routing" in parts:
                    results["routing"] = run_routing(servers, routing, memory)
                if "curve" in parts:
                    results["latency_curve"] = latency_curve(
                        servers,
                        memory,
                        rates=[float(r) for r in args.rates.split(",")]
                        if args.rates
                        else ([50.0, 200.0] if quick else list(RATES)),
                        seconds=args.curve_seconds or (1.0 if quick else 10.0),
                        search=not quick,
                        variants=["plain", "orchestrated"] if routing.plain else ["orchestrated"],
                        settings=routing.ingress_settings,
                    )
                if "batch-curve" in parts:
                    results["batch_curve"] = batch_curve(
                        servers,
                        memory,
                        batch_sizes=_ints(
                            args.batch_sizes, [10, 50] if quick else list(BATCH_SIZES)
                        ),
                        events=args.batch_events or (60 if quick else 3000),
                        concurrency=routing.concurrency,
                        variants=[v for v in VARIANTS if routing.plain or v != "plain"],
                        settings=routing.ingress_settings,
                    )
                if "prefect-api" in parts:
                    env = account_env(servers, ORCH_ACCOUNT, BEARER)
                    runs = 4 if quick else 20
                    results["prefect_api"] = [
                        run_prefect_api(env, workdir, runs=runs, concurrency=k) for k in (1, 4)
                    ]
                if "tokens" in parts:
                    settled = wait_until_idle(servers.prefect.process.pid)
                    print(f"bench: Prefect server idle after {settled:.0f} s", file=sys.stderr)
                    results["tokens"] = run_tokens(servers, tokens, memory)
                    results["tokens"]["waited_for_idle_prefect_seconds"] = settled
                if "fleet-curve" in parts:
                    wait_until_idle(servers.prefect.process.pid)
                    results["fleet_curve"] = fleet_curve(
                        servers,
                        memory,
                        sizes=_ints(args.fleet_sizes, [5, 12] if quick else list(FLEET_SIZES)),
                        repeats=1 if quick else (args.repeats or 1),
                        refresh_token_fleet=args.refresh_token_credentials
                        or (4 if quick else 1000),
                    )
            except BaseException:
                print(servers.log_tails(), file=sys.stderr)
                raise
            finally:
                results["peak_memory_mib"] = memory.stop()
    finally:
        if not args.keep_workdir:
            subprocess.run(["rm", "-rf", str(workdir)], check=False)
        else:
            print(f"bench: logs kept in {workdir}", file=sys.stderr)
    results["machine"]["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    results["total_seconds"] = time.perf_counter() - clock
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stem = started.strftime("%Y%m%dT%H%M%SZ") + ("-quick" if quick else "")
    stem += "" if args.prefect_db == "sqlite" else f"-{args.prefect_db}"
    results["pictures"] = draw(results, args.results_dir, stem)
    markdown = render(results)
    for name in (stem, "latest-quick" if quick else "latest"):
        (args.results_dir / f"{name}.json").write_text(json.dumps(results, indent=2, default=str))
        (args.results_dir / f"{name}.md").write_text(markdown)
    print(markdown)
    print(f"bench: results in {args.results_dir / stem}.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
