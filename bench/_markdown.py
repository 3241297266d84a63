"""Markdown cells, rows and table headers shared by the run summaries."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["fmt", "header", "joined", "row"]


def fmt(value: Any, digits: int = 2) -> str:
    """A number with ``digits`` decimals; ``-`` for a value not measured."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def joined(values: list[float], digits: int = 2) -> str:
    return ", ".join(fmt(v, digits) for v in values)


def row(*cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def header(*names: str) -> list[str]:
    return [row(*names), "|" + "---|" * len(names)]
