"""The ``VaultConnection`` block: where Switchboard's Vault is and who it is there."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Literal, cast

from prefect.blocks.core import Block
from pydantic import Field, HttpUrl, SecretStr

from switchboard import DEFAULT_BASE_PATH, DEFAULT_MOUNT, VaultSettings, load
from switchboard.vault import CredentialStore

__all__ = ["VaultConnection", "credential_store"]

_stores: dict[str | None, CredentialStore] = {}
_stores_guard = threading.Lock()


class VaultConnection(Block):
    """A Vault (or OpenBao) server, the identity Switchboard uses there (a token or an AppRole)
    and where its credentials live (KV v2 mount and base path). Flows take the block's name;
    no token value ever passes through a flow parameter.

    Example:
        ```python
        from blocks.vault import VaultConnection

        connection = VaultConnection.load("BLOCK_NAME")
        settings = connection.to_settings()
        ```
    """

    _block_type_name = "Switchboard Vault Connection"
    _block_type_slug = "switchboard-vault-connection"
    _logo_url = HttpUrl("https://github.com/openbao.png")  # OpenBao's GitHub avatar (square)
    _documentation_url = HttpUrl("https://openbao.org/docs/secrets/kv/kv-v2/")

    address: str = Field(description="Vault address, e.g. https://vault.example.com:8200.")
    namespace: str | None = Field(
        default=None, description="Vault Enterprise or OpenBao namespace, if any."
    )
    auth_method: Literal["token", "approle"] = Field(
        default="token", description="How to log in: a Vault token, or AppRole role id + secret id."
    )
    token: SecretStr | None = Field(default=None, description="Vault token (auth method `token`).")
    role_id: SecretStr | None = Field(default=None, description="AppRole role id.")
    secret_id: SecretStr | None = Field(default=None, description="AppRole secret id.")
    approle_mount: str = Field(
        default="approle", description="Mount point of the AppRole auth method."
    )
    mount: str = Field(default=DEFAULT_MOUNT, description="KV v2 mount point.")
    base_path: str = Field(
        default=DEFAULT_BASE_PATH, description="Base path of Switchboard's secrets under the mount."
    )
    tls_verify: bool = Field(
        default=True, description="Verify Vault's TLS certificate (turn off only for local tests)."
    )
    ca_cert: str | None = Field(
        default=None, description="Path of a CA bundle to verify Vault's certificate with."
    )
    timeout_seconds: float = Field(default=10.0, gt=0, description="Seconds per Vault request.")

    def to_settings(self) -> VaultSettings:
        """The same connection as ``VaultSettings``, ignoring ``VAULT_*`` variables.

        Raises:
            ConfigurationError: when the auth method's fields are missing.
        """
        from switchboard import ConfigurationError

        approle = self.auth_method == "approle"
        if approle and (self.role_id is None or self.secret_id is None):
            raise ConfigurationError(
                "VaultConnection: auth method `approle` needs `role_id` and `secret_id`"
            )
        if not approle and self.token is None:
            raise ConfigurationError("VaultConnection: auth method `token` needs `token`")
        return VaultSettings(
            addr=self.address,
            token=None if approle else self.token,
            namespace=self.namespace,
            role_id=self.role_id.get_secret_value() if approle and self.role_id else None,
            secret_id=self.secret_id if approle else None,
            approle_mount=self.approle_mount,
            ca_cert=Path(self.ca_cert) if self.ca_cert else None,
            skip_verify=not self.tls_verify,
            mount=self.mount,
            base_path=self.base_path,
            timeout=self.timeout_seconds,
        )


def credential_store(vault_block: str | None) -> CredentialStore:
    """The process's one logged-in store for a ``VaultConnection`` block name (``None``: the
    ``VAULT_*`` settings), shared by the token and the routing tasks."""
    with _stores_guard:
        store = _stores.get(vault_block)
        if store is None:
            if vault_block is None:
                settings = load(VaultSettings)
            else:
                # sync even when called from an async flow's thread (the routing tasks);
                # ``_sync`` is Prefect's async_dispatch switch, absent from its type hints
                block = VaultConnection.load(vault_block, _sync=True)  # type: ignore[call-arg]
                settings = cast(VaultConnection, block).to_settings()
            store = _stores[vault_block] = CredentialStore.from_settings(settings)
        return store
