"""The HA topology (README "Running at scale"), started from the project's files and broken on
purpose: PostgreSQL + Redis under two Prefect API servers and their services, two workers, two
ingresses, a three-node OpenBao Raft cluster, HAProxy in front. The same code is
``python -m bench --topology ha`` at full size (1,000 credentials, 100 events/s); here the sizes
are small and each fault's checks must hold.

Needs Debian's postgresql, redis-server and haproxy (``.ci/run`` installs them).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from bench.topology import Topology, TopologyShape, start_topology
from bench.topology._faults import (
    api_server_kill,
    fleet_refresh_with_leader_kill,
    ingress_kill_under_load,
    redis_and_postgres_restart,
    worker_kill_mid_run,
)
from sandbox.servers import postgres_bin_dir
from scripts.hygiene import SECRET_PATTERN

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    missing = [
        name
        for name, found in (
            ("postgresql", postgres_bin_dir()),
            ("redis-server", shutil.which("redis-server")),
            ("haproxy", shutil.which("haproxy") or Path("/usr/sbin/haproxy").exists() or None),
        )
        if not found
    ]
    if missing:
        pytest.skip(f"needs Debian's {', '.join(missing)} (.ci/run installs them)")
    workdir = Path(tempfile.mkdtemp(prefix="switchboard-ha-"))  # /tmp: postgres may enter
    try:
        with start_topology(workdir, TopologyShape(durable=False)) as running:
            yield running
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def held(figures: dict[str, Any], topology: Topology) -> None:
    assert not figures["failed"], f"{figures}\n{topology.log_tails()}"


def _up(topology: Topology) -> set[tuple[str, str]]:
    """(backend, server) pairs HAProxy's health checks count as up."""
    stats = httpx2.get(f"{topology.balancer.url}/stats;csv", timeout=10).text
    rows = [row.split(",") for row in stats.splitlines()]
    return {
        (row[0], row[1])
        for row in rows
        if row[17:18] == ["UP"] and row[1] not in ("FRONTEND", "BACKEND")
    }


def test_every_replica_is_behind_its_balancer(topology: Topology) -> None:
    wanted = {
        ("prefect_servers", "prefect1"),
        ("prefect_servers", "prefect2"),
        ("ingress_servers", "ingress1"),
        ("ingress_servers", "ingress2"),
    }
    deadline = time.monotonic() + 30  # a server joins after two passed checks
    while not wanted <= (up := _up(topology)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert wanted <= up, up
    assert sum(1 for backend, _ in up if backend == "openbao_servers") == 1  # the active node
    assert httpx2.get(f"{topology.api_url}/health", timeout=10).json() is True


def test_killing_one_ingress_loses_and_repeats_nothing(topology: Topology) -> None:
    held(ingress_kill_under_load(topology, rate=20, seconds=12), topology)


def test_killing_the_openbao_leader_mid_refresh_spends_nothing_twice(topology: Topology) -> None:
    figures = fleet_refresh_with_leader_kill(topology, credentials=40)
    held(figures, topology)
    assert figures["new_leader"] != figures["killed"]


def test_the_other_api_server_carries_runs_schedules_and_the_ingress(topology: Topology) -> None:
    figures = api_server_kill(topology, rate=10, seconds=10)
    held(figures, topology)
    assert figures["api_created_run"] in ("COMPLETED", "CANCELLED")


def test_a_worker_lost_mid_run_is_crashed_and_its_work_finished(topology: Topology) -> None:
    held(worker_kill_mid_run(topology, credentials=12), topology)


def test_redis_and_postgres_restarts_need_no_one(topology: Topology) -> None:
    figures = redis_and_postgres_restart(topology, rate=10, seconds=12)
    held(figures, topology)
    assert figures["run_after"] in ("COMPLETED", "CANCELLED")


def test_no_secret_reached_prefect_or_a_log(topology: Topology) -> None:
    """Logs of every process and Prefect's database hold no token, secret id or key."""
    findings = []
    for log in topology.workdir.glob("*.log"):
        findings += [
            f"{log.name}: {m.group()[:8]}" for m in SECRET_PATTERN.finditer(log.read_bytes())
        ]
    assert not findings, findings
