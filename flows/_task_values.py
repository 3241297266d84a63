"""Hand values to tasks, and take their results, without Prefect's costs for an async flow."""

from __future__ import annotations

import asyncio
from typing import TypeVar, cast

from prefect.futures import PrefectFuture
from prefect.utilities.annotations import opaque

__all__ = ["as_is", "result_of"]

_T = TypeVar("_T")


def as_is(value: _T) -> _T:
    """``value`` for a task argument, without Prefect walking every element for futures.

    That walk (``visit_collection``, at submission and again when the task starts) costs time
    per element, and into every field of a model: a large share of a run's CPU for batches of
    hundreds of events or outcomes (BENCHMARKS.md). Only for plain values, never futures.
    Typed as the value: Prefect unwraps it before the task sees it.
    """
    return cast(_T, opaque(value))


async def result_of(future: PrefectFuture[_T]) -> _T:
    """A submitted task's result (raising its failure), waited for in a thread: the token flows
    are async so that a run ends without joining the heartbeat thread, and their event loop
    never blocks while the sync tasks run on the task runner's threads."""
    return await asyncio.to_thread(future.result)
