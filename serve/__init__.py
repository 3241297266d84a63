"""The Prefect side's processes: the ``switchboard`` command and the ingress's flow runs.

``switchboard.ingress`` (the core) is the ASGI app and the batcher, which take any batch handler;
here they get the Prefect one: each batch is one ``route_conversations`` flow run, made and run
in the ingress process with prompt retries of busy answers (``flow_run_creator``). ``main`` is the
installed ``switchboard`` command (``python -m serve``): the core's CLI (``switchboard.cli``)
with ``ingest`` added.
"""

from __future__ import annotations

from serve._cli import main
from serve._flow_runs import (
    INGRESS_TAGS,
    RETRY_DELAYS,
    create_flow_run,
    flow_run_creator,
    in_process,
    retry_soon_when_busy,
    run_in_new_flow_run,
    serialize_parameters,
)
from serve._ingest import add_ingest_arguments, flow_handler, ingest, prefect_clients, run_ingest

__all__ = [
    "INGRESS_TAGS",
    "RETRY_DELAYS",
    "add_ingest_arguments",
    "create_flow_run",
    "flow_handler",
    "flow_run_creator",
    "in_process",
    "ingest",
    "main",
    "prefect_clients",
    "retry_soon_when_busy",
    "run_in_new_flow_run",
    "run_ingest",
    "serialize_parameters",
]
