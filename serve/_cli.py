"""The ``switchboard`` console script: the core's CLI plus ``ingest``, which needs Prefect."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from serve._ingest import INGEST_HELP, ingest
from switchboard import cli

__all__ = ["main"]

INGEST = cli.Subcommand(INGEST_HELP, ingest)


def main(argv: Sequence[str] | None = None, *, stdin: TextIO | None = None) -> int:
    """``switchboard``: the commands of ``switchboard.cli`` and ``ingest``; the exit code."""
    return cli.main(argv, stdin=stdin, subcommands={"ingest": INGEST, **cli.SUBCOMMANDS})
