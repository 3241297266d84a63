"""The shapes Switchboard keeps in Vault, and what a refresh reports.

Every secret is a ``SecretStr``: a repr, a log line or an exception can never show one.
``from_vault``/``to_vault`` are the only places that know the Vault field names
(the public contract in ``docs/architecture.md``).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from switchboard._exceptions import ConfigurationError
from switchboard._keys import check_certificates, check_key_pair, signing_alg_for
from switchboard._urls import check_token_url

__all__ = [
    "SECRET_METHODS",
    "Alert",
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
    "same_secret",
    "utcnow",
]

GrantType = Literal["client_credentials", "refresh_token", "jwt_bearer"]
AuthMethod = Literal[
    "client_secret_basic", "client_secret_post", "private_key_jwt", "tls_client_auth", "none"
]
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
"""The ``auth_method`` values that send a client secret, and may have several to rotate."""
HealthState = Literal[
    "healthy", "refresh_expiring", "expiring", "failing", "revoked", "misconfigured", "in_doubt"
]
RefreshStatus = Literal["refreshed", "skipped", "adopted", "busy", "failed"]
IntentPhase = Literal["claimed", "spending"]

DEFAULT_LIFETIME_SECONDS = 3600

_FIXES: dict[str, str] = {
    "token_url": "set it to the https:// URL of the token endpoint",
    "client_id": "set the OAuth client id",
    "client_secrets": "with `client_secret_basic` or `client_secret_post` set `client_secret` (a "
    "string) or `client_secrets` (a non-empty list); with a key or certificate remove both",
    "grant": "use `client_credentials`, `refresh_token` or `jwt_bearer`",
    "auth_method": "use `client_secret_basic`, `client_secret_post`, `private_key_jwt` or "
    "`tls_client_auth` (`none` with the `jwt_bearer` grant only)",
    "private_key": "set the client's PEM private key (RSA of 2048 bits or more, or EC)",
    "signing_alg": "leave it out (chosen from the key) or use one the key can make",
    "tls_client_cert": "set the client certificate as PEM (leaf first, then any intermediates)",
    "tls_client_key": "set the unencrypted PEM private key of `tls_client_cert`",
    "tls_ca_cert": "set the PEM certificate(s) of the CA that signed the token endpoint's",
    "default_lifetime_seconds": "use a whole number of seconds greater than 0",
    "refresh_at_fraction": "use a number between 0 and 1, e.g. 0.66",
    "refresh_jitter_fraction": "use a number from 0 to 0.5, e.g. 0.15",
    "keep_alive_seconds": "use a whole number of seconds greater than 0",
    "refresh_idle_limit_seconds": "use the provider's idle limit in whole seconds, e.g. 7776000",
    "refresh_warning_seconds": "use a whole number of seconds greater than 0, e.g. 604800",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def same_secret(one: SecretStr | None, other: SecretStr | None) -> bool:
    """Both set and equal, compared in constant time (a token's prefix never shows in timing)."""
    if one is None or other is None:
        return False
    # surrogatepass: JSON may carry a lone surrogate, which must compare, not raise
    return hmac.compare_digest(
        one.get_secret_value().encode("utf-8", "surrogatepass"),
        other.get_secret_value().encode("utf-8", "surrogatepass"),
    )


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
    """How to ask a token endpoint for a token (``<base>/credentials/<name>/client``).

    What the client proves itself with follows from ``grant`` and ``auth_method``: a client
    secret (``client_secret_*``), ``private_key`` (``private_key_jwt``, RFC 7523 §2.2, and the
    ``jwt_bearer`` grant, RFC 7523 §2.1, whose signed assertion is the only proof: method
    ``none``), or ``tls_client_cert`` and ``tls_client_key`` (``tls_client_auth``, RFC 8705).
    A missing or unreadable one is refused here, naming the field, never quoting it.
    """

    # a refused key or secret must not be echoed by a ValidationError either
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)
    _kind = "client definition"

    token_url: str
    client_id: str = Field(min_length=1)
    grant: GrantType = "client_credentials"
    auth_method: AuthMethod = "client_secret_basic"
    client_secrets: tuple[SecretStr, ...] = Field(default=(), validate_default=True)
    private_key: SecretStr | None = Field(default=None, validate_default=True)
    private_key_id: str | None = None  # the JWS ``kid`` the provider knows the key by
    signing_alg: str | None = Field(default=None, validate_default=True)  # JWS ``alg``
    subject: str | None = None  # ``jwt_bearer``: the assertion's ``sub``; default ``client_id``
    assertion_audience: str | None = None  # the assertions' ``aud``; default ``token_url``
    tls_client_cert: str | None = Field(default=None, validate_default=True, repr=False)
    tls_client_key: SecretStr | None = Field(default=None, validate_default=True)
    tls_ca_cert: str | None = Field(default=None, repr=False)  # trust only this CA for it
    scope: str | None = None
    audience: str | None = None
    default_lifetime_seconds: int = Field(default=DEFAULT_LIFETIME_SECONDS, gt=0)
    refresh_at_fraction: float | None = Field(default=None, gt=0, lt=1)
    refresh_jitter_fraction: float | None = Field(default=None, ge=0, le=0.5)
    keep_alive_seconds: int | None = Field(default=None, gt=0)
    # the provider revokes a refresh token unused this long (None: it does not, or did not say)
    refresh_idle_limit_seconds: int | None = Field(default=None, gt=0)
    refresh_warning_seconds: int | None = Field(default=None, gt=0)  # overrides the setting

    @model_validator(mode="before")
    @classmethod
    def _one_or_many_secrets(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "client_secret" in data:
            data = dict(data)
            single = data.pop("client_secret")
            if "client_secrets" in data:
                raise ValueError("set either `client_secret` or `client_secrets`, not both")
            data["client_secrets"] = [single]
        if isinstance(data, Mapping) and data.get("grant") == "jwt_bearer":
            data = {"auth_method": "none", **data}
        return data

    @field_validator("token_url")
    @classmethod
    def _url_is_safe(cls, url: str) -> str:
        return check_token_url(url)

    @field_validator("auth_method")
    @classmethod
    def _method_fits_grant(cls, method: AuthMethod, info: ValidationInfo) -> AuthMethod:
        jwt_bearer = info.data.get("grant") == "jwt_bearer"
        if jwt_bearer and method != "none":
            raise ValueError("the `jwt_bearer` grant proves the client by its signed assertion")
        if method == "none" and not jwt_bearer:
            raise ValueError("`none` (no client authentication) is for the `jwt_bearer` grant")
        if method == "tls_client_auth" and not info.data.get("token_url", "").startswith("https:"):
            raise ValueError("`tls_client_auth` is mutual TLS: `token_url` must be https://")
        return method

    @field_validator("client_secrets")
    @classmethod
    def _secret_if_used(
        cls, secrets: tuple[SecretStr, ...], info: ValidationInfo
    ) -> tuple[SecretStr, ...]:
        method = info.data.get("auth_method")
        if not secrets and method in SECRET_METHODS:
            raise ValueError(f"auth_method `{method}` needs at least one client secret")
        if any(secret.get_secret_value().lstrip().startswith("-----BEGIN") for secret in secrets):
            # a key or certificate piped where a secret goes: it would be sent line by line
            raise ValueError(
                "holds a PEM key or certificate, not a secret: a key is `private_key` (auth_method "
                "`private_key_jwt` or grant `jwt_bearer`), a certificate `tls_client_cert`"
            )
        if secrets and method is not None and method not in SECRET_METHODS:
            # a secret left from before a switch to a key: unused, yet readable where the
            # definition is, and it makes the definition say two things
            what = "the `jwt_bearer` grant" if method == "none" else f"auth_method `{method}`"
            raise ValueError(f"{what} sends no client secret, yet one is set")
        return secrets

    @field_validator("private_key")
    @classmethod
    def _key_if_used(cls, key: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if key is not None:
            signing_alg_for(key.get_secret_value(), None)  # it parses and can sign
        elif info.data.get("auth_method") == "private_key_jwt" or (
            info.data.get("grant") == "jwt_bearer"
        ):
            raise ValueError("`private_key_jwt` and the `jwt_bearer` grant sign with it: missing")
        return key

    @field_validator("signing_alg")
    @classmethod
    def _alg_fits_key(cls, alg: str | None, info: ValidationInfo) -> str | None:
        key = info.data.get("private_key")
        return alg if key is None else signing_alg_for(key.get_secret_value(), alg)

    @field_validator("tls_client_cert", "tls_ca_cert")
    @classmethod
    def _certificates(cls, pem: str | None, info: ValidationInfo) -> str | None:
        field = str(info.field_name)
        if pem is not None:
            check_certificates(pem, field)
        elif field == "tls_client_cert" and info.data.get("auth_method") == "tls_client_auth":
            raise ValueError("`tls_client_auth` presents this certificate: missing")
        return pem

    @field_validator("tls_client_key")
    @classmethod
    def _key_of_cert(cls, key: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        cert = info.data.get("tls_client_cert")
        if key is not None and cert is not None:
            check_key_pair(cert, key.get_secret_value())
        elif key is None and info.data.get("auth_method") == "tls_client_auth":
            raise ValueError("`tls_client_auth` proves the certificate with this key: missing")
        return key


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
        return other is not None and same_secret(other.access_token, self.access_token)


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


class Alert(_VaultRecord):
    """The last alert raised for one cause (an error class or a radar cause) while unhealed."""

    _kind = "alert"

    cause: str
    at: datetime


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
    refresh_expires_at: datetime | None = None  # the refresh token's expiry, as the provider said
    refresh_used_at: datetime | None = None  # the refresh token last spent or obtained (idle age)
    refresh_deadline_at: datetime | None = None  # `refresh_expiring`: when the refresh token dies
    alerts: tuple[Alert, ...] = ()  # alerts raised since the credential was last healthy


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
    recovered: bool = False  # it healed after an alert: the one recovery notice
    alert: str | None = None  # the cause to alert about now (None: nothing new to tell)
    refresh_deadline_at: datetime | None = None  # `refresh_expiring`: when the refresh token dies
    replayed_journal: bool = False
