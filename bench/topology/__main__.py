"""``python -m bench.topology [WORKDIR]`` (``make cluster``): start the HA topology, print where
everything is, and keep it running until Ctrl-C, which stops every process."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import tempfile
from pathlib import Path

from bench.topology import start_topology


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.topology", description=__doc__)
    parser.add_argument("workdir", nargs="?", type=Path, help="where data and logs go")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="switchboard-cluster-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop cleanly on TERM as on Ctrl-C
    with start_topology(workdir) as topology:
        print(
            f"Prefect API and UI  {topology.api_url.removesuffix('/api')}  (HAProxy -> "
            f"{', '.join(s.url for s in topology.api_servers)})\n"
            f"ingress             {topology.ingress_url}/events  (HAProxy -> "
            f"{', '.join(i.url for i in topology.ingresses)})\n"
            f"OpenBao             {topology.vault_url}  (HAProxy -> the active node of "
            f"{', '.join(n.url for n in topology.openbao.nodes)})\n"
            f"HAProxy stats       {topology.balancer.url}/stats\n"
            f"root token and unseal key: {topology.openbao.secrets_file} (mode 0600)\n"
            f"logs: {workdir}/*.log; Ctrl-C stops everything",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
