"""A refresh in its own process, for the crash and concurrency tests (not collected by pytest).

``python tests/refresh_worker.py NAME [--threads N] [--force] [--die-before-vault-write]``
prints one JSON outcome per line. ``--die-before-vault-write`` is fault injection: the
process SIGKILLs itself after the token endpoint answered and the journal was written,
at the moment it would write the new pair to Vault.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from switchboard._settings import TokenSettings, VaultSettings, load
from switchboard.refresh import Refresher
from switchboard.vault import CredentialStore


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--die-before-vault-write", action="store_true")
    args = parser.parse_args()
    store = CredentialStore.from_settings(load(VaultSettings))
    if args.die_before_vault_write:

        def die(*_args: object, **_kwargs: object) -> int:
            os.kill(os.getpid(), signal.SIGKILL)
            raise AssertionError("unreachable")

        store.write_token = die  # type: ignore[method-assign]
    refresher = Refresher(store, load(TokenSettings))
    with ThreadPoolExecutor(args.threads) as pool:
        for outcome in pool.map(
            lambda _: refresher.refresh(args.name, force=args.force), range(args.threads)
        ):
            print(outcome.model_dump_json(), flush=True)


if __name__ == "__main__":
    main()
