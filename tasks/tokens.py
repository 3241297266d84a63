"""Prefect tasks over the token core: plan, refresh credentials, read a health record.

Tasks take credential *names* and a Vault block name, never a secret; they return names,
states and error classes only, persist no result and use no cache.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.logging import get_run_logger

from blocks.vault import resources_for
from switchboard import (
    CredentialHealth,
    RefreshOutcome,
    SwitchboardError,
    format_time,
)
from switchboard.refresh import Plan, Refresher

__all__ = [
    "CredentialRefreshFailed",
    "plan_refreshes",
    "read_credential_health",
    "record_refresh_metrics",
    "refresh_credential",
    "refresh_credentials",
]

CREDENTIALS_PER_BATCH_EVENT = 100
"""Related resources per ``switchboard.tokens.refreshed`` event (Prefect accepts 500 by default)."""


class CredentialRefreshFailed(SwitchboardError):
    """A credential's refresh failed; ``outcome`` says how (no secret in it)."""

    def __init__(self, outcome: RefreshOutcome) -> None:
        super().__init__(f"{outcome.name}: {outcome.error_class}: {outcome.message}")
        self.outcome = outcome


def _refresher(vault_block: str | None) -> Refresher:
    """The process's ``Refresher`` for the Vault identity (one per block name, or the settings').

    Shared by every task of the process, so a run's plan is reused by its refresh tasks.
    """
    return resources_for(vault_block).refresher


def record_refresh_metrics(vault_block: str | None) -> None:
    """Add this process's refresh counts to ``SWITCHBOARD_METRICS_TEXTFILE``, if set: the process
    ends with the run, so the file is where they last.

    A file that cannot be written is logged, not raised: the refreshes are done and stored, and
    failing the run would report them as failed.
    """
    export = resources_for(vault_block).refresh_metrics
    if export is None:
        return
    try:
        export.flush()
    except (OSError, ValueError) as exc:
        get_run_logger().warning("refresh metrics not written to %s: %s", export.path, exc)


def _emit(event: str, outcome: RefreshOutcome, **extra: Any) -> None:
    """One event about the credential: names, states and causes only, never a secret."""
    emit_event(
        event=event,
        resource={
            "prefect.resource.id": f"switchboard.credential.{outcome.name}",
            "prefect.resource.name": outcome.name,
        },
        payload={
            "credential": outcome.name,
            "status": outcome.status,
            "state": outcome.state,
            "error_class": outcome.error_class,
            **extra,
        },
    )


@task(
    name="plan-refreshes",
    task_run_name="plan-refreshes",
    persist_result=False,
    cache_policy=NO_CACHE,
)
def plan_refreshes(
    credentials: list[str] | None,
    force: bool = False,
    vault_block: str | None = None,
    idle_after: float | None = None,
) -> Plan:
    """Discover the credentials (all, or the given names) and pick those due now.

    Args:
        credentials: names to consider; ``None`` means every credential under the base path.
        force: treat every credential as due.
        vault_block: name of a ``VaultConnection`` block; ``None`` uses the settings.
        idle_after: seconds after which a refresh token counts as idle (keep-alive), instead
            of each credential's ``keep_alive_seconds``.

    Returns:
        The due names, and a ``skipped`` outcome for each of the others.
    """
    logger = get_run_logger()
    refresher = _refresher(vault_block)
    plan = refresher.plan(refresher.discover(credentials), force=force, idle_after=idle_after)
    logger.info("%d credential(s) due, %d not due", len(plan.due), len(plan.skipped))
    return plan


def _refresh_and_report(
    credential: str,
    force: bool,
    vault_block: str | None,
    idle_after: float | None,
    *,
    in_batch: bool = False,
) -> RefreshOutcome:
    """Refresh one credential, log the outcome and emit its events.

    ``in_batch``: a plain success is left to the batch's summary (``_report_batch``); failures
    and recoveries are still logged and evented one by one (the run logger is only fetched
    for a line that is written: a fleet's plain successes write none).
    """
    refresher = _refresher(vault_block)  # the plan's reads are reused: same process
    outcome = refresher.refresh(
        credential,
        force=force,
        idle_after=idle_after,
        snapshot=refresher.planned(credential),
    )
    if outcome.status == "failed":
        get_run_logger().error(
            "%s: %s (%s): %s", credential, outcome.state, outcome.error_class, outcome.message
        )
        if outcome.alert:  # else this cause alerted within the window (health's `alerts`)
            _emit("switchboard.token.refresh-failed", outcome, cause=outcome.alert)
        return outcome
    if outcome.alert and outcome.refresh_deadline_at:
        get_run_logger().warning("%s: %s", credential, outcome.message)
        deadline = format_time(outcome.refresh_deadline_at)
        _emit("switchboard.token.refresh-expiring", outcome, cause=outcome.alert, deadline=deadline)
    if outcome.recovered:
        _emit("switchboard.token.recovered", outcome)
    elif in_batch and outcome.status == "refreshed" and not outcome.alert:
        return outcome
    get_run_logger().info("%s: %s, state %s", credential, outcome.status, outcome.state)
    if outcome.status == "refreshed" and not in_batch:
        _emit("switchboard.token.refreshed", outcome)
    return outcome


