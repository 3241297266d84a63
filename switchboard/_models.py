"""The shapes Switchboard keeps in Vault, and what a refresh reports.

Every secret is a ``SecretStr``: a repr, a log line or an exception can never show one.
``from_vault``/``to_vault`` are the only places that know the Vault field names
(the public contract in ``docs/architecture.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from switchboard._exceptions import ConfigurationError
from switchboard._urls import check_token_url

__all__ = [
    "AuthMethod",
    "ClientDefinition",
    "CredentialHealth",
    "GrantType",
    "HealthState",
    "Intent",
    "IntentPhase",
    "OAuth1Keys",
    "RefreshOutcome",
    "RefreshRecord",
    "RefreshStatus",
    "StoredToken",
    "format_time",
    "parse_time",
    "utcnow",
]

GrantType = Literal["client_credentials", "refresh_token"]
AuthMethod = Literal["client_secret_basic", "client_secret_post"]
HealthState = Literal["healthy", "expiring", "failing", "revoked", "misconfigured", "in_doubt"]
RefreshStatus = Literal["refreshed", "skipped", "adopted", "busy", "failed"]
IntentPhase = Literal["claimed", "spending"]

DEFAULT_LIFETIME_SECONDS = 3600

_FIXES: dict[str, str] = {
    "token_url": "set it to the https:// URL of the token endpoint",
    "client_id": "set the OAuth client id",
    "client_secrets": "set `client_secret` (a string) or `client_secrets` (a non-empty list)",
    "grant": "use `client_credentials` or `refresh_token`",
    "auth_method": "use `client_secret_basic` or `client_secret_post`",
    "default_lifetime_seconds": "use a whole number of seconds greater than 0",
    "refresh_at_fraction": "use a number between 0 and 1, e.g. 0.66",
    "refresh_jitter_fraction": "use a number from 0 to 0.5, e.g. 0.15",
    "keep_alive_seconds": "use a whole number of seconds greater than 0",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, the form every time in Vault takes."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _validation_error(kind: str, where: str, exc: ValidationError) -> ConfigurationError:
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    reason = str(first["msg"]).removeprefix("Value error, ")
    fix = _FIXES.get(field)
    return ConfigurationError(
        f"{kind} at {where}: field `{field}`: {reason}" + (f"; {fix}" if fix else "")
    )


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _VaultRecord(_Model):
    """A model Switchboard reads from Vault; a bad record names its kind, path and field."""

    _kind: ClassVar[str]

    @classmethod
    def from_vault(cls, data: Mapping[str, Any], *, path: str) -> Self:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise _validation_error(cls._kind, path, exc) from None

    def to_vault(self) -> dict[str, Any]:
        """The record as Vault keeps it: no ``None`` fields, secrets in clear, RFC 3339 times."""
        return {key: _stored(value) for key, value in self if value is not None}


def _stored(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, tuple):
        return [_stored(item) for item in value]
    if isinstance(value, _VaultRecord):
        return value.to_vault()
    return value


class ClientDefinition(_VaultRecord):
    """How to ask a token endpoint for a token (``<base>/credentials/<name>/client``)."""

    _kind = "client definition"

    token_url: str
    client_id: str = Field(min_length=1)
    client_secrets: tuple[SecretStr, ...] = Field(min_length=1)
    grant: GrantType = "client_credentials"
    scope: str | None = None
    audience: str | None = None
    auth_method: AuthMethod = "client_secret_basic"
    default_lifetime_seconds: int = Field(default=DEFAULT_LIFETIME_SECONDS, gt=0)
    refresh_at_fraction: float | None = Field(default=None, gt=0, lt=1)
    refresh_jitter_fraction: float | None = Field(default=None, ge=0, le=0.5)
    keep_alive_seconds: int | None = Field(default=None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _one_or_many_secrets(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "client_secret" in data:
            data = dict(data)
            single = data.pop("client_secret")
            if "client_secrets" in data:
                raise ValueError("set either `client_secret` or `client_secrets`, not both")
            data["client_secrets"] = [single]
        return data

    @field_validator("token_url")
    @classmethod
    def _url_is_safe(cls, url: str) -> str:
        return check_token_url(url)


class StoredToken(_VaultRecord):
    """What consumers read (``<base>/credentials/<name>/token``): never a refresh token."""

    _kind = "stored token"

    access_token: SecretStr
    token_type: str = "Bearer"
    expires_at: datetime
    obtained_at: datetime
    refresh_after: datetime
    scope: str | None = None

    def same_access_token(self, other: StoredToken | None) -> bool:
        return other is not None and (
            other.access_token.get_secret_value() == self.access_token.get_secret_value()
        )


class Intent(_VaultRecord):
    """A worker's claim on a credential's refresh token (part of ``RefreshRecord``).

    ``claimed``: the worker holds the refresh token but no request that spends it is in
    flight, so another worker may take the claim over (check-and-set fences the old owner).
    ``spending``: a token request may have reached the provider; nobody else spends the
    covered refresh token until the owner writes the outcome or an operator resolves it.
    """

    _kind = "refresh intent"

    owner: str
    phase: IntentPhase
    at: datetime  # the owner's clock when it wrote this phase: for display and staleness only
    over_version: int  # the refresh record's version the claim was written over
    seed_version: int | None = None  # set when the claim spends a seed, not the stored token


class RefreshRecord(_VaultRecord):
    """The refresh token and its claim (``<base>/credentials/<name>/refresh``): flows only."""

    _kind = "refresh record"

    refresh_token: SecretStr | None = None
    seed_version: int | None = None  # the seed this token family started from
    issuer: str | None = None  # origin of the token_url that issued it (scheme://host:port)
    obtained_at: datetime | None = None
    # when the provider said this refresh token expires (refresh_expires_in or
    # refresh_token_expires_in); None: it did not say
    refresh_expires_at: datetime | None = None
    intent: Intent | None = None


class CredentialHealth(_VaultRecord):
    """What operators and alerts read (``<base>/credentials/<name>/health``); holds no secret."""

    _kind = "health record"

    state: HealthState
    error_class: str | None = None
    message: str | None = None
    consecutive_failures: int = 0
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    expires_at: datetime | None = None
    next_attempt_at: datetime | None = None
    seed_version: int | None = None  # the seed version in use at the last attempt
    client_version: int | None = None  # the client definition's version at the last attempt


class OAuth1Keys(_VaultRecord):
    """OAuth 1.0a API keys (``<base>/oauth1/<name>``)."""

    _kind = "OAuth 1 keys"

    consumer_key: SecretStr
    consumer_secret: SecretStr
    token: SecretStr
    token_secret: SecretStr


class RefreshOutcome(_Model):
    """What one ``refresh_credential`` call did: names, states and error classes only."""

    name: str
    status: RefreshStatus
    state: HealthState | None = None
    expires_at: datetime | None = None
    error_class: str | None = None
    message: str | None = None
    attempts: int = 0
    recovered: bool = False
    replayed_journal: bool = False
