"""One token-fleet run in its own process: ``python -m bench._token_run flow|core``.

``flow``: one ``refresh_due_tokens`` run (Prefect, task per credential), as a worker's flow-run
process would execute it (``flow --force``: every credential, due or not). ``core``: the same
``Refresher`` plan and refreshes on a thread pool of the same size, without Prefect. Prints one
JSON line: import and run seconds, outcomes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any

from bench._measure import RESULT_PREFIX


def _flow(*, force: bool) -> dict[str, Any]:
    started = time.perf_counter()
    from flows.refresh_due_tokens import refresh_due_tokens

    imported, cpu = time.perf_counter(), time.process_time()

    async def run() -> Any:  # an async flow
        return await refresh_due_tokens(force=force, return_state=True)

    state = asyncio.run(run())
    finished = time.perf_counter()
    cpu = time.process_time() - cpu
    outcomes = state.result(raise_on_failure=False)
    statuses = Counter(o.status for o in outcomes) if isinstance(outcomes, list) else {"error": 1}
    return {
        "import_seconds": imported - started,
        "seconds": finished - imported,
        "cpu_seconds_in_run": cpu,
        "state": state.type.value,
        "statuses": dict(statuses),
    }


def _core() -> dict[str, Any]:
    started = time.perf_counter()
    from switchboard import TokenSettings, VaultSettings, load
    from switchboard.refresh import Refresher
    from switchboard.vault import CredentialStore

    imported, cpu = time.perf_counter(), time.process_time()
    refresher = Refresher(CredentialStore.from_settings(load(VaultSettings)), load(TokenSettings))
    outcomes = refresher.refresh_due(refresher.discover())  # the flow's plan, pool and snapshots
    finished = time.perf_counter()
    return {
        "import_seconds": imported - started,
        "seconds": finished - imported,
        "cpu_seconds_in_run": time.process_time() - cpu,
        "state": "COMPLETED",
        "statuses": dict(Counter(o.status for o in outcomes)),
    }


def main() -> None:
    mode = sys.argv[1]
    result = _flow(force="--force" in sys.argv[2:]) if mode == "flow" else _core()
    print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
