"""The HTTP ingress for routing events: validation, batching, acknowledgement (no Prefect here).

``create_app`` takes the batch handler; the Prefect side (``serve``) gives it one that runs each
batch as a ``route_conversations`` flow run, and serves it as ``switchboard ingest``.
"""

from __future__ import annotations

from switchboard.ingress._app import BatchHandler, create_app
from switchboard.ingress._batcher import Batcher, Overloaded
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
    "create_app",
    "sign",
    "signed_headers",
    "verify",
]
