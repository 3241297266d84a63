"""Ingress settings (``SWITCHBOARD_INGRESS_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["IngressSettings"]


class IngressSettings(BaseSettings):
    """How the ingress listens, groups events into flow runs, and protects itself."""

    model_config = SettingsConfigDict(
        env_prefix="SWITCHBOARD_INGRESS_", env_file=".env", extra="ignore"
    )

    host: str = Field(default="127.0.0.1", description="Interface to listen on.")
    port: int = Field(default=8787, gt=0, lt=65536, description="TCP port to listen on.")
    batch_window_ms: float = Field(
        default=100.0, ge=0, description="How long the first event of a batch waits for company."
    )
    max_batch_size: int = Field(default=500, gt=0, description="Events per flow run at most.")
    max_in_flight: int = Field(
        default=1,
        gt=0,
        description=(
            "Flow runs executing at once; while all are busy, the next batch grows. Size it at "
            "about one per core of the Prefect API server: more only makes smaller batches that "
            "slow each other down (on 2 cores, 1 beat 4 for both p95 latency and throughput)."
        ),
    )
    max_queued_events: int = Field(
        default=20_000, gt=0, description="Events waiting for a flow run before requests get 503."
    )
    max_events_per_request: int = Field(default=1000, gt=0, description="Events in one request.")
    max_body_bytes: int = Field(
        default=4_000_000, gt=0, description="Largest request body accepted."
    )
    account_block: str | None = Field(
        default=None, description="LivePersonAccount block name; default: SWITCHBOARD_LP_*."
    )
    vault_block: str | None = Field(
        default=None, description="VaultConnection block name; default: VAULT_* settings."
    )
