"""A refresh in its own process, for the crash and concurrency tests (not collected by pytest).

``python tests/refresh_worker.py NAME [--threads N] [--force] [--die-before-vault-write]
[--clock-offset SECONDS]`` prints one JSON outcome per line. ``--die-before-vault-write`` is
fault injection: the process SIGKILLs itself after the token endpoint answered and the journal
was written, at the moment it would write the new pair to Vault. ``--clock-offset`` runs the
refresher on a wall clock that far ahead (a host whose clock is wrong).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from switchboard._models import RefreshRecord, utcnow
from switchboard._settings import TokenSettings, VaultSettings, load
from switchboard.refresh import Refresher
from switchboard.vault import CredentialStore


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--die-before-vault-write", action="store_true")
    parser.add_argument("--clock-offset", type=float, default=0.0)
    args = parser.parse_args()
    store = CredentialStore.from_settings(load(VaultSettings))
    if args.die_before_vault_write:
        write_refresh = store.write_refresh

        def die_at_the_pair(name: str, record: RefreshRecord, *, cas: int) -> int:
            if record.intent is None and record.obtained_at is not None:  # the new pair
                os.kill(os.getpid(), signal.SIGKILL)
            return write_refresh(name, record, cas=cas)

        store.write_refresh = die_at_the_pair  # type: ignore[method-assign]
    offset = timedelta(seconds=args.clock_offset)
    refresher = Refresher(store, load(TokenSettings), clock=lambda: utcnow() + offset)
    with ThreadPoolExecutor(args.threads) as pool:
        for outcome in pool.map(
            lambda _: refresher.refresh(args.name, force=args.force), range(args.threads)
        ):
            print(outcome.model_dump_json(), flush=True)


if __name__ == "__main__":
    main()
