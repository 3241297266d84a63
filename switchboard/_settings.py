"""Process settings from the environment and ``.env``.

Vault's own variables (``VAULT_ADDR``, ``VAULT_TOKEN``, ``VAULT_NAMESPACE``, ``VAULT_CACERT``,
``VAULT_SKIP_VERIFY``) are honoured as the Vault CLI reads them; everything else is
``SWITCHBOARD_*``. ``load()`` turns a validation failure into one
``ConfigurationError`` line that names the variable and says how to fix it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard._exceptions import ConfigurationError

__all__ = [
    "DEFAULT_APPROLE_MOUNT",
    "DEFAULT_BASE_PATH",
    "DEFAULT_MOUNT",
    "MAX_INLINE_WAIT_SECONDS",
    "TokenSettings",
    "VaultSettings",
    "load",
]

DEFAULT_MOUNT = "secret"
DEFAULT_BASE_PATH = "switchboard"
DEFAULT_APPROLE_MOUNT = "approle"

_S = TypeVar("_S", bound=BaseSettings)
MAX_INLINE_WAIT_SECONDS = 30.0
"""A Retry-After longer than this ends a refresh attempt; the next run waits it out instead."""


class VaultSettings(BaseSettings):
    """How to reach and authenticate to Vault (or OpenBao)."""

    model_config = SettingsConfigDict(
        env_prefix="SWITCHBOARD_VAULT_", env_file=".env", extra="ignore", populate_by_name=True
    )

    addr: str = Field(
        validation_alias=AliasChoices("VAULT_ADDR", "SWITCHBOARD_VAULT_ADDR"),
        description="Vault address, e.g. https://vault.example.com:8200.",
    )
    token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("VAULT_TOKEN", "SWITCHBOARD_VAULT_TOKEN"),
        description="Vault token; leave unset to log in with AppRole.",
    )
    namespace: str | None = Field(
        default=None,
        validation_alias=AliasChoices("VAULT_NAMESPACE", "SWITCHBOARD_VAULT_NAMESPACE"),
        description="Vault Enterprise / OpenBao namespace.",
    )
    role_id: SecretStr | None = Field(
        default=None, description="AppRole role id (with the secret id, a login: kept hidden)."
    )
    secret_id: SecretStr | None = Field(default=None, description="AppRole secret id.")
    approle_mount: str = Field(
        default=DEFAULT_APPROLE_MOUNT, description="Mount point of the AppRole auth method."
    )
    ca_cert: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("VAULT_CACERT", "SWITCHBOARD_VAULT_CA_CERT"),
        description="CA bundle used to verify Vault's TLS certificate.",
    )
    skip_verify: bool = Field(
        default=False,
        validation_alias=AliasChoices("VAULT_SKIP_VERIFY", "SWITCHBOARD_VAULT_SKIP_VERIFY"),
        description="Disable TLS verification (never in production).",
    )
    mount: str = Field(default=DEFAULT_MOUNT, description="KV v2 mount point.")
    base_path: str = Field(default=DEFAULT_BASE_PATH, description="Base path under the mount.")
    timeout: float = Field(default=10.0, gt=0, description="Seconds per Vault request.")

    @model_validator(mode="after")
    def _needs_an_identity(self) -> VaultSettings:
        if self.token is None and not (self.role_id and self.secret_id):
            raise ValueError(
                "set VAULT_TOKEN, or SWITCHBOARD_VAULT_ROLE_ID and SWITCHBOARD_VAULT_SECRET_ID "
                "for AppRole"
            )
        if not self.addr.startswith(("http://", "https://")):
            raise ValueError("VAULT_ADDR must start with http:// or https://")
        return self

    @property
    def auth_method(self) -> Literal["token", "approle"]:
        return "approle" if self.token is None else "token"


class TokenSettings(BaseSettings):
    """How the token flows pace, bound and protect refreshes."""

    model_config = SettingsConfigDict(
        env_prefix="SWITCHBOARD_TOKEN_", env_file=".env", extra="ignore"
    )

    refresh_at_fraction: float = Field(
        default=2 / 3,
        gt=0,
        lt=1,
        description="Refresh once this fraction of the lifetime has passed.",
    )
    refresh_jitter_fraction: float = Field(
        default=0.15,
        ge=0,
        lt=0.5,
        description="Random share of the lifetime added to spread a fleet.",
    )
    keep_alive_seconds: int = Field(
        default=86_400,
        gt=0,
        description="Refresh idle refresh-token credentials at least this often.",
    )
    claim_stale_seconds: float = Field(
        default=600.0,
        gt=0,
        description="A claim on a refresh token older than this (by the reader's clock) is "
        "stale: taken over when nothing was in flight, else the credential is `in_doubt`. "
        "Longer than a live claim can go without a write, plus the clock skew between hosts.",
    )
    rejected_refresh_interval_seconds: float = Field(
        default=60.0,
        ge=0,
        description="A token an upstream rejected is refreshed again at most this often per "
        "credential, and not at all while younger than this.",
    )
    max_concurrency: int = Field(
        default=8, gt=0, description="Credentials refreshed at once per run."
    )
    http_timeout: float = Field(
        default=10.0, gt=0, description="Seconds per token endpoint request."
    )
    max_attempts: int = Field(
        default=4, gt=0, description="Attempts per refresh on transient errors."
    )
    per_credential_tasks_up_to: int = Field(
        default=100,
        ge=0,
        description="Up to this many due credentials a run makes one task each; above it, "
        "max_concurrency batch tasks (Prefect's per-task cost dominates a large fleet).",
    )
    refresh_warning_seconds: float = Field(
        default=604_800.0,
        gt=0,
        description="The expiry radar names a credential `refresh_expiring` (and alerts once) "
        "this long before its refresh token dies for good; a definition's "
        "`refresh_warning_seconds` overrides it.",
    )
    alert_window_seconds: float = Field(
        default=900.0,
        gt=0,
        description="A failing credential alerts (`switchboard.token.refresh-failed`) at most "
        "once per cause per this window, however often it fails.",
    )
    vault_retry_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How long a new token pair's Vault write is retried while Vault is down.",
    )
    journal_dir: Path = Field(
        default_factory=lambda: _state_home() / "switchboard" / "journal",
        description="Where a new token pair is written (mode 0600) before Vault has it; "
        "keep it on persistent disk. Default: $XDG_STATE_HOME/switchboard/journal.",
    )

    @model_validator(mode="after")
    def _budgets_fit_the_claim(self) -> TokenSettings:
        # a live owner writes its claim before each request and after the last one; between
        # two writes it spends at most its requests, their waits and the Vault write retries
        busiest = self.max_attempts * (self.http_timeout + MAX_INLINE_WAIT_SECONDS)
        if self.claim_stale_seconds <= busiest + self.vault_retry_seconds:
            raise ValueError(
                "SWITCHBOARD_TOKEN_CLAIM_STALE_SECONDS must exceed MAX_ATTEMPTS x "
                f"(HTTP_TIMEOUT + {MAX_INLINE_WAIT_SECONDS:g}) + VAULT_RETRY_SECONDS "
                f"(= {busiest + self.vault_retry_seconds:g} s): raise it or lower those"
            )
        return self


def _state_home() -> Path:
    """``$XDG_STATE_HOME`` if absolute (the XDG rule), else ``~/.local/state``: never relative
    to wherever a process happens to start."""
    configured = Path(os.environ.get("XDG_STATE_HOME") or "relative")
    return configured if configured.is_absolute() else Path.home() / ".local" / "state"


def load(settings_cls: type[_S]) -> _S:
    """Build ``settings_cls`` from the environment, or raise one readable ``ConfigurationError``."""
    try:
        return settings_cls()
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        loc = ".".join(str(part) for part in first["loc"])
        if not loc:  # a cross-field rule: its message names the variables
            raise ConfigurationError(f"configuration error: {message}") from None
        prefix = str(settings_cls.model_config.get("env_prefix", ""))
        variable = loc if loc.isupper() else f"{prefix}{loc}".upper()
        raise ConfigurationError(f"{variable}: {message}") from None
