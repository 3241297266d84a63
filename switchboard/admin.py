"""Set up Vault for Switchboard: policies and the AppRole identities of the flows, the ingress
and ``switchboard metrics``.

Run by an operator holding an admin token (``VAULT_ADDR``, ``VAULT_TOKEN``)::

    switchboard vault --env-file .state/approle.env      # or: python -m switchboard.admin

It installs the policies of ``switchboard/policies/`` (rewritten for the mount and base path),
the ``switchboard-routing`` policy for the ingress's bearer credential and OAuth 1 keys, enables
AppRole and creates the ``switchboard-flows``, ``switchboard-routing`` and ``switchboard-metrics``
roles (short, renewable tokens). ``--env-file`` / ``--routing-env-file`` / ``--metrics-env-file``
also issue a secret id: a ``SecretStr``, printed nowhere and written only there, mode 0600, in
the variables ``VaultSettings`` reads. The metrics identity lists the credentials and reads
their health records only: the scraped process never holds the flows' identity.
``switchboard vault consumer-policy NAME --credential A ...`` writes a policy that reads only
those credentials' tokens. Vault is reached through the flows' own session (``switchboard.vault``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
from pydantic import SecretStr

from switchboard._exceptions import ConfigurationError
from switchboard._files import write_private
from switchboard._settings import DEFAULT_APPROLE_MOUNT, DEFAULT_BASE_PATH, DEFAULT_MOUNT
from switchboard.policies import (
    CONSUMER_POLICY,
    FLOWS_POLICY,
    METRICS_POLICY,
    ROUTING_POLICY,
    SHIPPED,
    check_name,
    reader_policy,
    render,
)
from switchboard.vault import vault_errors

__all__ = [
    "CONSUMER_POLICY",
    "DEFAULT_APPROLE_MOUNT",
    "DEFAULT_BEARER_CREDENTIAL",
    "DEFAULT_TOKEN_MAX_TTL",
    "DEFAULT_TOKEN_TTL",
    "FLOWS_POLICY",
    "FLOWS_ROLE",
    "METRICS_POLICY",
    "METRICS_ROLE",
    "RESERVED_POLICIES",
    "ROUTING_POLICY",
    "ROUTING_ROLE",
    "AppRoleIdentity",
    "Roles",
    "RoutingAccess",
    "create_role",
    "enable_approle",
    "install_consumer_policy",
    "install_policies",
    "issue_identity",
    "main",
    "set_up",
    "write_policy",
]

FLOWS_ROLE = "switchboard-flows"
ROUTING_ROLE = "switchboard-routing"
METRICS_ROLE = "switchboard-metrics"  # `switchboard metrics`: lists credentials, reads health
DEFAULT_BEARER_CREDENTIAL = "liveperson"  # LivePersonSettings.bearer_credential's default
DEFAULT_TOKEN_TTL = "15m"  # short: a leaked token is soon useless; clients renew it while they run
DEFAULT_TOKEN_MAX_TTL = "24h"  # after this a client logs in again with its role and secret id
RESERVED_POLICIES = frozenset(
    {"root", "default", FLOWS_POLICY, CONSUMER_POLICY, ROUTING_POLICY, METRICS_POLICY}
)
"""Names ``consumer-policy`` refuses: Vault's own, and the ones ``switchboard vault`` rewrites."""


