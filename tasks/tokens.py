"""Prefect tasks over the token core: plan, refresh one credential, report, explain a failure.

Tasks take credential *names* and a Vault block name, never a secret; they return names,
states and error classes only, persist no result and use no cache.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.logging import get_run_logger

from blocks.vault import resources_for
from switchboard import (
    CredentialHealth,
    RefreshOutcome,
    SwitchboardError,
    format_time,
    utcnow,
)
from switchboard.refresh import Plan, Refresher

__all__ = [
    "REPORT_ARTIFACT_KEY",
    "CredentialRefreshFailed",
    "explain_credential_failure",
    "explain_credential_recovery",
    "plan_refreshes",
    "publish_refresh_report",
    "read_credential_health",
    "refresh_credential",
    "refresh_credentials",
]

REPORT_ARTIFACT_KEY = "token-refresh-report"
CREDENTIALS_PER_BATCH_EVENT = 100
"""Related resources per ``switchboard.tokens.refreshed`` event (Prefect accepts 500 by default)."""
RUNBOOK_ARTIFACT_KEY = "credential-failure-runbook"
RECOVERY_ARTIFACT_KEY = "credential-recovery"


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


@task(name="plan-refreshes", persist_result=False, cache_policy=NO_CACHE)
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
    and recoveries are still logged and evented one by one.
    """
    logger = get_run_logger()
    refresher = _refresher(vault_block)  # the plan's reads are reused: same process
    outcome = refresher.refresh(
        credential,
        force=force,
        idle_after=idle_after,
        snapshot=refresher.planned(credential),
    )
    if outcome.status == "failed":
        logger.error(
            "%s: %s (%s): %s", credential, outcome.state, outcome.error_class, outcome.message
        )
        if outcome.alert:  # else this cause alerted within the window (health's `alerts`)
            _emit("switchboard.token.refresh-failed", outcome, cause=outcome.alert)
        return outcome
    if outcome.alert and outcome.refresh_deadline_at:
        logger.warning("%s: %s", credential, outcome.message)
        deadline = format_time(outcome.refresh_deadline_at)
        _emit("switchboard.token.refresh-expiring", outcome, cause=outcome.alert, deadline=deadline)
    if outcome.recovered:
        _emit("switchboard.token.recovered", outcome)
    elif in_batch and outcome.status == "refreshed" and not outcome.alert:
        return outcome
    logger.info("%s: %s, state %s", credential, outcome.status, outcome.state)
    if outcome.status == "refreshed" and not in_batch:
        _emit("switchboard.token.refreshed", outcome)
    return outcome


def _report_batch(batch: str, outcomes: list[RefreshOutcome]) -> None:
    """One log line for the batch, one ``switchboard.tokens.refreshed`` event per 100 refreshed.

    Each refreshed credential is a related resource (role ``credential``) of one of those events,
    so automations can still follow a single credential through a fleet run.
    """
    counts = Counter(outcome.status for outcome in outcomes)
    get_run_logger().info(
        "%s: %s", batch, ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    )
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
    credentials: list[str],
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
        credentials: the credentials' names.
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


