"""``python -m switchboard.ingress``: the same as ``switchboard ingest``."""

from __future__ import annotations

import sys

from switchboard.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