@dataclass(frozen=True)
class AppRoleIdentity:
    """The role id and secret id an AppRole client logs in with."""

    role_id: str
    secret_id: SecretStr
    mount: str = DEFAULT_APPROLE_MOUNT

    def as_env(self) -> dict[str, str]:
        """The identity as ``SWITCHBOARD_VAULT_*`` variables; holds the secret id in clear,
        so it goes only into a child's environment or a 0600 file."""
        return {
            "SWITCHBOARD_VAULT_ROLE_ID": self.role_id,
            "SWITCHBOARD_VAULT_SECRET_ID": self.secret_id.get_secret_value(),
            "SWITCHBOARD_VAULT_APPROLE_MOUNT": self.mount,
        }

    def write_env_file(self, path: Path) -> None:
        """Write ``SWITCHBOARD_VAULT_ROLE_ID``, ``_SECRET_ID``, ``_APPROLE_MOUNT`` to ``path``.

        The file is created with mode 0600 before anything is written, and replaced atomically.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = "".join(f"{key}={value}\n" for key, value in self.as_env().items())
        write_private(path, lines.encode())


@dataclass(frozen=True)
class RoutingAccess:
    """What the ingress's routing identity reads: the LivePerson bearer credential's token
    (``SWITCHBOARD_LP_BEARER_CREDENTIAL``) and the OAuth 1 keys (``SWITCHBOARD_LP_OAUTH1_KEYS``),
    never a client secret, seed or refresh token."""

    bearer_credential: str = DEFAULT_BEARER_CREDENTIAL
    oauth1_keys: str | None = None

    def __post_init__(self) -> None:
        check_name(self.bearer_credential, "--bearer-credential")
        if self.oauth1_keys is not None:
            check_name(self.oauth1_keys, "--oauth1-keys")


@dataclass(frozen=True)
class Roles:
    """The role ids ``set_up`` created or updated."""

    flows: str
    routing: str
    metrics: str


def write_policy(client: hvac.Client, name: str, text: str) -> None:
    """``PUT /sys/policy/{name}``."""
    with vault_errors(f"sys/policy/{name}"):
        client.sys.create_or_update_policy(name=name, policy=text)


def install_policies(
    client: hvac.Client,
    *,
    mount: str = DEFAULT_MOUNT,
    base_path: str = DEFAULT_BASE_PATH,
    routing: RoutingAccess | None = None,
) -> list[str]:
    """Write the shipped policies and ``switchboard-routing``; return their names."""
    for name in SHIPPED:
        write_policy(client, name, render(name, mount=mount, base_path=base_path))
    access = routing or RoutingAccess()
    text = reader_policy(
        "The ingress (`switchboard-routing` AppRole): the LivePerson bearer and API keys only.",
        credentials=[access.bearer_credential],
        oauth1_keys=[access.oauth1_keys] if access.oauth1_keys else [],
        mount=mount,
        base_path=base_path,
    )
    write_policy(client, ROUTING_POLICY, text)
    return [*SHIPPED, ROUTING_POLICY]


def install_consumer_policy(
    client: hvac.Client,
    name: str,
    credentials: Iterable[str],
    *,
    mount: str = DEFAULT_MOUNT,
    base_path: str = DEFAULT_BASE_PATH,
) -> str:
    """Write policy ``name`` reading only ``credentials``' ``.../token``; return its HCL.

    Refuses the names in ``RESERVED_POLICIES``: overwriting one would narrow the flows or every
    consumer without a word.
    """
    check_name(name, "NAME")
    if name.lower() in RESERVED_POLICIES:
        raise ConfigurationError(
            f"NAME: {name!r} is reserved ({', '.join(sorted(RESERVED_POLICIES))}); choose "
            "another policy name, e.g. crm-service-tokens"
        )
    names = [check_name(credential, "--credential") for credential in credentials]
    text = reader_policy(
        f"`{name}`: a consumer of {', '.join(sorted(set(names)))} (access tokens only).",
        credentials=names,
        mount=mount,
        base_path=base_path,
    )
    write_policy(client, name, text)
    return text


def enable_approle(client: hvac.Client, *, mount: str = DEFAULT_APPROLE_MOUNT) -> bool:
    """Enable the AppRole auth method at ``mount`` unless it is there. True when enabled now.

    ``POST: /sys/auth/{mount}``.
    """
    with vault_errors("sys/auth"):
        enabled: dict[str, Any] = client.sys.list_auth_methods()["data"]
        if f"{mount.strip('/')}/" in enabled:
            return False
        client.sys.enable_auth_method(method_type="approle", path=mount)
    return True


def create_role(
    client: hvac.Client,
    *,
    role: str = FLOWS_ROLE,
    policies: list[str] | None = None,
    mount: str = DEFAULT_APPROLE_MOUNT,
    token_ttl: str = DEFAULT_TOKEN_TTL,
    token_max_ttl: str = DEFAULT_TOKEN_MAX_TTL,
    secret_id_ttl: str = "0",  # noqa: S107 - a duration, not a password
) -> str:
    """Create or update an AppRole role with short-lived, renewable tokens; return its role id.

    ``POST: /auth/{mount}/role/{role}``, then ``GET: /auth/{mount}/role/{role}/role-id``.
    ``policies`` defaults to the policy named like the role. ``secret_id_ttl`` ``"0"`` means
    secret ids do not expire (rotate them with ``issue_identity``).
    """
    with vault_errors(f"auth/{mount}/role/{role}"):
        client.auth.approle.create_or_update_approle(
            role_name=role,
            token_policies=policies if policies is not None else [role],
            token_ttl=token_ttl,
            token_max_ttl=token_max_ttl,
            secret_id_ttl=secret_id_ttl,
            token_type="service",  # service tokens can be renewed; batch tokens cannot
            mount_point=mount,
        )
        response = client.auth.approle.read_role_id(role_name=role, mount_point=mount)
    return str(response["data"]["role_id"])


def issue_identity(
    client: hvac.Client,
    *,
    role: str = FLOWS_ROLE,
    mount: str = DEFAULT_APPROLE_MOUNT,
    role_id: str | None = None,
) -> AppRoleIdentity:
    """Generate a new secret id for ``role`` (``role_id`` is read when not given).

    ``POST: /auth/{mount}/role/{role}/secret-id``. Earlier secret ids stay valid until
    destroyed, so a rotation can roll out before the old id is revoked.
    """
    with vault_errors(f"auth/{mount}/role/{role}/secret-id"):
        if role_id is None:
            read = client.auth.approle.read_role_id(role_name=role, mount_point=mount)
            role_id = str(read["data"]["role_id"])
        response = client.auth.approle.generate_secret_id(role_name=role, mount_point=mount)
    return AppRoleIdentity(
        role_id=role_id, secret_id=SecretStr(str(response["data"]["secret_id"])), mount=mount
    )


def set_up(
    client: hvac.Client,
    *,
    mount: str = DEFAULT_MOUNT,
    base_path: str = DEFAULT_BASE_PATH,
    approle_mount: str = DEFAULT_APPROLE_MOUNT,
    token_ttl: str = DEFAULT_TOKEN_TTL,
    token_max_ttl: str = DEFAULT_TOKEN_MAX_TTL,
    routing: RoutingAccess | None = None,
) -> Roles:
    """Install the policies, enable AppRole, create the flows', the routing and the metrics role.

    Idempotent: running it again updates the policies and the roles in place.
    """
    install_policies(client, mount=mount, base_path=base_path, routing=routing)
    enable_approle(client, mount=approle_mount)
    flows, routing_role, metrics = (
        create_role(
            client,
            role=role,
            mount=approle_mount,
            token_ttl=token_ttl,
            token_max_ttl=token_max_ttl,
        )
        for role in (FLOWS_ROLE, ROUTING_ROLE, METRICS_ROLE)
    )
    return Roles(flows=flows, routing=routing_role, metrics=metrics)


def main(argv: list[str] | None = None) -> int:
    """``switchboard vault``: see ``switchboard._admin_cli``."""
    from switchboard._admin_cli import run

    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main())
