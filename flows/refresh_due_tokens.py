"""Keep every credential's token fresh: discover, pick the due ones, refresh each, report."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from prefect import flow, unmapped
from prefect.context import SyncClientContext
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from flows._run_names import refresh_run_name, rename_flow_run
from flows._task_values import as_is, result_of
from switchboard import RefreshOutcome, TokenSettings, load
from switchboard.refresh import Backlog
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


def _outcomes(
    due: list[str], futures: Sequence[PrefectFuture[Any]], *, one_each: bool
) -> list[RefreshOutcome]:
    """Every task's outcomes. A task that broke reports its credential failed (``one_each``:
    one task per due credential, in order); a due credential no batch reported on is failed
    with the error of a batch that broke."""
    outcomes: list[RefreshOutcome] = []
    broken: list[object] = []  # whatever a broken batch's result is, None included
    for index, future in enumerate(futures):
        # the future's own result(), not its state's: that one is a coroutine in an async flow
        result = future.result(raise_on_failure=False)
        if future.state.is_completed():
            outcomes.extend(result if isinstance(result, list) else [result])
        elif one_each:
            outcomes.append(_failed(due[index], result))
        else:
            broken.append(result)
    if broken:  # the batches share one backlog: which took what is not known, so the first
        reported = {outcome.name for outcome in outcomes}
        outcomes.extend(_failed(name, broken[0]) for name in due if name not in reported)
    return outcomes


@flow(
    name="refresh-due-tokens",
    flow_run_name=refresh_run_name,  # then "refresh 3 due of 120", once planned
    # bounded concurrency: at most SWITCHBOARD_TOKEN_MAX_CONCURRENCY credentials at once
    task_runner=ThreadPoolTaskRunner(max_workers=load(TokenSettings).max_concurrency),  # type: ignore[arg-type]  # Prefect's TaskRunner generic is invariant
    persist_result=False,
)
async def refresh_due_tokens(
    credentials: list[str] | None = None,
    force: bool = False,
    vault_block: str | None = None,
    min_idle_hours: float | None = None,
) -> list[RefreshOutcome]:
    """Refresh the credentials that are due, each as its own task run, a few at a time.

    Above `SWITCHBOARD_TOKEN_PER_CREDENTIAL_TASKS_UP_TO` due credentials the run uses one
    batch task per concurrency slot instead (each credential still logged and evented), each
    taking the next due credential as it finishes one.

    Args:
        credentials: credential names to consider; empty means every credential in Vault.
        force: refresh even those not yet due.
        vault_block: name of a `VaultConnection` block; empty means the `VAULT_*` settings.
        min_idle_hours: also refresh refresh tokens at least this old (keep-alive), instead of
            each credential's `keep_alive_seconds`; empty keeps those.

    Returns:
        One outcome per credential (names, states, error classes; never a token).
    """
    # One sync Prefect client for every task run of this run, as a sync flow's engine holds:
    # an async flow's holds only an async one, and each task run on the pool's threads would
    # build two (an SSL context and an API version check each).
    with SyncClientContext.get_or_create():
        settings = load(TokenSettings)
        idle_after = None if min_idle_hours is None else min_idle_hours * 3600
        plan = await result_of(plan_refreshes.submit(credentials, force, vault_block, idle_after))
        total = len(plan.due) + len(plan.skipped)
        await rename_flow_run(f"{'force-' if force else ''}refresh {len(plan.due)} due of {total}")
        same: dict[str, Any] = {
            "force": unmapped(force),
            "vault_block": unmapped(vault_block),
            "idle_after": unmapped(idle_after),
        }
        one_each = len(plan.due) <= settings.per_credential_tasks_up_to
        if one_each:
            futures: Sequence[PrefectFuture[Any]] = refresh_credential.map(plan.due, **same)
        else:
            batches = min(settings.max_concurrency, len(plan.due))
            labels = [f"batch-{index + 1}-of-{batches}" for index in range(batches)]
            futures = refresh_credentials.map(unmapped(Backlog(plan.due)), labels, **same)
        refreshed = await asyncio.to_thread(_outcomes, plan.due, futures, one_each=one_each)
        # the process ends with the run: the textfile keeps them
        await asyncio.to_thread(record_refresh_metrics, vault_block)
        outcomes = plan.skipped + refreshed
        await result_of(publish_refresh_report.submit(as_is(outcomes)))
        failed = sorted(outcome.name for outcome in outcomes if outcome.status == "failed")
        if failed:
            raise RefreshFailures(f"{len(failed)} credential(s) failed: {', '.join(failed)}")
        return outcomes