def _report_batch(batch: str, outcomes: list[RefreshOutcome]) -> None:
    """One log line for the batch, one ``switchboard.tokens.refreshed`` event per 100 refreshed.

    Each refreshed credential is a related resource (role ``credential``) of one of those events,
    so automations can still follow a single credential through a fleet run.
    """
    counts = Counter(outcome.status for outcome in outcomes)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    # the batches share one backlog: one that started last may find nothing left to take
    get_run_logger().info("%s: %s", batch, summary or "nothing left to take")
    refreshed = [outcome.name for outcome in outcomes if outcome.status == "refreshed"]
    for start in range(0, len(refreshed), CREDENTIALS_PER_BATCH_EVENT):
        names = refreshed[start : start + CREDENTIALS_PER_BATCH_EVENT]
        emit_event(
            event="switchboard.tokens.refreshed",
            resource={"prefect.resource.id": "switchboard.credentials"},
            related=[
                {
                    "prefect.resource.id": f"switchboard.credential.{name}",
                    "prefect.resource.role": "credential",
                    "prefect.resource.name": name,
                }
                for name in names
            ],
            payload={"batch": batch, "count": len(names)},
        )


@task(
    name="refresh-credential",
    task_run_name="refresh-{credential}",
    persist_result=False,
    cache_policy=NO_CACHE,
)
def refresh_credential(
    credential: str,
    force: bool = False,
    vault_block: str | None = None,
    idle_after: float | None = None,
) -> RefreshOutcome:
    """Refresh one credential (single-flight, write-ahead) and emit its event.

    Args:
        credential: the credential's name under ``<base>/credentials/``.
        force: refresh even when not due.
        vault_block: name of a ``VaultConnection`` block; ``None`` uses the settings.
        idle_after: the keep-alive override given to ``plan_refreshes``.

    Returns:
        The outcome: status, health state, expiry and error class; never a token.

    Raises:
        CredentialRefreshFailed: the refresh failed; the health record in Vault says why.
    """
    outcome = _refresh_and_report(credential, force, vault_block, idle_after)
    if outcome.status == "failed":
        raise CredentialRefreshFailed(outcome)
    return outcome


@task(
    name="refresh-credentials",
    task_run_name="refresh-{batch}",
    persist_result=False,
    cache_policy=NO_CACHE,
)
def refresh_credentials(
    credentials: Iterable[str],
    batch: str,
    force: bool = False,
    vault_block: str | None = None,
    idle_after: float | None = None,
) -> list[RefreshOutcome]:
    """Fleet mode: refresh several credentials in one task run, one after another.

    Failures and recoveries are logged and evented one by one as in ``refresh_credential``;
    plain successes are summed up in one log line and ``switchboard.tokens.refreshed`` events
    (per-credential lines and events dominate a large fleet's cost: BENCHMARKS.md). A failed
    credential is reported in its outcome (the flow fails on it), so the batch goes on.

    Args:
        credentials: the credentials' names: a list, or a ``Backlog`` the run's batches share
            (each takes the next name as it finishes one, so none idles while another has
            several left).
        batch: a label for the task run, e.g. ``batch-3-of-8``.
        force: refresh even when not due.
        vault_block: name of a ``VaultConnection`` block; ``None`` uses the settings.
        idle_after: the keep-alive override given to ``plan_refreshes``.
    """
    outcomes = [
        _refresh_and_report(credential, force, vault_block, idle_after, in_batch=True)
        for credential in credentials
    ]
    _report_batch(batch, outcomes)
    return outcomes


@task(
    name="read-credential-health",
    task_run_name="read-health-{credential}",
    persist_result=False,
    cache_policy=NO_CACHE,
)
def read_credential_health(
    credential: str, vault_block: str | None = None
) -> CredentialHealth | None:
    """The credential's health record from Vault (holds no secret)."""
    return resources_for(vault_block).store.read_health(credential)
