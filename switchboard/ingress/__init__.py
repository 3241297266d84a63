"""The HTTP ingress for routing events: validation, batching into flow runs, acknowledgement."""

from __future__ import annotations

from switchboard.ingress._app import BatchHandler, create_app
from switchboard.ingress._batcher import Batcher, Overloaded
from switchboard.ingress._serve import (
    add_ingest_arguments,
    flow_handler,
    prefect_clients,
    run_ingest,
)
from switchboard.ingress._settings import IngressSettings
from switchboard.ingress._signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    BadSignature,
    sign,
    signed_headers,
    verify,
)

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "BadSignature",
    "BatchHandler",
    "Batcher",
    "IngressSettings",
    "Overloaded",
    "add_ingest_arguments",
    "create_app",
    "flow_handler",
    "prefect_clients",
    "run_ingest",
    "sign",
    "signed_headers",
    "verify",
]
