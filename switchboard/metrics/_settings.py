"""``switchboard metrics`` settings (``SWITCHBOARD_METRICS_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["MetricsSettings", "check_exposure", "is_loopback"]


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address: only this machine can connect."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: SecretStr | None, variable: str, *, otherwise: str) -> None:
    """Refuse to serve metrics without a token, on loopback too: they describe the fleet, and a
    loopback listener is public as soon as a reverse proxy on the same host forwards to it (the
    HA topology binds the ingresses to 127.0.0.1 behind HAProxy). ``otherwise`` is the other
    fix the caller offers (turn metrics off, or an explicit opt-out)."""
    if token is None:
        raise ValueError(
            f"{variable}: not set, and /metrics would be served on {host!r} to anyone who "
            "reaches it (a reverse proxy on this host included, so loopback is no protection); "
            "set a long random token, which Prometheus sends with `authorization: "
            f"{{credentials_file: ...}}`, {otherwise}"
        )


class MetricsSettings(BaseSettings):
    """What ``switchboard metrics`` reads from Vault and shows, and where the refresh flows
    leave their counters (``textfile``)."""

    model_config = SettingsConfigDict(
        env_prefix="SWITCHBOARD_METRICS_", env_file=".env", extra="ignore"
    )

    credential_names: bool = Field(
        default=False,
        description="Label per-credential series with the credential's name (else aggregates).",
    )
    cache_seconds: float = Field(
        default=15.0, ge=0, description="How long one round of Vault reads serves scrapes."
    )
    token: SecretStr | None = Field(
        default=None,
        description=(
            "Bearer token scrapers must send to --serve; required on every address unless "
            "--allow-unauthenticated-on-loopback."
        ),
    )

    textfile: Path | None = Field(
        default=None,
        description=(
            "A node_exporter textfile (*.prom) the refresh flows add their refresh counters to "
            "at the end of each run; unset, they count nothing."
        ),
    )

    @field_validator("textfile")
    @classmethod
    def _a_prom_file(cls, value: Path | None) -> Path | None:
        if value is not None and value.suffix != ".prom":
            raise ValueError(
                f"{value}: node_exporter's textfile collector reads only files ending in .prom"
            )
        return value

    @field_validator("token")
    @classmethod
    def _not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            raise ValueError("empty; set a long random value")
        return value
