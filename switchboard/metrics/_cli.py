"""``switchboard metrics``: the fleet's metrics read from Vault, printed once or served."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, generate_latest

from switchboard._exceptions import ConfigurationError
from switchboard._settings import VaultSettings, load
from switchboard.metrics._credentials import CredentialCollector
from switchboard.metrics._http import metrics_route
from switchboard.metrics._settings import MetricsSettings, check_exposure

__all__ = ["METRICS_HELP", "metrics_command"]

METRICS_HELP = "credentials' expiry and health from Vault, in the Prometheus text format"


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r}: give HOST:PORT, e.g. 127.0.0.1:9464")
    return host.strip("[]"), int(port)


def metrics_command(argv: Sequence[str]) -> int:
    """``switchboard metrics [--serve HOST:PORT] [--credential-names] [--cache-seconds N]``."""
    parser = argparse.ArgumentParser(prog="switchboard metrics", description=METRICS_HELP)
    parser.add_argument(
        "--serve",
        type=_address,
        metavar="HOST:PORT",
        help="serve GET /metrics there, reading Vault at most once per cache period",
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
    if args.serve is not None:
        try:
            check_exposure(args.serve[0], settings.token, "SWITCHBOARD_METRICS_TOKEN")
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
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


def _serve(registry: CollectorRegistry, settings: MetricsSettings, host: str, port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette

    app = Starlette(routes=[metrics_route(registry, settings.token)])
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")
