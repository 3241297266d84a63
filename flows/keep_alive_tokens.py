"""Keep idle refresh tokens alive, and leave the day's view of every credential's token."""

from __future__ import annotations

from prefect import flow

from flows._task_values import result_of
from flows.refresh_due_tokens import refresh_due_tokens
from switchboard import RefreshOutcome
from tasks.reports import publish_fleet_table

__all__ = ["keep_alive_tokens"]


@flow(
    name="keep-alive-tokens",
    flow_run_name="keep alive tokens idle {min_idle_hours} h",
    persist_result=False,
)
async def keep_alive_tokens(
    min_idle_hours: float = 12.0, vault_block: str | None = None
) -> list[RefreshOutcome]:
    """Refresh every refresh-token credential unused for `min_idle_hours`, due or not, then
    publish the fleet table (`token-fleet`): every credential's state, whatever this run did.

    A `refresh_due_tokens` run with that keep-alive age: what is due anyway is refreshed too,
    and revoked credentials and those backing off after failures are left alone, as in every run.
    The table is published when some refreshes failed too: that is when it is read.

    Args:
        min_idle_hours: refresh those whose token is at least this old.
        vault_block: name of a `VaultConnection` block; empty means the `VAULT_*` settings.

    Returns:
        One outcome per credential (`skipped` for those neither idle nor due).
    """
    state = await refresh_due_tokens(
        min_idle_hours=min_idle_hours, vault_block=vault_block, return_state=True
    )
    await result_of(publish_fleet_table.submit(vault_block))
    outcomes: list[RefreshOutcome] = await state.aresult()  # raises the subflow's failure
    return outcomes
