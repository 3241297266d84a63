"""``switchboard``: add credentials to Vault, seed them, list their health, refresh them.

Secrets never go on the command line (where ``ps`` and shell history would keep them):
client secrets, refresh tokens and API keys are read from stdin, or from the environment
variable named by an option; signing and TLS keys from their files or stdin
(``switchboard._cli_input``). Vault is reached with the usual ``VAULT_*`` / ``SWITCHBOARD_VAULT_*``
settings.

This is the core's CLI, Prefect-free: ``python -m switchboard.cli``. The installed ``switchboard``
command is ``serve.main`` (the Prefect side), which calls ``main`` here with ``ingest`` added to
``SUBCOMMANDS``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, TextIO

from pydantic import SecretStr, ValidationError

from switchboard._cli_input import client_proof, secret_from, text_file
from switchboard._exceptions import ConfigurationError, SwitchboardError
from switchboard._models import ClientDefinition, OAuth1Keys, format_time
from switchboard._settings import TokenSettings, VaultSettings, load

if TYPE_CHECKING:  # hvac is imported only by the commands that talk to Vault
    from switchboard.vault import CredentialStore

__all__ = ["SUBCOMMANDS", "Subcommand", "main"]


@dataclass(frozen=True)
class Subcommand:
    """A subcommand that parses its own arguments: ``run(argv)`` gets everything after its name
    and returns the exit code (``ConfigurationError``: 2, another ``SwitchboardError``: 1)."""

    help: str
    run: Callable[[list[str]], int]


def _vault(argv: list[str]) -> int:
    from switchboard import admin  # hvac: imported only by the commands that talk to Vault

    return admin.main(argv)


def _metrics(argv: list[str]) -> int:
    from switchboard.metrics import metrics_command  # prometheus-client, hvac: when asked for

    return metrics_command(argv)


SUBCOMMANDS: Mapping[str, Subcommand] = MappingProxyType(
    {
        "vault": Subcommand(
            "set up Vault: policies, the flows' and the ingress's AppRole identities", _vault
        ),
        "metrics": Subcommand(
            "credentials' expiry and health from Vault, in the Prometheus text format "
            "(--serve HOST:PORT to serve them)",
            _metrics,
        ),
    }
)
"""The core's own self-parsing subcommands; the Prefect side passes these plus ``ingest``."""


def _store() -> CredentialStore:
    from switchboard.vault import CredentialStore

    return CredentialStore.from_settings(load(VaultSettings))


def _credentials_add(args: argparse.Namespace, stdin: TextIO) -> int:
    fields = {
        "token_url": args.token_url,
        "client_id": args.client_id,
        "grant": args.grant,
        "scope": args.scope,
        "audience": args.audience,
        "auth_method": args.auth_method,
        "subject": args.subject,
        "assertion_audience": args.assertion_audience,
        "tls_ca_cert": None
        if args.tls_ca_cert_file is None
        else text_file(args.tls_ca_cert_file, "--tls-ca-cert-file"),
        "default_lifetime_seconds": args.default_lifetime_seconds,
        **client_proof(args, stdin),
    }
    definition = ClientDefinition.from_vault(
        {key: value for key, value in fields.items() if value is not None},
        path="the command line",
    )
    store = _store()
    store.put_client(args.name, definition)
    print(f"stored {store.where(args.name, 'client')} ({_proof_summary(definition)})")
    if definition.grant == "refresh_token":
        print(f"next: pipe its first refresh token into `switchboard credentials seed {args.name}`")
    return 0


def _proof_summary(definition: ClientDefinition) -> str:
    """What the client proves itself with, never the secret itself."""
    if definition.client_secrets:
        return f"{len(definition.client_secrets)} client secret(s)"
    if definition.private_key is not None:
        kid = f", kid {definition.private_key_id}" if definition.private_key_id else ""
        return f"{definition.signing_alg} signing key{kid}"
    return "TLS client certificate and key"


