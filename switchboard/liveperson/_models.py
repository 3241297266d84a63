"""What the LivePerson APIs answer, reduced to what routing needs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from switchboard._exceptions import UpstreamError

__all__ = ["AgentStatus", "AgentStatusPage", "Domains", "SentMessage", "SkillWait"]


class Domains(BaseModel):
    """Service name → host, as CSDS resolved them for the account."""

    model_config = ConfigDict(frozen=True)

    account_id: str
    hosts: dict[str, str]

    def host(self, service: str) -> str:
        """The service's host, or ``UpstreamError`` when CSDS did not list it."""
        try:
            return self.hosts[service]
        except KeyError:
            raise UpstreamError(
                f"csds: account {self.account_id} has no domain for service {service!r}",
                service="csds",
            ) from None


class AgentStatus(BaseModel):
    """One agent-view status record."""

    model_config = ConfigDict(frozen=True)

    agent_id: str
    current_status: str
    skill_ids: tuple[str, ...] = ()


class AgentStatusPage(BaseModel):
    """One page of agent-view status; ``count`` is the total the server reported."""

    model_config = ConfigDict(frozen=True)

    records: list[AgentStatus]
    count: int


class SkillWait(BaseModel):
    """A skill's waits in milliseconds; ``None`` where LivePerson had no data (-1 or missing)."""

    model_config = ConfigDict(frozen=True)

    skill_id: str
    p90_ms: int | None = Field(
        default=None, description="90th percentile wait for agent assignment."
    )
    p50_ms: int | None = Field(default=None, description="Median wait for agent assignment.")
    refused: str | None = Field(
        default=None, description="Why queue health refused this skill (a 4xx), if it did."
    )


class SentMessage(BaseModel):
    """The messaging API's answer; ``duplicate`` when the Request-ID had been seen before (a
    duplicate answer may leave the message id out)."""

    model_config = ConfigDict(frozen=True)

    message_id: str | None
    duplicate: bool = False
