"""Where a ``route_conversations`` flow run spends its Prefect API time (diagnostic).

Runs the flow in a child process (``python -m bench._prefect_api``) on small batches, ``k`` at
a time, and times every Prefect API request by method and path, so the cost of the server (and
of its database) is measured apart from Switchboard's own work.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench._measure import RESULT_PREFIX, median, percentile, run_child
from bench._scenario import make_events

__all__ = ["run_prefect_api"]

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def _measure(runs: int, concurrency: int, batch: int) -> dict[str, Any]:
    from prefect.client.base import PrefectHttpxAsyncClient

    timings: list[tuple[str, float]] = []
    send = PrefectHttpxAsyncClient.send

    async def timed(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await send(self, request, *args, **kwargs)
        finally:
            path = _ID.sub("{id}", request.url.path)
            timings.append((f"{request.method} {path}", time.perf_counter() - started))

    PrefectHttpxAsyncClient.send = timed  # type: ignore[method-assign]
    from flows.route_conversations import route_conversations
    from switchboard.liveperson import parse_events

    await route_conversations(events=parse_events(make_events("api-warm", batch)))
    timings.clear()
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> float:
        async with gate:
            started = time.perf_counter()
            await route_conversations(events=parse_events(make_events(f"api{index}", batch)))
            return time.perf_counter() - started

    started = time.perf_counter()
    durations = await asyncio.gather(*(one(i) for i in range(runs)))
    total = time.perf_counter() - started
    by_call: dict[str, list[float]] = defaultdict(list)
    for call, seconds in timings:
        by_call[call].append(seconds)
    return {
        "runs": runs,
        "concurrency": concurrency,
        "events_per_run": batch,
        "seconds": total,
        "flow_runs_per_second": runs / total,
        "run_seconds": {
            "p50": median(durations),
            "p95": percentile(durations, 95),
            "max": max(durations),
        },
        "api_calls": {
            call: {
                "count": len(values),
                "per_run": len(values) / runs,
                "p50": median(values),
                "p95": percentile(values, 95),
                "max": max(values),
                "total": sum(values),
            }
            for call, values in sorted(by_call.items(), key=lambda kv: -sum(kv[1]))
        },
    }


def run_prefect_api(env: dict[str, str], workdir: Path, *, runs: int, concurrency: int) -> Any:
    """Run the measurement in a child process with ``env``; its JSON result."""
    return run_child(
        "bench._prefect_api",
        str(runs),
        str(concurrency),
        env=env,
        log_path=workdir / f"prefect-api-{concurrency}.log",
        what="prefect-api measurement",
    )


if __name__ == "__main__":
    count, parallel = int(sys.argv[1]), int(sys.argv[2])
    result = asyncio.run(_measure(count, parallel, batch=10))
    print(RESULT_PREFIX + json.dumps(result), flush=True)
