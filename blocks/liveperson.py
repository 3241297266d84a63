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

    account_id: str = like(_S, "account_id")
    csds_host: str = like(_S, "csds_host")
    scheme: Literal["https", "http"] = like(_S, "scheme")
    availability_source: AvailabilitySourceName = like(_S, "availability_source")
    queue_health_version: Literal[1, 2] = like(_S, "queue_health_version")
    bearer_credential: str = like(_S, "bearer_credential")
    oauth1_keys: str | None = like(_S, "oauth1_keys")
    default_rule: SkillRule = like(_S, "default_rule")
    skill_rules: dict[str, SkillRule] = like(_S, "skill_rules")
    messaging_path: str = like(_S, "messaging_path")
    client_source: str = like(_S, "client_source")
    timeout_seconds: float = like(_S, "timeout_seconds")
    send_concurrency: int = like(_S, "send_concurrency")
    max_attempts: int = like(_S, "max_attempts")
    csds_ttl_seconds: float = like(_S, "csds_ttl_seconds")
    queue_health_window_seconds: int = like(_S, "queue_health_window_seconds")
    queue_health_cache_seconds: float = like(_S, "queue_health_cache_seconds")

    def to_settings(self) -> LivePersonSettings:
        """The validated settings (a wrong value fails here, naming the field)."""
        return settings_from(self, LivePersonSettings)


def account_settings(block: LivePersonAccount | None) -> LivePersonSettings:
    """The block's settings, or ``SWITCHBOARD_LP_*`` from the environment when there is none."""
    return block.to_settings() if block is not None else load(LivePersonSettings)
