"""``switchboard metrics``: the fleet's metrics read from Vault, printed once or served.

It reads only health records, so it runs with the ``switchboard-metrics`` identity
(``switchboard vault --metrics-env-file PATH``), never the flows': a process listening on the
network should hold no identity that reads client secrets or refresh tokens. ``--serve`` wants
``SWITCHBOARD_METRICS_TOKEN`` on every address; ``--allow-unauthenticated-on-loopback`` is the
explicit, loopback-only exception for a look from this machine.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, generate_latest

from switchboard._exceptions import ConfigurationError
from switchboard._settings import VaultSettings, load
from switchboard.metrics._credentials import CredentialCollector
from switchboard.metrics._http import metrics_route
from switchboard.metrics._settings import MetricsSettings, check_exposure, is_loopback

__all__ = ["METRICS_HELP", "metrics_command"]

METRICS_HELP = "credentials' expiry and health from Vault, in the Prometheus text format"
OPT_OUT = "--allow-unauthenticated-on-loopback"


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r}: give HOST:PORT, e.g. 127.0.0.1:9464")
    return host.strip("[]"), int(port)


def metrics_command(argv: Sequence[str]) -> int:
    """``switchboard metrics [--serve HOST:PORT [--allow-unauthenticated-on-loopback]]
    [--credential-names] [--cache-seconds N]``."""
    parser = argparse.ArgumentParser(prog="switchboard metrics", description=METRICS_HELP)
    parser.add_argument(
        "--serve",
        type=_address,
        metavar="HOST:PORT",
        help="serve GET /metrics there, reading Vault at most once per cache period "
        "(scrapers send SWITCHBOARD_METRICS_TOKEN as a bearer token)",
    )
    parser.add_argument(
        OPT_OUT,
        action="store_true",
        help="with --serve on a loopback HOST only: serve without SWITCHBOARD_METRICS_TOKEN "
        "(anything on this host, a reverse proxy included, can then read the metrics)",
    )
    parser.add_argument(
        "--credential-names",
        action="store_true",
        default=None,
        help="label per-credential series by name (SWITCHBOARD_METRICS_CREDENTIAL_NAMES)",
    )
    parser.add_argument("--cache-seconds", type=float, help="reuse Vault reads this long (15)")
    args = parser.parse_args(argv)
    settings = load(MetricsSettings)
    if args.credential_names is not None:
        settings = settings.model_copy(update={"credential_names": True})
    if args.cache_seconds is not None:
        if args.cache_seconds < 0:
            raise ConfigurationError("--cache-seconds: use 0 or more seconds")
        settings = settings.model_copy(update={"cache_seconds": args.cache_seconds})
    _check_serving(args, settings)
    from switchboard.vault import CredentialStore  # hvac: only for commands that read Vault

    registry = CollectorRegistry(auto_describe=True)
    registry.register(
        CredentialCollector(
            CredentialStore.from_settings(load(VaultSettings)),
            credential_names=settings.credential_names,
            cache_seconds=settings.cache_seconds,
        )
    )
    if args.serve is None:
        print(generate_latest(registry).decode(), end="")
        return 0
    _serve(registry, settings, *args.serve)
    return 0


def _check_serving(args: argparse.Namespace, settings: MetricsSettings) -> None:
    """A token for ``--serve`` on any address, unless opted out, and then on loopback only."""
    if args.serve is None:
        if args.allow_unauthenticated_on_loopback:
            raise ConfigurationError(f"{OPT_OUT}: only with --serve HOST:PORT; drop it")
        return
    host = args.serve[0]
    if args.allow_unauthenticated_on_loopback:
        if not is_loopback(host):
            raise ConfigurationError(
                f"{OPT_OUT}: only on a loopback HOST (127.0.0.1, ::1, localhost), not {host!r}; "
                "drop it and set SWITCHBOARD_METRICS_TOKEN"
            )
        return  # a token, if set, is still required by metrics_route
    try:
        check_exposure(
            host,
            settings.token,
            "SWITCHBOARD_METRICS_TOKEN",
            otherwise=f"or, for a look from this machine only, add {OPT_OUT} to a loopback HOST",
        )
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


def _serve(registry: CollectorRegistry, settings: MetricsSettings, host: str, port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette

    app = Starlette(routes=[metrics_route(registry, settings.token)])
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")
