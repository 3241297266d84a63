"""The ``VaultConnection`` block: where Switchboard's Vault is and who it is there.

The block is the one place that turns a Vault configuration into resources: ``get_resources``
builds the store, refresher, token cache and LivePerson clients of its identity, and
``resources_for(name)`` registers them in the process's ``switchboard.resources.registry``
under the block's name, so every task and batch of the process shares one login and one cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from prefect.blocks.core import Block
from pydantic import HttpUrl, SecretStr

from blocks._fields import like, settings_from
from switchboard import ConfigurationError, VaultSettings
from switchboard.resources import Resources, registry
from switchboard.vault import CredentialStore

__all__ = ["VaultConnection", "resources_for"]

_S = VaultSettings


class VaultConnection(Block):
    """A Vault (or OpenBao) server, the identity Switchboard uses there (a token, or an AppRole
    role id and secret id) and where its credentials live (KV v2 mount and base path). The
    fields are ``VaultSettings``'s, with the same names; the ``VAULT_*`` variables are ignored.
    Flows take the block's name; no token value ever passes through a flow parameter.

    Example:
        ```python
        from blocks.vault import VaultConnection

        connection = VaultConnection.load("BLOCK_NAME")
        store = connection.get_store()
        ```
    """

    _block_type_name = "Switchboard Vault Connection"
    _block_type_slug = "switchboard-vault-connection"
    _logo_url = HttpUrl("https://github.com/openbao.png")  # OpenBao's GitHub avatar (square)
    _documentation_url = HttpUrl("https://openbao.org/docs/secrets/kv/kv-v2/")

    addr: str = like(_S, "addr", title="Vault address")
    token: SecretStr | None = like(_S, "token", title="Vault token")
    namespace: str | None = like(_S, "namespace", title="Vault namespace")
    role_id: SecretStr | None = like(_S, "role_id", title="AppRole role ID")
    secret_id: SecretStr | None = like(_S, "secret_id", title="AppRole secret ID")
    approle_mount: str = like(_S, "approle_mount", title="AppRole mount")
    ca_cert: Path | None = like(_S, "ca_cert", title="CA certificate file")
    skip_verify: bool = like(_S, "skip_verify", title="Skip TLS verification")
    mount: str = like(_S, "mount", title="KV v2 mount")
    base_path: str = like(_S, "base_path", title="Base path")
    timeout: float = like(_S, "timeout", title="Request timeout (seconds)")

    def to_settings(self) -> VaultSettings:
        """The same connection as ``VaultSettings``, ignoring ``VAULT_*`` variables.

        Raises:
            ConfigurationError: no identity (a token, or a role id and a secret id), or a value
                the settings refuse.
        """
        if self.token is None and not (self.role_id and self.secret_id):
            raise ConfigurationError(
                "VaultConnection: set `token`, or `role_id` and `secret_id` for AppRole"
            )
        return settings_from(self, VaultSettings)

    def get_resources(self) -> Resources:
        """New resources for this identity, logged in on first use (the process's shared ones
        are ``resources_for(name)``)."""
        return Resources.from_settings(self.to_settings())

    def get_store(self) -> CredentialStore:
        """A logged-in ``CredentialStore`` for this identity."""
        return self.get_resources().store


def _load(name: str) -> Resources:
    # sync even when called from an async flow's thread (the routing tasks);
    # ``_sync`` is Prefect's async_dispatch switch, absent from its type hints
    block = VaultConnection.load(name, _sync=True)  # type: ignore[call-arg]
    return cast(VaultConnection, block).get_resources()


def resources_for(vault_block: str | None) -> Resources:
    """The process's resources for a ``VaultConnection`` block name, loaded on first use, or for
    the ``VAULT_*`` settings (``None``; also ``switchboard.consumer``'s)."""
    if vault_block is None:
        return registry.default()
    return registry.get(f"block/{vault_block}", lambda: _load(vault_block))
