"""Keep every credential's token fresh: discover, pick the due ones, refresh each, report."""

from __future__ import annotations

from prefect import flow, unmapped
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from switchboard._models import RefreshOutcome
from switchboard._settings import TokenSettings, load
from tasks.tokens import (
    CredentialRefreshFailed,
    plan_refreshes,
    publish_refresh_report,
    refresh_credential,
)

__all__ = ["RefreshFailures", "refresh_due_tokens"]


class RefreshFailures(Exception):
    """Some credentials failed; the others were refreshed (see the run's table artifact)."""


def _outcome(name: str, future: PrefectFuture[RefreshOutcome]) -> RefreshOutcome:
    future.wait()
    if future.state.is_completed():
        return future.result()
    error = future.state.result(raise_on_failure=False)
    if isinstance(error, CredentialRefreshFailed):
        return error.outcome
    return RefreshOutcome(
        name=name, status="failed", error_class=type(error).__name__, message=str(error)
    )


@flow(
    name="refresh-due-tokens",
    # bounded concurrency: at most SWITCHBOARD_TOKEN_MAX_CONCURRENCY credentials at once
    task_runner=ThreadPoolTaskRunner(max_workers=load(TokenSettings).max_concurrency),  # type: ignore[arg-type]  # Prefect's TaskRunner generic is invariant
    persist_result=False,
)
def refresh_due_tokens(
    credentials: list[str] | None = None,
    force: bool = False,
    vault_block: str | None = None,
) -> list[RefreshOutcome]:
    """Refresh the credentials that are due, each as its own task run, a few at a time.

    Args:
        credentials: credential names to consider; empty means every credential in Vault.
        force: refresh even those not yet due.
        vault_block: name of a `VaultConnection` block; empty means the `VAULT_*` settings.

    Returns:
        One outcome per credential (names, states, error classes; never a token).
    """
    plan = plan_refreshes(credentials, force=force, vault_block=vault_block)
    futures = refresh_credential.map(
        plan.due, force=unmapped(force), vault_block=unmapped(vault_block)
    )
    outcomes = plan.skipped + [
        _outcome(name, future) for name, future in zip(plan.due, futures, strict=True)
    ]
    publish_refresh_report(outcomes)
    failed = sorted(outcome.name for outcome in outcomes if outcome.status == "failed")
    if failed:
        raise RefreshFailures(f"{len(failed)} credential(s) failed: {', '.join(failed)}")
    return outcomes
