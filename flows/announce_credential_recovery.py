"""Tell people a credential that alerted is healthy again: the one recovery notice."""

from __future__ import annotations

from prefect import flow

from tasks.reports import explain_credential_recovery
from tasks.tokens import read_credential_health

__all__ = ["announce_credential_recovery"]


@flow(
    name="announce-credential-recovery",
    flow_run_name="announce {credential} recovered",
    persist_result=False,
)
def announce_credential_recovery(credential: str, vault_block: str | None = None) -> str:
    """Read the credential's health in Vault and publish that it recovered.

    Triggered by the `switchboard.token.recovered` event, which a credential emits once when it
    heals after an alert (a failure, or the expiry radar), however many alerts it raised.

    Args:
        credential: the recovered credential's name.
        vault_block: name of a `VaultConnection` block; empty means the `VAULT_*` settings.

    Returns:
        The credential's state as Vault has it now.
    """
    health = read_credential_health(credential, vault_block)
    return explain_credential_recovery(credential, health)
