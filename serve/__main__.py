"""``python -m serve``: the ``switchboard`` command (``python -m serve ingest``: the ingress)."""

from __future__ import annotations

import sys

from serve import main

if __name__ == "__main__":
    sys.exit(main())
