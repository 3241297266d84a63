"""Prefect tasks that tell people what the token flows saw: tables, runbooks, notices.

Every time is shown absolute (UTC) with how far it was from the run, since an artifact is read
long after it was made; an unknown value is an empty cell. Names, states, times and error
classes only: no secret reaches an artifact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from blocks.vault import resources_for
from switchboard import CredentialHealth, RefreshOutcome, utcnow
from switchboard.metrics import CredentialCollector, CredentialReading

__all__ = [
    "FLEET_ARTIFACT_KEY",
    "RECOVERY_ARTIFACT_KEY",
    "REPORT_ARTIFACT_KEY",
    "RUNBOOK_ARTIFACT_KEY",
    "explain_credential_failure",
    "explain_credential_recovery",
    "publish_fleet_table",
    "publish_refresh_report",
]

REPORT_ARTIFACT_KEY = "token-refresh-report"
FLEET_ARTIFACT_KEY = "token-fleet"
RUNBOOK_ARTIFACT_KEY = "credential-failure-runbook"
RECOVERY_ARTIFACT_KEY = "credential-recovery"
_NO_RESULT: dict[str, Any] = {"persist_result": False, "cache_policy": NO_CACHE}

STATES = {
    "healthy": "the last refresh worked",
    "refresh_expiring": "works now; the refresh token dies before a refresh can renew it",
    "expiring": "the last refresh failed; the stored token still works",
    "failing": "the last refresh failed and the stored token has expired",
    "revoked": "the provider revoked the refresh token: write a new seed",
    "misconfigured": "the client definition or seed is wrong: fix it",
    "in_doubt": "a refresh may have spent the refresh token and never reported back",
    "never_refreshed": "no refresh has run yet",
    "unreadable": "Vault would not give its records (the error class says why)",
}
"""What each state in the tables means, printed under them."""


def _span(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    if minutes == 0:
        return "<1 min"
    if minutes >= 2 * 24 * 60:
        return f"{minutes // (24 * 60)} d"
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def when(moment: datetime | None, now: datetime) -> str:
    """``2026-05-02 03:04 UTC (in 59 min)``, relative to ``now``; ``""`` when unknown."""
    if moment is None:
        return ""
    seconds = (moment - now).total_seconds()
    relative = f"in {_span(seconds)}" if seconds > 0 else f"{_span(seconds)} ago"
    return f"{moment.strftime('%Y-%m-%d %H:%M')} UTC ({relative})"


def _legend(title: str, meanings: dict[str, str], shown: Iterable[str]) -> str:
    used = set(shown)
    lines = [f"- `{code}`: {meaning}" for code, meaning in meanings.items() if code in used]
    return f"**{title}**\n\n" + "\n".join(lines) if lines else ""


@task(name="publish-refresh-report", task_run_name="publish-refresh-report", **_NO_RESULT)
def publish_refresh_report(outcomes: list[RefreshOutcome]) -> None:
    """Leave a table artifact of what this run did: one row per credential it looked at."""
    now = utcnow()
    rows = [
        {
            "credential": outcome.name,
            "result": outcome.status,
            "state": outcome.state or "",
            "access token expires": when(outcome.expires_at, now),
            "refresh token dies": when(outcome.refresh_deadline_at, now),
            "last error": outcome.error_class or "",
        }
        for outcome in sorted(outcomes, key=lambda o: o.name)
    ]
    failed = sum(1 for outcome in outcomes if outcome.status == "failed")
    legend = _legend("States", STATES, (row["state"] for row in rows))
    create_table_artifact(
        table=rows,
        key=REPORT_ARTIFACT_KEY,
        description=f"Token refresh at {now:%Y-%m-%d %H:%M:%S} UTC (relative times are from "
        f"then): {len(outcomes)} credential(s), {failed} failed.\n\n{legend}",
    )


def _fleet_row(reading: CredentialReading, now: datetime) -> dict[str, str | int]:
    return {
        "credential": reading.name,
        "state": reading.state,
        "access token expires": when(reading.access_expires_at, now),
        "refresh token expires": when(reading.refresh_expires_at, now),
        "last success": when(reading.last_success_at, now),
        "failures in a row": reading.consecutive_failures or "",
        "last error": reading.error_class,
    }


@task(name="publish-fleet-table", task_run_name="publish-fleet-table", **_NO_RESULT)
def publish_fleet_table(vault_block: str | None = None) -> dict[str, int]:
    """Leave the ``token-fleet`` table: every credential in Vault, due or not, as Vault has it.

    Read now, after the run's refreshes, from the records every worker writes (the metrics'
    reader, 8 credentials at a time), so it shows the whole fleet whichever process refreshed.

    Returns:
        How many credentials are in each state.
    """
    store = resources_for(vault_block).store
    readings = CredentialCollector(store, cache_seconds=0).readings()
    now = utcnow()
    states = Counter(reading.state for reading in readings)
    summary = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
    create_table_artifact(
        table=[_fleet_row(reading, now) for reading in sorted(readings, key=lambda r: r.name)],
        key=FLEET_ARTIFACT_KEY,
        description=f"Every credential at {now:%Y-%m-%d %H:%M:%S} UTC (relative times are from "
        f"then): {len(readings)} in all, {summary or 'none'}.\n\n"
        + _legend("States", STATES, states),
    )
    get_run_logger().info("fleet: %d credential(s): %s", len(readings), summary or "none")
    return dict(states)


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


@task(
    name="explain-credential-failure",
    task_run_name="explain-{credential}-{error_class}",
    **_NO_RESULT,
)
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
    now = utcnow()
    if health is None:
        status = "No health record yet."
    else:
        dies = when(health.refresh_deadline_at, now) or "when the provider says"
        status = (
            f"As of {now:%Y-%m-%d %H:%M} UTC: state **{health.state}**, "
            f"{health.consecutive_failures} consecutive failure(s).\n\n"
            f"| | |\n|---|---|\n"
            f"| last attempt | {when(health.last_attempt_at, now)} |\n"
            f"| last success | {when(health.last_success_at, now)} |\n"
            f"| next attempt | {when(health.next_attempt_at, now)} |\n"
            f"| access token expires | {when(health.expires_at, now)} |\n"
            f"| refresh token dies | {dies} |\n"
            + (f"\n> {health.message}\n" if health.message else "")
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


@task(
    name="explain-credential-recovery",
    task_run_name="explain-{credential}-recovered",
    **_NO_RESULT,
)
def explain_credential_recovery(credential: str, health: CredentialHealth | None) -> str:
    """Publish that an alerted credential is healthy again, and log it.

    Returns:
        The credential's state as Vault has it now (``healthy`` unless it failed again since).
    """
    state = health.state if health else "unknown"
    now = utcnow()
    success = when(health.last_success_at, now) if health else ""
    expires = when(health.expires_at, now) if health else ""
    create_markdown_artifact(
        markdown=f"# Credential `{credential}` recovered\n\nAs of {now:%Y-%m-%d %H:%M} UTC: "
        f"state **{state}**, last success {success or 'unknown'}, token expires "
        f"{expires or 'unknown'}.\n",
        key=RECOVERY_ARTIFACT_KEY,
        description=f"Credential {credential} recovered.",
    )
    get_run_logger().info("credential %s recovered (state %s)", credential, state)
    return state
