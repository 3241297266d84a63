"""Keep every credential's token fresh: discover, pick the due ones, refresh each, report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prefect import flow, unmapped
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from flows._run_names import refresh_run_name, rename_flow_run
from switchboard import RefreshOutcome, TokenSettings, load
from tasks.reports import publish_refresh_report
from tasks.tokens import (
    CredentialRefreshFailed,
    plan_refreshes,
    record_refresh_metrics,
    refresh_credential,
    refresh_credentials,
)

__all__ = ["RefreshFailures", "refresh_due_tokens"]


class RefreshFailures(Exception):
    """Some credentials failed; the others were refreshed (see the run's table artifact)."""


def _failed(name: str, error: object) -> RefreshOutcome:
    if isinstance(error, CredentialRefreshFailed):
        return error.outcome
    return RefreshOutcome(
        name=name, status="failed", error_class=type(error).__name__, message=str(error)
    )


def _batches(names: list[str], count: int) -> list[list[str]]:
    return [names[index::count] for index in range(min(count, len(names)))]


def _outcomes(
    groups: list[list[str]], futures: Sequence[PrefectFuture[Any]]
) -> list[RefreshOutcome]:
    """Each group's outcomes; a group whose task itself broke reports each of its names failed."""
    outcomes: list[RefreshOutcome] = []
    for names, future in zip(groups, futures, strict=True):
        future.wait()
        if future.state.is_completed():
            result = future.result()
            outcomes.extend(result if isinstance(result, list) else [result])
        else:
            error = future.state.result(raise_on_failure=False)
            outcomes.extend(_failed(name, error) for name in names)
    return outcomes


@flow(
    name="refresh-due-tokens",
    flow_run_name=refresh_run_name,  # then "refresh 3 due of 120", once planned
    # bounded concurrency: at most SWITCHBOARD_TOKEN_MAX_CONCURRENCY credentials at once
    task_runner=ThreadPoolTaskRunner(max_workers=load(TokenSettings).max_concurrency),  # type: ignore[arg-type]  # Prefect's TaskRunner generic is invariant
    persist_result=False,
)
def refresh_due_tokens(
    credentials: list[str] | None = None,
    force: bool = False,
    vault_block: str | None = None,
    min_idle_hours: float | None = None,
) -> list[RefreshOutcome]:
    """Refresh the credentials that are due, each as its own task run, a few at a time.

    Above `SWITCHBOARD_TOKEN_PER_CREDENTIAL_TASKS_UP_TO` due credentials the run uses one
    batch task per concurrency slot instead (each credential still logged and evented).

    Args:
        credentials: credential names to consider; empty means every credential in Vault.
        force: refresh even those not yet due.
        vault_block: name of a `VaultConnection` block; empty means the `VAULT_*` settings.
        min_idle_hours: also refresh refresh tokens at least this old (keep-alive), instead of
            each credential's `keep_alive_seconds`; empty keeps those.

    Returns:
        One outcome per credential (names, states, error classes; never a token).
    """
    settings = load(TokenSettings)
    idle_after = None if min_idle_hours is None else min_idle_hours * 3600
    plan = plan_refreshes(credentials, force, vault_block, idle_after)
    total = len(plan.due) + len(plan.skipped)
    rename_flow_run(f"{'force-' if force else ''}refresh {len(plan.due)} due of {total}")
    same: dict[str, Any] = {
        "force": unmapped(force),
        "vault_block": unmapped(vault_block),
        "idle_after": unmapped(idle_after),
    }
    if len(plan.due) <= settings.per_credential_tasks_up_to:
        groups = [[name] for name in plan.due]
        futures: Sequence[PrefectFuture[Any]] = refresh_credential.map(plan.due, **same)
    else:
        groups = _batches(plan.due, settings.max_concurrency)
        labels = [f"batch-{index + 1}-of-{len(groups)}" for index in range(len(groups))]
        futures = refresh_credentials.map(groups, labels, **same)
    refreshed = _outcomes(groups, futures)
    record_refresh_metrics(vault_block)  # the process ends with the run: the textfile keeps them
    outcomes = plan.skipped + refreshed
    publish_refresh_report(outcomes)
    failed = sorted(outcome.name for outcome in outcomes if outcome.status == "failed")
    if failed:
        raise RefreshFailures(f"{len(failed)} credential(s) failed: {', '.join(failed)}")
    return outcomes
