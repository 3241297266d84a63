"""``switchboard vault``: the command line of ``switchboard.admin``.

``switchboard vault [setup] ...`` installs the policies and the three AppRole roles (``setup`` is
the default, so the command reads as it always did); ``switchboard vault consumer-policy NAME
--credential A ...`` writes a narrowed consumer policy. Vault is reached with the admin token in
``VAULT_TOKEN`` through a ``switchboard.vault.VaultSession``, like the flows; names are checked
before anything is sent.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import hvac

from switchboard import admin
from switchboard._exceptions import ConfigurationError, VaultError, VaultUnavailable
from switchboard._settings import VaultSettings, load
from switchboard.policies import SHIPPED, check_name, check_path
from switchboard.vault import VaultSession

__all__ = ["run"]

Command = Callable[[argparse.Namespace, hvac.Client, VaultSettings], int]


def _layout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mount", help="KV v2 mount (default: SWITCHBOARD_VAULT_MOUNT, else secret)"
    )
    parser.add_argument(
        "--base-path", help="base path (default: SWITCHBOARD_VAULT_BASE_PATH, else switchboard)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard vault",
        description=admin.__doc__,
        epilog="`switchboard vault setup --help` lists the setup options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="{setup,consumer-policy}")
    setup = commands.add_parser(
        "setup", help="(the default) policies, AppRole roles and, on request, identities"
    )
    _layout(setup)
    setup.add_argument(
        "--approle-mount",
        help="AppRole mount (default: SWITCHBOARD_VAULT_APPROLE_MOUNT, else approle)",
    )
    setup.add_argument("--token-ttl", default=admin.DEFAULT_TOKEN_TTL, help="Vault token TTL")
    setup.add_argument(
        "--token-max-ttl", default=admin.DEFAULT_TOKEN_MAX_TTL, help="Vault token max TTL"
    )
    setup.add_argument(
        "--env-file",
        type=Path,
        help="issue a flows secret id; write it with the role id to this file (mode 0600)",
    )
    setup.add_argument(
        "--routing-env-file",
        type=Path,
        help="issue a routing (ingress) secret id; write it with the role id here (mode 0600)",
    )
    setup.add_argument(
        "--metrics-env-file",
        type=Path,
        help="issue a `switchboard metrics` secret id (reads health records only); write it "
        "with the role id here (mode 0600)",
    )
    setup.add_argument(
        "--bearer-credential",
        default=os.environ.get("SWITCHBOARD_LP_BEARER_CREDENTIAL")
        or admin.DEFAULT_BEARER_CREDENTIAL,
        help="credential whose token the routing identity reads "
        "(default: SWITCHBOARD_LP_BEARER_CREDENTIAL, else %(default)s)",
    )
    setup.add_argument(
        "--oauth1-keys",
        default=os.environ.get("SWITCHBOARD_LP_OAUTH1_KEYS") or None,
        help="OAuth 1 keys the routing identity reads (default: SWITCHBOARD_LP_OAUTH1_KEYS)",
    )
    setup.set_defaults(handler=_setup)
    consumer = commands.add_parser(
        "consumer-policy", help="write a policy that reads only the named credentials' tokens"
    )
    consumer.add_argument("name", metavar="NAME", help="the policy's name")
    consumer.add_argument(
        "--credential",
        action="append",
        required=True,
        metavar="CREDENTIAL",
        help="a credential whose .../token the policy reads (repeat for more)",
    )
    _layout(consumer)
    consumer.set_defaults(handler=_consumer_policy)
    return parser


def _check(args: argparse.Namespace) -> None:
    """Every name and path argument, before Vault is reached."""
    for flag in ("mount", "base_path", "approle_mount"):
        if getattr(args, flag, None) is not None:
            check_path(getattr(args, flag), f"--{flag.replace('_', '-')}")
    if args.command == "setup":
        args.routing = admin.RoutingAccess(args.bearer_credential, args.oauth1_keys)
    else:
        check_name(args.name, "NAME")
        for credential in args.credential:
            check_name(credential, "--credential")


def _settings() -> VaultSettings:
    settings = load(VaultSettings)
    if settings.auth_method != "token":
        raise ConfigurationError(
            "VAULT_TOKEN: `switchboard vault` needs an admin token; the AppRole identity in "
            "SWITCHBOARD_VAULT_ROLE_ID cannot set up Vault"
        )
    return settings


def _setup(args: argparse.Namespace, client: hvac.Client, settings: VaultSettings) -> int:
    approle_mount = args.approle_mount or settings.approle_mount
    roles = admin.set_up(
        client,
        mount=args.mount or settings.mount,
        base_path=args.base_path or settings.base_path,
        approle_mount=approle_mount,
        token_ttl=args.token_ttl,
        token_max_ttl=args.token_max_ttl,
        routing=args.routing,
    )
    keys = f" and OAuth 1 keys {args.routing.oauth1_keys}" if args.routing.oauth1_keys else ""
    print(
        f"policies {', '.join((*SHIPPED, admin.ROUTING_POLICY))} installed; "
        f"{admin.ROUTING_POLICY} reads {args.routing.bearer_credential}'s token{keys}; "
        f"{admin.METRICS_POLICY} reads health records only"
    )
    issued = False
    for role, role_id, path in (
        (admin.FLOWS_ROLE, roles.flows, args.env_file),
        (admin.ROUTING_ROLE, roles.routing, args.routing_env_file),
        (admin.METRICS_ROLE, roles.metrics, args.metrics_env_file),
    ):
        print(f"role {role} ready; role id: {role_id}")
        if path is not None:
            identity = admin.issue_identity(client, role=role, mount=approle_mount, role_id=role_id)
            identity.write_env_file(path)
            print(f"new {role} secret id written with the role id to {path} (mode 0600)")
            issued = True
    if not issued:
        print(
            "no secret id issued; pass --env-file PATH (flows), --routing-env-file PATH "
            "(ingress) or --metrics-env-file PATH (switchboard metrics) to issue one into that "
            "file (mode 0600)"
        )
    return 0


def _consumer_policy(args: argparse.Namespace, client: hvac.Client, settings: VaultSettings) -> int:
    admin.install_consumer_policy(
        client,
        args.name,
        args.credential,
        mount=args.mount or settings.mount,
        base_path=args.base_path or settings.base_path,
    )
    names = ", ".join(sorted(set(args.credential)))
    print(f"policy {args.name} installed: reads the tokens of {names} and nothing else")
    role = f"bao write auth/approle/role/ROLE token_policies={args.name}"
    print(f"give it to a service's Vault role, e.g. {role}")
    return 0


def run(argv: list[str] | None = None) -> int:
    """Parse, check, connect and run; 2 on bad input or settings, 1 when Vault refuses."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] not in {"setup", "consumer-policy", "-h", "--help"}:
        arguments.insert(0, "setup")
    args = _parser().parse_args(arguments)
    settings: VaultSettings | None = None
    try:
        _check(args)
        settings = _settings()
        session = VaultSession(settings)
        session.login()  # lookup-self: a bad admin token fails here, in one line
        handler: Command = args.handler
        return handler(args, session.client(), settings)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except VaultError as exc:
        where = (
            f" (VAULT_ADDR={settings.addr})"
            if settings and isinstance(exc, VaultUnavailable)
            else ""
        )
        print(f"error: {exc}{where}", file=sys.stderr)
        return 1
