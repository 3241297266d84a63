"""Hand batch-sized arguments to tasks as they are, without Prefect walking them."""

from __future__ import annotations

from typing import TypeVar, cast

from prefect.utilities.annotations import opaque

__all__ = ["as_is"]

_T = TypeVar("_T")


def as_is(value: _T) -> _T:
    """``value`` for a task argument, without Prefect walking every element for futures.

    That walk (``visit_collection``, at submission and again when the task starts) costs time
    per element, and into every field of a model: a large share of a run's CPU for batches of
    hundreds of events or outcomes (BENCHMARKS.md). Only for plain values, never futures.
    Typed as the value: Prefect unwraps it before the task sees it.
    """
    return cast(_T, opaque(value))
