"""LivePerson account settings (``SWITCHBOARD_LP_*``) and the per-skill message rules.

Per-skill rules come as JSON, e.g.
``SWITCHBOARD_LP_SKILL_RULES='{"12": {"threshold_minutes": 3, "busy_message": "..."}}'``;
a skill without an entry uses the defaults.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_BUSY_MESSAGE",
    "DEFAULT_MESSAGING_PATH",
    "DEFAULT_NO_AGENT_MESSAGE",
    "AvailabilitySourceName",
    "LivePersonSettings",
    "SkillRule",
]

DEFAULT_NO_AGENT_MESSAGE = "We will get back to you as soon as possible"
DEFAULT_BUSY_MESSAGE = "We are currently busy. We'll get back to you in {minutes} min"
# Assumption: LivePerson's public docs name the Messaging REST API base
# (``https://{messagingRestApiDomain}/messaging``) but not the exact path of "post a message into a
# conversation"; this is the shape the sandbox implements. Override it per account when it differs.
DEFAULT_MESSAGING_PATH = (
    "/messaging/api/account/{account_id}/conversations/{conversation_id}/messages"
)


def _version_from_text(value: Any) -> Any:
    """``"1"`` from the environment is the number 1 (a ``Literal[1, 2]`` takes no strings)."""
    if isinstance(value, str) and value.strip() in ("1", "2"):
        return int(value)
    return value


AvailabilitySourceName = Literal["agent_view", "key_messaging_metrics"]
"""Which API tells routing whether a skill has an ONLINE agent."""

QueueHealthVersion = Annotated[Literal[1, 2], BeforeValidator(_version_from_text)]


class SkillRule(BaseModel):
    """When a skill's customers get a wait message, and its wording."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold_minutes: int = Field(
        default=5,
        gt=0,
        description="Send the busy message when the p90 wait is at least this many minutes.",
    )
    no_agent_message: str = Field(
        default=DEFAULT_NO_AGENT_MESSAGE,
        min_length=1,
        description="Message when no agent is ONLINE.",
    )
    busy_message: str = Field(
        default=DEFAULT_BUSY_MESSAGE,
        min_length=1,
        description="Message when the queue is long; `{minutes}` becomes the wait in minutes.",
    )

    @field_validator("busy_message")
    @classmethod
    def _formats(cls, value: str) -> str:
        try:
            value.format(minutes=1)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"only the placeholder {{minutes}} is allowed ({exc!r})") from None
        return value


class LivePersonSettings(BaseSettings):
    """Which LivePerson account to serve, how to authenticate and how hard to push it."""

    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_LP_", env_file=".env", extra="ignore")

    account_id: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:~-]+$",
        description="LivePerson account (site) id, also the Brand-ID.",
    )
    csds_host: str = Field(
        default="api.liveperson.net",
        min_length=1,
        description="CSDS host[:port] that resolves service domains.",
    )
    scheme: Literal["https", "http"] = Field(
        default="https",
        description="URL scheme for every LivePerson call (http only for the sandbox).",
    )
    availability_source: AvailabilitySourceName = Field(
        default="agent_view",
        description=(
            "Where ONLINE agents are read: agent_view (Agent Metrics, domain msgHist) or "
            "key_messaging_metrics (Key Messaging Metrics' agent view, domain "
            "agentManagerWorkspace, its documented successor)."
        ),
    )
    queue_health_version: QueueHealthVersion = Field(
        default=2,
        description="Queue health API version: 2 uses the OAuth 2 bearer, 1 the OAuth 1 API keys.",
    )
    bearer_credential: str = Field(
        default="liveperson",
        min_length=1,
        description="Vault credential name whose OAuth 2 token authorises LivePerson calls.",
    )
    oauth1_keys: str | None = Field(
        default=None,
        description="Vault name of the OAuth 1 API keys (queue health v1, or no bearer).",
    )
    default_rule: SkillRule = Field(
        default_factory=SkillRule, description="Rule for skills without their own."
    )
    skill_rules: dict[str, SkillRule] = Field(
        default_factory=dict, description="Rules per skill id."
    )
    messaging_path: str = Field(
        default=DEFAULT_MESSAGING_PATH,
        description="Path of the send-message endpoint on the messagingRestApiDomain host.",
    )
    client_source: str = Field(
        default="switchboard", min_length=1, description="The Client-source header."
    )
    timeout_seconds: float = Field(default=5.0, gt=0, description="Seconds per LivePerson request.")
    send_concurrency: int = Field(
        default=32, gt=0, description="Messages in flight at once per batch."
    )
    max_attempts: int = Field(
        default=3, gt=0, description="Attempts per LivePerson call on 429, 5xx and network errors."
    )
    csds_ttl_seconds: float = Field(
        default=600.0, ge=0, description="How long resolved domains are cached."
    )
    queue_health_window_seconds: int = Field(
        default=300, gt=0, description="v2 fromMillis..toMillis window ending now."
    )
    queue_health_cache_seconds: float = Field(
        default=0.0,
        ge=0,
        description=(
            "How long each skill's queue health is reused across batches (0: asked every batch); "
            "a busy account sets a few seconds."
        ),
    )

    @field_validator("account_id")
    @classmethod
    def _one_segment(cls, value: str) -> str:
        if not value.strip("."):
            raise ValueError("an account id may not be made of dots only")
        return value

    @model_validator(mode="after")
    def _has_credentials(self) -> LivePersonSettings:
        if self.queue_health_version == 1 and not self.oauth1_keys:
            raise ValueError(
                "queue health v1 needs SWITCHBOARD_LP_OAUTH1_KEYS (the Vault name of the API keys)"
            )
        for key in ("{account_id}", "{conversation_id}"):
            if key not in self.messaging_path:
                raise ValueError(f"SWITCHBOARD_LP_MESSAGING_PATH must contain {key}")
        return self
