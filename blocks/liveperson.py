"""The ``LivePersonAccount`` block: one LivePerson account's routing-notification setup."""

from __future__ import annotations

from typing import Any, Literal

from prefect.blocks.core import Block
from pydantic import Field, HttpUrl

from switchboard import load
from switchboard.liveperson import LivePersonSettings, SkillRule

__all__ = ["LivePersonAccount"]


def _like(name: str) -> Any:
    """A block field with the same default and description as ``LivePersonSettings.<name>``."""
    source = LivePersonSettings.model_fields[name]
    if source.default_factory is not None:
        return Field(default_factory=source.default_factory, description=source.description)
    return Field(default=source.default, description=source.description)


class LivePersonAccount(Block):
    """A LivePerson account: where its APIs are, which Vault credentials authorise them, and
    when and how waiting customers are told about the queue. Secrets stay in Vault: the block
    names them only.

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

    account_id: str = Field(description="LivePerson account (site) id, also the Brand-ID.")
    csds_host: str = _like("csds_host")
    scheme: Literal["https", "http"] = _like("scheme")
    queue_health_version: Literal[1, 2] = _like("queue_health_version")
    bearer_credential: str = _like("bearer_credential")
    oauth1_keys: str | None = _like("oauth1_keys")
    default_rule: SkillRule = _like("default_rule")
    skill_rules: dict[str, SkillRule] = _like("skill_rules")
    messaging_path: str = _like("messaging_path")
    client_source: str = _like("client_source")
    timeout_seconds: float = _like("timeout_seconds")
    send_concurrency: int = _like("send_concurrency")
    max_attempts: int = _like("max_attempts")
    csds_ttl_seconds: float = _like("csds_ttl_seconds")
    queue_health_window_seconds: int = _like("queue_health_window_seconds")

    def to_settings(self) -> LivePersonSettings:
        """The validated settings (a wrong value fails here, naming the field)."""
        values = {name: getattr(self, name) for name in LivePersonSettings.model_fields}
        return LivePersonSettings.model_validate(values)


def account_settings(block: LivePersonAccount | None) -> LivePersonSettings:
    """The block's settings, or ``SWITCHBOARD_LP_*`` from the environment when there is none."""
    return block.to_settings() if block is not None else load(LivePersonSettings)
