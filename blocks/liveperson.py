"""The ``LivePersonAccount`` block: one LivePerson account's routing-notification setup."""

from __future__ import annotations

from typing import Literal

from prefect.blocks.core import Block
from pydantic import HttpUrl

from blocks._fields import like, settings_from
from switchboard import load
from switchboard.liveperson import AvailabilitySourceName, LivePersonSettings, SkillRule

__all__ = ["LivePersonAccount", "account_settings"]

_S = LivePersonSettings


class LivePersonAccount(Block):
    """A LivePerson account: where its APIs are, which Vault credentials authorise them, and
    when and how waiting customers are told about the queue. Secrets stay in Vault: the block
    names them only. The fields are ``LivePersonSettings``'s, with the same names.

    Example:
        ```python
        from blocks.liveperson import LivePersonAccount

        account = LivePersonAccount.load("BLOCK_NAME")
        settings = account.to_settings()
        ```
    """

    _block_type_name = "LivePerson Account"
    _block_type_slug = "liveperson-account"
    _logo_url = HttpUrl(
        "https://github.com/LivePersonInc.png"
    )  # the vendor's GitHub avatar (square)
    _documentation_url = HttpUrl("https://developers.liveperson.com/")

    account_id: str = like(_S, "account_id", title="Account ID")
    csds_host: str = like(_S, "csds_host", title="CSDS host")
    scheme: Literal["https", "http"] = like(_S, "scheme", title="URL scheme")
    availability_source: AvailabilitySourceName = like(
        _S, "availability_source", title="Availability source"
    )
    queue_health_version: Literal[1, 2] = like(
        _S, "queue_health_version", title="Queue health API version"
    )
    bearer_credential: str = like(_S, "bearer_credential", title="Bearer credential (Vault name)")
    oauth1_keys: str | None = like(_S, "oauth1_keys", title="OAuth 1 keys (Vault name)")
    default_rule: SkillRule = like(_S, "default_rule", title="Default rule")
    skill_rules: dict[str, SkillRule] = like(_S, "skill_rules", title="Rules per skill")
    messaging_path: str = like(_S, "messaging_path", title="Send-message path")
    client_source: str = like(_S, "client_source", title="Client-source header")
    timeout_seconds: float = like(_S, "timeout_seconds", title="Request timeout (seconds)")
    send_concurrency: int = like(_S, "send_concurrency", title="Messages in flight per batch")
    max_attempts: int = like(_S, "max_attempts", title="Attempts per call")
    csds_ttl_seconds: float = like(_S, "csds_ttl_seconds", title="Domain cache (seconds)")
    queue_health_window_seconds: int = like(
        _S, "queue_health_window_seconds", title="Queue health window (seconds)"
    )
    queue_health_cache_seconds: float = like(
        _S, "queue_health_cache_seconds", title="Queue health cache (seconds)"
    )

    def to_settings(self) -> LivePersonSettings:
        """The validated settings (a wrong value fails here, naming the field)."""
        return settings_from(self, LivePersonSettings)


def account_settings(block: LivePersonAccount | None) -> LivePersonSettings:
    """The block's settings, or ``SWITCHBOARD_LP_*`` from the environment when there is none."""
    return block.to_settings() if block is not None else load(LivePersonSettings)