def _expires_in(outcome: RefreshOutcome) -> str:
    if outcome.expires_at is None:
        return "-"
    left = outcome.expires_at - utcnow()
    if left <= timedelta(0):
        return "expired"
    minutes = int(left.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


@task(name="publish-refresh-report", persist_result=False, cache_policy=NO_CACHE)
def publish_refresh_report(outcomes: list[RefreshOutcome]) -> None:
    """Leave a table artifact: one row per credential, no secret in any cell."""
    rows = [
        {
            "credential": outcome.name,
            "result": outcome.status,
            "state": outcome.state or "-",
            "expires in": _expires_in(outcome),
            "refresh token dies": format_time(outcome.refresh_deadline_at)
            if outcome.refresh_deadline_at
            else "-",
            "last error": outcome.error_class or "-",
        }
        for outcome in sorted(outcomes, key=lambda o: o.name)
    ]
    failed = sum(1 for outcome in outcomes if outcome.status == "failed")
    create_table_artifact(
        table=rows,
        key=REPORT_ARTIFACT_KEY,
        description=f"Token refresh: {len(outcomes)} credential(s), {failed} failed.",
    )


@task(name="read-credential-health", persist_result=False, cache_policy=NO_CACHE)
def read_credential_health(
    credential: str, vault_block: str | None = None
) -> CredentialHealth | None:
    """The credential's health record from Vault (holds no secret)."""
    return resources_for(vault_block).store.read_health(credential)


_RUNBOOKS = {
    "CredentialRevoked": (
        "The identity provider answered `invalid_grant`: the refresh token is revoked or "
        "expired. Switchboard will not retry it.\n\n"
        "1. Obtain a new refresh token for this client from the provider.\n"
        "2. Seed it: `switchboard credentials seed {name}` (reads it from stdin), or\n"
        "   `bao kv put {mount}/{base}/credentials/{name}/seed refresh_token=-`.\n"
        "3. Run the `acquire-token` deployment for `{name}` (or wait for the next refresh run)."
    ),
    "ClientRejected": (
        "The token endpoint rejected the client (`invalid_client`, `unauthorized_client` or "
        "`invalid_scope`): the client definition is wrong.\n\n"
        "1. Check `client_id`, the secret(s), `grant`, `scope` and `auth_method` at "
        "`{mount}/{base}/credentials/{name}/client`.\n"
        "2. To rotate a client secret without downtime, write `client_secrets` as a list with "
        "the new secret first and the old one second; drop the old one later.\n"
        "3. Run the `acquire-token` deployment for `{name}`."
    ),
    "ConfigurationError": (
        "The stored client definition (or seed) is missing or invalid; the message names the "
        "field.\n\n1. Fix it with `switchboard credentials add {name} ...` or `bao kv put`.\n"
        "2. Run the `acquire-token` deployment for `{name}`."
    ),
    "TransientTokenError": (
        "The token endpoint is unreachable, slow, failing (5xx) or rate limiting (429). "
        "Switchboard backs off and retries by itself; the refresh token is kept.\n\n"
        "1. Check the provider's status and the network path to the token URL.\n"
        "2. If the token expires before the provider recovers, consumers will get 401s."
    ),
    "VaultUnavailable": (
        "Vault did not answer or is sealed. A pair obtained meanwhile is kept in the local "
        "write-ahead journal and written on the next run.\n\n"
        "1. Check Vault's health (`bao status`) and unseal it if needed."
    ),
    "RefreshInDoubt": (
        "A worker claimed the refresh token, may have sent it to the provider, and never wrote "
        "the outcome (its process or host died, or Vault refused its write). Nobody spends that "
        "refresh token again on their own: with a strict provider that would revoke the family."
        "\n\n"
        "1. On the host the health message names, run `switchboard refresh {name}` with the "
        "same journal directory: it writes the pair the provider answered and the credential "
        "is healthy again.\n"
        "2. If that host and its journal are gone, either write a new seed "
        "(`switchboard credentials seed {name}`), or accept the risk that the provider already "
        "rotated it and release the claim:\n"
        "   `switchboard credentials release {name} --accept-reuse-risk`.\n"
        "3. Run the `acquire-token` deployment for `{name}`."
    ),
    "refresh_token_expires": (
        "The expiry radar: the refresh token's life ends (the time is in the health record's "
        "`refresh_deadline_at`) before a refresh can renew it; after that every refresh fails "
        "with `invalid_grant`. Nothing is broken yet.\n\n"
        "1. If the provider fixes the refresh token's lifetime (a session maximum, a token that "
        "does not rotate), authorize the client again and write the new refresh token as a seed "
        "before then: `switchboard credentials seed {name}`.\n"
        "2. If it renews the lifetime on every refresh but the lifetime is shorter than the "
        "keep-alive, set `keep_alive_seconds` below it at "
        "`{mount}/{base}/credentials/{name}/client`."
    ),
    "refresh_token_idle": (
        "The expiry radar: the provider revokes refresh tokens unused for "
        "`refresh_idle_limit_seconds`, and Switchboard would not use this one again before then "
        "(the health record's `refresh_deadline_at`).\n\n"
        "1. Set `keep_alive_seconds` below `refresh_idle_limit_seconds` at "
        "`{mount}/{base}/credentials/{name}/client`, or run the `acquire-token` deployment for "
        "`{name}` now to buy one more idle period."
    ),
    "VaultPermissionDenied": (
        "Vault's policy does not let Switchboard's identity use this credential's paths.\n\n"
        "1. Compare the policy (switchboard/policies/) with the paths under "
        "`{mount}/{base}/credentials/{name}/`."
    ),
}
_GENERIC_RUNBOOK = (
    "An unexpected failure. Read the health record at `{mount}/{base}/credentials/{name}/health` "
    "and the flow run's logs, then run the `acquire-token` deployment for `{name}`."
)


@task(name="explain-credential-failure", persist_result=False, cache_policy=NO_CACHE)
def explain_credential_failure(
    credential: str,
    error_class: str,
    health: CredentialHealth | None,
    vault_block: str | None = None,
) -> str:
    """Publish a markdown runbook for the failure and log it at error level.

    Returns:
        The error class the runbook was chosen for (the health record's, when there is one).
    """
    logger = get_run_logger()
    store = resources_for(vault_block).store
    kind = (health.error_class if health and health.error_class else None) or error_class
    steps = _RUNBOOKS.get(kind, _GENERIC_RUNBOOK).format(
        name=credential, mount=store.kv.mount, base=store.base_path
    )
    if health is None:
        status = "No health record yet."
    else:
        status = (
            f"state **{health.state}**, {health.consecutive_failures} consecutive failure(s), "
            f"last attempt {health.last_attempt_at}, last success {health.last_success_at}, "
            f"token expires {health.expires_at}, refresh token dies "
            f"{health.refresh_deadline_at or 'when the provider says'}.\n\n"
            f"> {health.message or ''}"
        )
    create_markdown_artifact(
        markdown=f"# Credential `{credential}`: {kind}\n\n{status}\n\n## What to do\n\n{steps}\n",
        key=RUNBOOK_ARTIFACT_KEY,
        description=f"Runbook for credential {credential} ({kind}).",
    )
    logger.error(
        "credential %s needs attention: %s (%s)",
        credential,
        kind,
        health.state if health else "no health record",
    )
    return kind


@task(name="explain-credential-recovery", persist_result=False, cache_policy=NO_CACHE)
def explain_credential_recovery(credential: str, health: CredentialHealth | None) -> str:
    """Publish that an alerted credential is healthy again, and log it.

    Returns:
        The credential's state as Vault has it now (``healthy`` unless it failed again since).
    """
    state = health.state if health else "unknown"
    create_markdown_artifact(
        markdown=f"# Credential `{credential}` recovered\n\nstate **{state}**, last success "
        f"{health.last_success_at if health else '-'}, token expires "
        f"{health.expires_at if health else '-'}.\n",
        key=RECOVERY_ARTIFACT_KEY,
        description=f"Credential {credential} recovered.",
    )
    get_run_logger().info("credential %s recovered (state %s)", credential, state)
    return state
