"""What the bench measures with: percentiles, peak memory from /proc, Vault's audit log."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "PeakMemory",
    "VaultAudit",
    "cpu_seconds",
    "median",
    "percentile",
    "process_tree",
    "summarize",
]

_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), nearest-rank: a value that was actually observed."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Iterable[float]) -> float:
    found = [v for v in values if not math.isnan(v)]
    return statistics.median(found) if found else math.nan


def summarize(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max of a latency sample, in the sample's unit."""
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else math.nan,
    }


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text()
            found.extend(int(child) for child in text.split())
    except OSError:
        pass
    return found


def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo.extend(_children(current))
    return pids


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by ``pid`` and its live children."""
    total = 0
    for process in process_tree(pid):
        try:
            fields = Path(f"/proc/{process}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / _TICKS


def wait_until_idle(
    pid: int, *, busy_share: float = 0.1, window: float = 2.0, timeout: float = 180.0
) -> float:
    """Wait until ``pid`` uses under ``busy_share`` of a core over ``window`` s; seconds waited.

    The Prefect server stores a run's events and task-run states after the run ended; a part
    measured while it still works off the previous part's backlog would share the CPU with it.
    """
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = cpu_seconds(pid)
        time.sleep(window)
        if cpu_seconds(pid) - before < busy_share * window:
            break
    return time.monotonic() - started


class PeakMemory:
    """Peak resident memory of process trees, by role, sampled from /proc every ``interval`` s.

    A process's own peak is its ``VmHWM`` (exact, kept by the kernel); sampling adds the
    children, so a tree's peak is the largest sum of ``VmRSS`` seen plus the root's ``VmHWM``
    when that is larger.
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self._roots: dict[str, int] = {}
        self._peak_kib: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)

    def watch(self, role: str, pid: int) -> None:
        self._roots[role] = pid
        self._sample_one(role, pid)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, float]:
        """Stop sampling; peak MiB per role."""
        for role, pid in self._roots.items():
            self._sample_one(role, pid)
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        return {role: round(kib / 1024, 1) for role, kib in self._peak_kib.items()}

    def _sample_one(self, role: str, pid: int) -> None:
        tree_rss = sum(_status_kib(p, "VmRSS") for p in process_tree(pid))
        own_peak = _status_kib(pid, "VmHWM")
        self._peak_kib[role] = max(self._peak_kib.get(role, 0), tree_rss, own_peak)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for role, pid in list(self._roots.items()):
                self._sample_one(role, pid)


class VaultAudit:
    """Counts Vault requests in the audit log written since ``mark()``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def mark(self) -> None:
        self._offset = self.path.stat().st_size if self.path.exists() else 0

    def requests(self) -> list[dict[str, Any]]:
        """``{operation, path}`` of every request logged since ``mark()``."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as log:
            log.seek(self._offset)
            lines = log.read().splitlines()
        found = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line still being written
            if entry.get("type") == "request":
                request = entry.get("request", {})
                found.append({"operation": request.get("operation"), "path": request.get("path")})
        return found

    def count(self) -> dict[str, Any]:
        """Requests since ``mark()``: total, reads (read + list), by operation, by path kind."""
        requests = self.requests()
        by_operation = Counter(str(r["operation"]) for r in requests)
        by_kind = Counter(f"{r['operation']} {_path_kind(str(r['path']))}" for r in requests)
        return {
            "total": len(requests),
            "reads": by_operation["read"] + by_operation["list"],
            "writes": by_operation["create"] + by_operation["update"] + by_operation["delete"],
            "by_operation": dict(by_operation),
            "by_kind": dict(by_kind.most_common()),
        }


def _path_kind(path: str) -> str:
    """``secret/data/<base>/credentials/<name>/token`` → ``secret/data/…/token``."""
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[1] in ("data", "metadata"):
        return f"{parts[0]}/{parts[1]}/…/{parts[-1]}"
    return path


RESULT_PREFIX = "BENCH_RESULT "
"""A measuring child prints one line ``BENCH_RESULT <json>``; the rest of its output is log."""


def run_child(
    module: str,
    *args: str,
    env: dict[str, str],
    log_path: Path,
    what: str,
    on_start: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run ``python -m module args`` from the checkout (stderr to ``log_path``); its result.

    ``on_start`` gets the child's pid (to watch its memory); a failure raises with the log's tail.
    """
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            cwd=Path(__file__).resolve().parent.parent,
        )
        if on_start is not None:
            on_start(process.pid)
        out, _ = process.communicate(timeout=900)
    lines = [line for line in out.decode().splitlines() if line.startswith(RESULT_PREFIX)]
    if process.returncode != 0 or not lines:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"{what} failed (exit {process.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix(RESULT_PREFIX))
    return result
