"""Keeping credentials fresh: pure policy, the expiry radar, the claim protocol and the
``Refresher``."""

from switchboard.refresh._backlog import Backlog
from switchboard.refresh._claim import Claim, owner_id, release_abandoned_claim
from switchboard.refresh._policy import (
    MAX_INLINE_WAIT_SECONDS,
    ClaimVerdict,
    backoff_seconds,
    claim_verdict,
    due_reason,
    failure_state,
    refresh_after,
    run_backoff_seconds,
)
from switchboard.refresh._radar import (
    RADAR_CAUSES,
    AlertNotice,
    RadarCause,
    RadarReading,
    lifetime_renews,
    next_alerts,
    read_radar,
)
from switchboard.refresh._refresher import PLAN_REUSE_SECONDS, Plan, Refresher, journal_for
from switchboard.refresh._snapshot import Snapshot, read_snapshot

__all__ = [
    "MAX_INLINE_WAIT_SECONDS",
    "PLAN_REUSE_SECONDS",
    "RADAR_CAUSES",
    "AlertNotice",
    "Backlog",
    "Claim",
    "ClaimVerdict",
    "Plan",
    "RadarCause",
    "RadarReading",
    "Refresher",
    "Snapshot",
    "backoff_seconds",
    "claim_verdict",
    "due_reason",
    "failure_state",
    "journal_for",
    "lifetime_renews",
    "next_alerts",
    "owner_id",
    "read_radar",
    "read_snapshot",
    "refresh_after",
    "release_abandoned_claim",
    "run_backoff_seconds",
]