def _credentials_seed(args: argparse.Namespace, stdin: TextIO) -> int:
    token = secret_from(args.refresh_token_env, "refresh token", stdin)[0]
    store = _store()
    version = store.put_seed(args.name, SecretStr(token))
    print(f"stored {store.where(args.name, 'seed')} (version {version}); it is used once")
    return 0


def _credentials_list(args: argparse.Namespace, stdin: TextIO) -> int:
    store = _store()
    rows = [("credential", "state", "expires at", "failures", "last error")]
    for name in store.list_credentials():
        try:
            health = store.read_health(name)
        except ConfigurationError:  # one damaged record must not hide the others
            rows.append((name, "unreadable health record", "-", "-", "ConfigurationError"))
            continue
        if health is None:
            rows.append((name, "never refreshed", "-", "0", "-"))
            continue
        rows.append(
            (
                name,
                health.state,
                format_time(health.expires_at) if health.expires_at else "-",
                str(health.consecutive_failures),
                health.error_class or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    return 0


def _oauth1_add(args: argparse.Namespace, stdin: TextIO) -> int:
    raw = stdin.read()
    try:
        keys = OAuth1Keys.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        field = ""
        if isinstance(exc, ValidationError):
            field = f" (field `{exc.errors()[0]['loc'][0]}`)"
        raise ConfigurationError(
            "stdin must be a JSON object with consumer_key, consumer_secret, token and "
            f"token_secret{field}"
        ) from None
    store = _store()
    store.put_oauth1(args.name, keys)
    print(f"stored OAuth 1 keys {args.name}")
    return 0


def _credentials_release(args: argparse.Namespace, stdin: TextIO) -> int:
    from switchboard.refresh import release_abandoned_claim

    if not args.accept_reuse_risk:
        raise ConfigurationError(
            "--accept-reuse-risk: spending a refresh token that may already be spent can revoke "
            f"the token family; prefer `switchboard refresh {args.name}` on the claiming host, "
            f"or a new seed (`switchboard credentials seed {args.name}`)"
        )
    released = release_abandoned_claim(_store(), args.name)
    print(f"{args.name}: {'claim released' if released else 'no claim to release'}")
    return 0


def _refresh(args: argparse.Namespace, stdin: TextIO) -> int:
    from switchboard.refresh import Refresher

    refresher = Refresher(_store(), load(TokenSettings))
    failed = 0
    for outcome in refresher.refresh_due(refresher.discover(args.names or None), force=args.force):
        name = outcome.name
        expires = format_time(outcome.expires_at) if outcome.expires_at else "-"
        line = f"{name}: {outcome.status} (state {outcome.state or '-'}, expires {expires})"
        if outcome.status == "failed":
            failed += 1
            line += f": {outcome.error_class}: {outcome.message}"
        print(line)
    return 1 if failed else 0


Handler = Callable[[argparse.Namespace, TextIO], int]


def _parser(subcommands: Mapping[str, Subcommand]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard", description="Keep OAuth tokens alive in Vault."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    credentials = commands.add_parser("credentials", help="OAuth 2 credentials in Vault")
    actions = credentials.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="write a client definition (its secret or key from stdin, a variable or a file)",
        description="Client secrets are read from stdin (one per line, newest first, to "
        "rotate) or from the variable named by --client-secret-env; a signing key or TLS "
        "client key from its file or stdin. Never from argv.",
    )
    add.add_argument("name", help="credential name (one path segment)")
    add.add_argument("--token-url", required=True, help="the token endpoint URL")
    add.add_argument("--client-id", required=True, help="the OAuth client id")
    add.add_argument(
        "--grant",
        choices=["client_credentials", "refresh_token", "jwt_bearer"],
        default="client_credentials",
        help="jwt_bearer: RFC 7523 §2.1, a signed assertion is the grant and the proof",
    )
    add.add_argument("--scope", help="space-separated scopes to request")
    add.add_argument("--audience", help="audience parameter, for providers that need one")
    add.add_argument(
        "--auth-method",
        choices=["client_secret_basic", "client_secret_post", "private_key_jwt", "tls_client_auth"],
        help="how the client proves itself (default client_secret_basic; none for jwt_bearer)",
    )
    add.add_argument(
        "--default-lifetime-seconds", type=int, help="lifetime when no expires_in is sent"
    )
    add.add_argument("--client-secret-env", metavar="VAR", help="read the secret(s) from $VAR")
    keys = add.add_argument_group("signing key (private_key_jwt, jwt_bearer)")
    keys.add_argument(
        "--private-key-file", metavar="PEM", help="the key's file (- or unset: stdin)"
    )
    keys.add_argument("--private-key-id", metavar="KID", help="the JWS kid the provider knows")
    keys.add_argument("--signing-alg", metavar="ALG", help="JWS alg (default: from the key)")
    keys.add_argument("--subject", help="jwt_bearer: the assertion's sub (default: client id)")
    keys.add_argument("--assertion-audience", help="the assertion's aud (default: token URL)")
    tls = add.add_argument_group("mutual TLS (tls_client_auth, RFC 8705)")
    tls.add_argument("--tls-client-cert-file", metavar="PEM", help="the client certificate")
    tls.add_argument(
        "--tls-client-key-file", metavar="PEM", help="its key's file (- or unset: stdin)"
    )
    tls.add_argument("--tls-ca-cert-file", metavar="PEM", help="trust only this CA for the IdP")
    add.set_defaults(handler=_credentials_add)

    seed = actions.add_parser("seed", help="write the first refresh token (from stdin)")
    seed.add_argument("name")
    seed.add_argument("--refresh-token-env", metavar="VAR", help="read it from $VAR instead")
    seed.set_defaults(handler=_credentials_seed)

    listing = actions.add_parser("list", help="every credential's health (no secrets)")
    listing.set_defaults(handler=_credentials_list)

    release = actions.add_parser(
        "release",
        help="drop an in_doubt claim so the stored refresh token is spent again",
        description="Only when the host that claimed the refresh token cannot replay its "
        "journal: if its request reached the provider, a strict provider revokes the token "
        "family when the token is spent again. A new seed is the safe alternative.",
    )
    release.add_argument("name")
    release.add_argument(
        "--accept-reuse-risk", action="store_true", help="confirm you accept that risk"
    )
    release.set_defaults(handler=_credentials_release)

    oauth1 = commands.add_parser("oauth1", help="OAuth 1.0a API keys in Vault")
    oauth1_actions = oauth1.add_subparsers(dest="action", required=True, metavar="ACTION")
    oauth1_add = oauth1_actions.add_parser("add", help="write API keys given as JSON on stdin")
    oauth1_add.add_argument("name")
    oauth1_add.set_defaults(handler=_oauth1_add)

    refresh = commands.add_parser("refresh", help="refresh credentials now, without Prefect")
    refresh.add_argument("names", nargs="*", metavar="NAME", help="default: every credential")
    refresh.add_argument("--force", action="store_true", help="refresh even if not due")
    refresh.set_defaults(handler=_refresh)

    for name, subcommand in subcommands.items():  # listed in --help; they parse their own argv
        commands.add_parser(name, help=subcommand.help, add_help=False)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    subcommands: Mapping[str, Subcommand] = SUBCOMMANDS,
) -> int:
    """Run the CLI; returns the exit code (2: bad input or settings, 1: a failure).

    ``subcommands``: the self-parsing ones this CLI offers besides its own (default: the core's).
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        if arguments and arguments[0] in subcommands:
            return subcommands[arguments[0]].run(arguments[1:])
        args = _parser(subcommands).parse_args(arguments)
        handler: Handler = args.handler
        return handler(args, stdin or sys.stdin)
    except ConfigurationError as exc:
        print(f"switchboard: error: {exc}", file=sys.stderr)
        return 2
    except SwitchboardError as exc:
        print(f"switchboard: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
