"""Set up Vault for Switchboard: policies and the flows' AppRole identity.

Run once per Vault by an operator holding an admin token (``VAULT_ADDR``, ``VAULT_TOKEN``)::

    switchboard vault --env-file .state/approle.env      # or: python -m switchboard.admin

It installs ``vault/policies/*.hcl`` (rewritten for the configured mount and base path), enables
AppRole and creates the ``switchboard-flows`` role (short, renewable tokens). With ``--env-file`` it
also issues a secret id. The secret id is a ``SecretStr``: it is printed nowhere and written only
there, mode 0600, in the variables ``switchboard._settings.VaultSettings`` reads.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import requests
from pydantic import SecretStr

from switchboard._files import write_private
from switchboard._settings import DEFAULT_APPROLE_MOUNT, DEFAULT_BASE_PATH, DEFAULT_MOUNT

__all__ = [
    "CONSUMER_POLICY",
    "DEFAULT_APPROLE_MOUNT",
    "DEFAULT_POLICY_DIR",
    "DEFAULT_TOKEN_MAX_TTL",
    "DEFAULT_TOKEN_TTL",
    "FLOWS_POLICY",
    "FLOWS_ROLE",
    "AppRoleIdentity",
    "create_role",
    "enable_approle",
    "install_policies",
    "issue_identity",
    "main",
    "render_policy",
    "set_up",
]

FLOWS_POLICY = "switchboard-flows"
CONSUMER_POLICY = "switchboard-consumer"
FLOWS_ROLE = "switchboard-flows"
DEFAULT_TOKEN_TTL = "15m"  # short: a leaked token is soon useless; clients renew it while they run
DEFAULT_TOKEN_MAX_TTL = "24h"  # after this a client logs in again with its role and secret id
DEFAULT_POLICY_DIR = Path(__file__).resolve().parent.parent / "vault" / "policies"


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


def render_policy(
    name: str,
    *,
    mount: str = DEFAULT_MOUNT,
    base_path: str = DEFAULT_BASE_PATH,
    policy_dir: Path = DEFAULT_POLICY_DIR,
) -> str:
    """The HCL of policy ``name`` with the default mount and base path replaced."""
    text = (policy_dir / f"{name}.hcl").read_text()
    base = base_path.strip("/")
    for kind in ("data", "metadata"):
        text = text.replace(
            f'"{DEFAULT_MOUNT}/{kind}/{DEFAULT_BASE_PATH}/', f'"{mount.strip("/")}/{kind}/{base}/'
        )
    return text


def install_policies(
    client: hvac.Client,
    *,
    mount: str = DEFAULT_MOUNT,
    base_path: str = DEFAULT_BASE_PATH,
    policy_dir: Path = DEFAULT_POLICY_DIR,
) -> list[str]:
    """Write every ``*.hcl`` of ``policy_dir`` as an ACL policy named after the file.

    ``PUT: /sys/policy/{name}`` per file. Returns the policy names.
    """
    names = sorted(path.stem for path in policy_dir.glob("*.hcl"))
    for name in names:
        policy = render_policy(name, mount=mount, base_path=base_path, policy_dir=policy_dir)
        client.sys.create_or_update_policy(name=name, policy=policy)
    return names


def enable_approle(client: hvac.Client, *, mount: str = DEFAULT_APPROLE_MOUNT) -> bool:
    """Enable the AppRole auth method at ``mount`` unless it is there. True when enabled now.

    ``POST: /sys/auth/{mount}``.
    """
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
    ``secret_id_ttl`` ``"0"`` means secret ids do not expire (rotate them with ``issue_identity``).
    """
    client.auth.approle.create_or_update_approle(
        role_name=role,
        token_policies=policies if policies is not None else [FLOWS_POLICY],
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
) -> str:
    """Install the policies, enable AppRole and create the flows' role; return its role id.

    Idempotent: running it again updates the policies and the role in place.
    """
    install_policies(client, mount=mount, base_path=base_path)
    enable_approle(client, mount=approle_mount)
    return create_role(
        client, mount=approle_mount, token_ttl=token_ttl, token_max_ttl=token_max_ttl
    )


def main(argv: list[str] | None = None) -> int:
    """``switchboard vault``: set up Vault with the admin token in ``VAULT_TOKEN``."""
    parser = argparse.ArgumentParser(
        prog="switchboard vault",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--mount", default=DEFAULT_MOUNT, help="KV v2 mount (default: %(default)s)")
    parser.add_argument(
        "--base-path", default=DEFAULT_BASE_PATH, help="base path (default: %(default)s)"
    )
    parser.add_argument("--approle-mount", default=DEFAULT_APPROLE_MOUNT, help="AppRole mount")
    parser.add_argument("--token-ttl", default=DEFAULT_TOKEN_TTL, help="flows' token TTL")
    parser.add_argument(
        "--token-max-ttl", default=DEFAULT_TOKEN_MAX_TTL, help="flows' token max TTL"
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        help="issue a secret id and write it with the role id to this file (mode 0600)",
    )
    args = parser.parse_args(argv)
    addr, token = os.environ.get("VAULT_ADDR"), os.environ.get("VAULT_TOKEN")
    if not addr or not token:
        print("error: set VAULT_ADDR and VAULT_TOKEN (an admin token) first", file=sys.stderr)
        return 2
    client = hvac.Client(url=addr, token=token, namespace=os.environ.get("VAULT_NAMESPACE"))
    try:
        role_id = set_up(
            client,
            mount=args.mount,
            base_path=args.base_path,
            approle_mount=args.approle_mount,
            token_ttl=args.token_ttl,
            token_max_ttl=args.token_max_ttl,
        )
        print(f"policies {FLOWS_POLICY}, {CONSUMER_POLICY} installed; role {FLOWS_ROLE} ready")
        print(f"role id: {role_id}")
        if args.env_file is None:
            print(
                "no secret id issued; pass --env-file PATH to issue one into that file (mode 0600)"
            )
            return 0
        identity = issue_identity(client, mount=args.approle_mount, role_id=role_id)
        identity.write_env_file(args.env_file)
    except hvac.exceptions.VaultError as exc:
        detail = " ".join(str(exc).replace("*", "").split())  # hvac's message spans lines
        print(f"error: Vault refused ({type(exc).__name__}): {detail}", file=sys.stderr)
        return 1
    except requests.RequestException as exc:
        print(f"error: cannot reach Vault at {addr} ({type(exc).__name__})", file=sys.stderr)
        return 1
    print(f"new secret id written with the role id to {args.env_file} (mode 0600)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
