"""``python -m switchboard.ingress``: the same as ``switchboard ingest``."""

from __future__ import annotations

import argparse
import sys

from switchboard._exceptions import ConfigurationError
from switchboard.ingress._serve import add_ingest_arguments, run_ingest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="switchboard ingest", description="Serve the routing-event ingress."
    )
    add_ingest_arguments(parser)
    try:
        run_ingest(parser.parse_args(argv))
    except ConfigurationError as exc:
        print(f"switchboard ingest: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
