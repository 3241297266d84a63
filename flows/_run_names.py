"""Flow run names that say what a run does, for the Prefect UI's run lists.

Prefect names a run from ``flow_run_name`` when the engine starts it (a template over the
parameters, or a callable reading ``prefect.runtime``); a count known only mid-run (how many
credentials are due) is written over it once known (``rename_flow_run``).
"""

from __future__ import annotations

from prefect.client.orchestration import PrefectClient
from prefect.context import FlowRunContext
from prefect.runtime import flow_run

__all__ = ["plural", "refresh_run_name", "rename_flow_run", "route_name", "route_run_name"]


def plural(count: int, noun: str) -> str:
    """``1 conversation``, ``6 conversations``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def route_name(events: int) -> str:
    """``route 6 conversations``: one routing event per conversation."""
    return f"route {plural(events, 'conversation')}"


def route_run_name() -> str:
    """A routing run's name, from its ``events`` parameter (``route_name``)."""
    return route_name(len(flow_run.parameters.get("events") or ()))


def refresh_run_name() -> str:
    """The name until the plan is known: which credentials the run looks at."""
    names = flow_run.parameters.get("credentials")
    return f"refresh {plural(len(names), 'named credential') if names else 'due credentials'}"


async def rename_flow_run(name: str) -> None:
    """Rename the current run of an async flow (``PATCH /flow_runs/{id}``); outside a run,
    nothing.

    For names the parameters cannot give: "refresh 3 due of 120" is known after planning.
    """
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    client = context.client
    if isinstance(client, PrefectClient):  # an async flow's engine holds an async client
        await client.set_flow_run_name(context.flow_run.id, name)
        context.flow_run.name = name
