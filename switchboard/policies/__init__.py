"""Switchboard's Vault policies: the shipped HCL files, and read-only ones rendered for names.

The ``*.hcl`` files beside this module are package data (loaded with ``importlib.resources``),
so an installed wheel finds them as a checkout does. They are written for mount ``secret`` and
base path ``switchboard``; ``render`` rewrites both. ``switchboard-metrics`` lists the
credentials and reads their health records only, for ``switchboard metrics``. ``reader_policy``
writes a policy that reads only the named credentials' ``.../token`` and OAuth 1 keys: a
consumer of a few credentials, or the ingress's routing identity.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import resources

from switchboard._exceptions import ConfigurationError
from switchboard._settings import DEFAULT_BASE_PATH, DEFAULT_MOUNT

__all__ = [
    "CONSUMER_POLICY",
    "FLOWS_POLICY",
    "METRICS_POLICY",
    "ROUTING_POLICY",
    "SHIPPED",
    "check_name",
    "check_path",
    "reader_policy",
    "render",
    "shipped_text",
]

FLOWS_POLICY = "switchboard-flows"
CONSUMER_POLICY = "switchboard-consumer"
ROUTING_POLICY = "switchboard-routing"
METRICS_POLICY = "switchboard-metrics"
SHIPPED = (CONSUMER_POLICY, FLOWS_POLICY, METRICS_POLICY)
"""The policies shipped as HCL files; ``switchboard vault`` installs them under these names."""

_SEGMENT = re.compile(r"[A-Za-z0-9_.-]+")
_SELF = """
# The Vault client token renews itself before it expires, and checks itself at start.
path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}
"""


def check_name(value: str, field: str) -> str:
    """``value`` if it is one path segment of letters, digits, ``- _ .``, else a clear error.

    Names are pasted into policy paths: ``+``, ``*``, ``/`` or a quote would widen the policy
    or break out of its string.
    """
    if not _SEGMENT.fullmatch(value) or value in {".", ".."}:
        raise ConfigurationError(
            f"{field}: {value!r} is not a valid name; use one path segment of letters, digits "
            "and - _ ."
        )
    return value


def check_path(value: str, field: str) -> str:
    """``value`` without outer slashes if every segment passes ``check_name``."""
    stripped = value.strip("/")
    for segment in stripped.split("/"):
        check_name(segment, field)
    return stripped


def shipped_text(name: str) -> str:
    """The HCL of shipped policy ``name``, as written (default mount and base path)."""
    if name not in SHIPPED:
        raise ConfigurationError(f"unknown policy {name!r}; shipped: {', '.join(SHIPPED)}")
    return resources.files(__package__).joinpath(f"{name}.hcl").read_text(encoding="utf-8")


def render(name: str, *, mount: str = DEFAULT_MOUNT, base_path: str = DEFAULT_BASE_PATH) -> str:
    """Shipped policy ``name`` for ``mount`` and ``base_path``."""
    text = shipped_text(name)
    mount, base = check_path(mount, "--mount"), check_path(base_path, "--base-path")
    for kind in ("data", "metadata"):
        text = text.replace(
            f'"{DEFAULT_MOUNT}/{kind}/{DEFAULT_BASE_PATH}/', f'"{mount}/{kind}/{base}/'
        )
    return text


def reader_policy(
    title: str,
    *,
    credentials: Iterable[str] = (),
    oauth1_keys: Iterable[str] = (),
    mount: str = DEFAULT_MOUNT,
    base_path: str = DEFAULT_BASE_PATH,
) -> str:
    """A policy that reads the named credentials' ``.../token`` and OAuth 1 keys, nothing else.

    Never a refresh record, seed or client definition: whoever holds it can use the named
    access tokens and cannot mint new ones.
    """
    mount, base = check_path(mount, "--mount"), check_path(base_path, "--base-path")
    names = sorted({check_name(name, "--credential") for name in credentials})
    keys = sorted({check_name(name, "--oauth1-keys") for name in oauth1_keys})
    if not names and not keys:
        raise ConfigurationError("--credential: name at least one credential")
    paths = [f"{mount}/data/{base}/credentials/{name}/token" for name in names]
    paths += [f"{mount}/data/{base}/oauth1/{name}" for name in keys]
    header = (
        f"# {title}\n# Written by `switchboard vault`; it reads these paths and nothing else.\n"
    )
    stanzas = "".join(f'\npath "{path}" {{\n  capabilities = ["read"]\n}}\n' for path in paths)
    return header + stanzas + _SELF
