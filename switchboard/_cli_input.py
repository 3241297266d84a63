"""Where the CLI reads secrets and keys: stdin, an environment variable, or a file; never argv.

``ps`` and shell history keep a command line, so a secret given there is a secret leaked. A
path to a key file is not a secret, and the file's permissions stay the operator's to set.
"""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path
from typing import Any, TextIO

from switchboard._exceptions import ConfigurationError
from switchboard._models import SECRET_METHODS

__all__ = ["client_proof", "secret_from", "text_file"]

_KEY_OPTIONS = ("private_key_file", "private_key_id", "signing_alg", "assertion_audience")
_OPTIONS_USED = {
    "client_secret_basic": ("client_secret_env",),
    "client_secret_post": ("client_secret_env",),
    "tls_client_auth": ("tls_client_cert_file", "tls_client_key_file"),
    "private_key_jwt": _KEY_OPTIONS,
    "none": (*_KEY_OPTIONS, "subject"),  # the jwt_bearer grant
}
"""The proof options each auth method uses; the others are refused rather than stored unused."""


def _read_secret_lines(what: str, stdin: TextIO) -> list[str]:
    """Non-empty lines from stdin, or one line typed at a hidden prompt on a terminal."""
    if stdin.isatty():
        typed = getpass.getpass(f"{what}: ")
        lines = [typed.strip()]
    else:
        lines = [line.strip() for line in stdin.read().splitlines() if line.strip()]
    if not lines or not lines[0]:
        raise ConfigurationError(f"no {what} given: pipe it on stdin")
    return lines


def secret_from(env_var: str | None, what: str, stdin: TextIO) -> list[str]:
    """The non-empty lines of ``$env_var`` if named, else of stdin (or a hidden prompt)."""
    if env_var is None:
        return _read_secret_lines(what, stdin)
    value = os.environ.get(env_var)
    if not value:
        raise ConfigurationError(f"{env_var} is not set or empty: it should hold the {what}")
    return [line.strip() for line in value.splitlines() if line.strip()]


def text_file(path: str, flag: str) -> str:
    """A PEM file's text; an unreadable one is named by its option, not quoted."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigurationError(f"{flag}: cannot read {path}: {reason}") from None


def _pem(path: str | None, flag: str, what: str, stdin: TextIO) -> str:
    """The PEM in ``path``, else piped on stdin (a terminal cannot type one)."""
    if path is not None and path != "-":
        return text_file(path, flag)
    if stdin.isatty():
        raise ConfigurationError(f"no {what} given: name its file with {flag}, or pipe it")
    pem = stdin.read().strip()
    if not pem:
        raise ConfigurationError(f"no {what} given: name its file with {flag}, or pipe it")
    return pem + "\n"


def _refuse_unused(args: argparse.Namespace, method: str) -> None:
    used = _OPTIONS_USED[method]
    for option in dict.fromkeys(o for options in _OPTIONS_USED.values() for o in options):
        if option not in used and getattr(args, option) is not None:
            choices = " or ".join(
                "--grant jwt_bearer" if other == "none" else f"--auth-method {other}"
                for other, options in _OPTIONS_USED.items()
                if option in options
            )
            flag = "--" + option.replace("_", "-")
            raise ConfigurationError(
                f"{flag} is not used with auth method `{method}`: drop it, or choose {choices}"
            )


def client_proof(args: argparse.Namespace, stdin: TextIO) -> dict[str, Any]:
    """What ``credentials add`` proves the client with, as ``ClientDefinition`` fields.

    Client secrets (``client_secret_*``) come from stdin or ``--client-secret-env``; a signing
    key (``private_key_jwt``, the ``jwt_bearer`` grant) from ``--private-key-file`` or stdin;
    a TLS client certificate from its file, and its key from ``--tls-client-key-file`` or
    stdin. An option the method does not use is refused rather than stored unused.
    """
    if args.grant == "jwt_bearer" and args.auth_method is not None:
        raise ConfigurationError(
            "--auth-method: the jwt_bearer grant proves the client by its signed assertion "
            "(auth method `none`); drop the option"
        )
    method = "none" if args.grant == "jwt_bearer" else args.auth_method or "client_secret_basic"
    _refuse_unused(args, method)
    if method in SECRET_METHODS:
        what = "client secret(s), one per line"
        return {"client_secrets": secret_from(args.client_secret_env, what, stdin)}
    if method == "tls_client_auth":
        if args.tls_client_cert_file is None:
            raise ConfigurationError("auth method `tls_client_auth` needs --tls-client-cert-file")
        return {
            "tls_client_cert": text_file(args.tls_client_cert_file, "--tls-client-cert-file"),
            "tls_client_key": _pem(
                args.tls_client_key_file, "--tls-client-key-file", "TLS client key", stdin
            ),
        }
    return {
        "private_key": _pem(args.private_key_file, "--private-key-file", "private key", stdin),
        "private_key_id": args.private_key_id,
        "signing_alg": args.signing_alg,
    }
