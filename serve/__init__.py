"""The Prefect side's processes: the ``switchboard`` command and the ingress's flow runs.

``switchboard.ingress`` (the core) is the ASGI app and the batcher, which take any batch handler;
here they get the Prefect one: each batch is one ``route_conversations`` flow run, created with
prompt retries (``create_flow_run``) and executed in the ingress process. ``main`` is the
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
    run_in_new_flow_run,
)
from serve._ingest import add_ingest_arguments, flow_handler, ingest, prefect_clients, run_ingest

__all__ = [
    "INGRESS_TAGS",
    "RETRY_DELAYS",
    "add_ingest_arguments",
    "create_flow_run",
    "flow_handler",
    "flow_run_creator",
    "ingest",
    "main",
    "prefect_clients",
    "run_in_new_flow_run",
    "run_ingest",
]
