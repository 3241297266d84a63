"""Ingress settings (``SWITCHBOARD_INGRESS_*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard.metrics import check_exposure, is_loopback

__all__ = ["IngressSettings"]


class IngressSettings(BaseSettings):
    """How the ingress listens, authenticates senders, groups events into flow runs, and
    protects itself."""

    model_config = SettingsConfigDict(
        env_prefix="SWITCHBOARD_INGRESS_", env_file=".env", extra="ignore"
    )

    host: str = Field(default="127.0.0.1", description="Interface to listen on.")
    port: int = Field(default=8787, gt=0, lt=65536, description="TCP port to listen on.")
    webhook_secret: SecretStr | None = Field(
        default=None,
        description=(
            "Shared secret senders sign each body with (HMAC-SHA256, X-Switchboard-Signature); "
            "required unless allow_unsigned."
        ),
    )
    allow_unsigned: bool = Field(
        default=False,
        description="Accept unsigned events (no webhook_secret); on a loopback host only.",
    )
    signature_max_age_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How far a signed X-Switchboard-Timestamp may be from now (replays).",
    )
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
            "slow each other down, in latency and in throughput (BENCHMARKS.md)."
        ),
    )
    max_queued_events: int = Field(
        default=20_000, gt=0, description="Events waiting for a flow run before requests get 503."
    )
    max_events_per_request: int = Field(default=1000, gt=0, description="Events in one request.")
    max_body_bytes: int = Field(
        default=4_000_000, gt=0, description="Largest request body accepted."
    )
    max_concurrent_requests: int = Field(
        default=1000,
        gt=0,
        description="Requests being read or waiting for their batch at once; more get 503.",
    )
    max_buffered_bytes: int = Field(
        default=32_000_000,
        gt=0,
        description="Bytes of request bodies held at once while read; more get 503.",
    )
    metrics: Literal["off", "on"] = Field(
        default="off",
        description=(
            "Serve GET /metrics (routing counters, no credential names) on the ingress's port."
        ),
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description=(
            "Bearer token GET /metrics requires; needed whenever metrics are on, loopback "
            "included (a reverse proxy on the same host would publish them)."
        ),
    )
    account_block: str | None = Field(
        default=None, description="LivePersonAccount block name; default: SWITCHBOARD_LP_*."
    )
    vault_block: str | None = Field(
        default=None, description="VaultConnection block name; default: VAULT_* settings."
    )

    @model_validator(mode="after")
    def _authenticated(self) -> IngressSettings:
        """Refuse to start open to anyone: a secret, or unsigned on loopback by explicit choice."""
        if self.webhook_secret is not None and not self.webhook_secret.get_secret_value():
            raise ValueError("SWITCHBOARD_INGRESS_WEBHOOK_SECRET: empty; set a long random value")
        if self.webhook_secret is None and not self.allow_unsigned:
            raise ValueError(
                "SWITCHBOARD_INGRESS_WEBHOOK_SECRET: not set; set the secret senders sign with, "
                "or SWITCHBOARD_INGRESS_ALLOW_UNSIGNED=true for a loopback-only demo"
            )
        if self.webhook_secret is None and not is_loopback(self.host):
            raise ValueError(
                f"SWITCHBOARD_INGRESS_ALLOW_UNSIGNED: only on a loopback host, not {self.host!r}; "
                "set SWITCHBOARD_INGRESS_WEBHOOK_SECRET"
            )
        if self.metrics_token is not None and not self.metrics_token.get_secret_value():
            raise ValueError("SWITCHBOARD_INGRESS_METRICS_TOKEN: empty; set a long random value")
        if self.metrics == "on":
            check_exposure(
                self.host,
                self.metrics_token,
                "SWITCHBOARD_INGRESS_METRICS_TOKEN",
                otherwise="or set SWITCHBOARD_INGRESS_METRICS=off",
            )
        if self.max_buffered_bytes < self.max_body_bytes:
            raise ValueError(
                "SWITCHBOARD_INGRESS_MAX_BUFFERED_BYTES: smaller than "
                "SWITCHBOARD_INGRESS_MAX_BODY_BYTES; one largest body must fit"
            )
        return self
