"""``python -m sandbox --host 127.0.0.1 --port P``: serve the sandbox with uvicorn.

The same app is also served over HTTPS on ``--tls-port`` (default: any free port, see
``GET /_control/tls``), where a client certificate from the sandbox's CA is required
(``tls_client_auth``, ``sandbox.tls``).
"""

from __future__ import annotations

import argparse
import asyncio
import socket

import uvicorn
import uvloop

from sandbox.app import create_app
from sandbox.tls import PeerCertProtocol, TestCA


async def _serve(plain: uvicorn.Server, tls: uvicorn.Server, tls_socket: socket.socket) -> None:
    """Both listeners; a SIGTERM or SIGINT stops both (each passes the signal on)."""
    await asyncio.gather(plain.serve(), tls.serve(sockets=[tls_socket]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8765, help="port (default: %(default)s)")
    parser.add_argument(
        "--tls-port", type=int, default=0, help="mutual-TLS port (default: any free one)"
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn log level (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    tls_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tls_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tls_socket.bind((args.host, args.tls_port))
    ca = TestCA()
    app = create_app(tls=(ca, f"https://{args.host}:{tls_socket.getsockname()[1]}"))
    common = {"log_level": args.log_level, "access_log": False, "server_header": False}
    plain = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, **common))
    tls = uvicorn.Server(
        uvicorn.Config(
            app,
            http=PeerCertProtocol,
            ssl_context_factory=lambda config, default: ca.server_context(),
            **common,
        )
    )
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve(plain, tls, tls_socket))


if __name__ == "__main__":
    main()
