"""The token-fleet cost curve: 100, 1,000 and 10,000 due credentials, and what one worker keeps.

At each size a fresh fleet is refreshed by the raw baseline and by one ``refresh_due_tokens``
run; the flow then runs once more over the same, now fresh, fleet: that second run is what the
every-minute deployment costs when nothing is due (it still reads each credential to plan).
Vault operations are counted from the audit log per grant: the client-credentials fleets above,
and a refresh-token fleet (which takes a claim and a refresh record, so it costs more writes),
first from its seeds, then forced once more, spending the refresh tokens stored in Vault.
From the 10,000-credential figures comes the capacity: how many credentials with one-hour
tokens one worker keeps fresh when the deployment runs every minute.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench._measure import PeakMemory, VaultAudit, median
from bench._servers import BenchServers
from bench._tokens import cpu_by_process, one_variant, run_in_process

__all__ = ["FLEET_SIZES", "fleet_curve"]

FLEET_SIZES = (100, 1000, 10_000)
TOKEN_LIFETIME_SECONDS = 3600.0
SCHEDULE_SECONDS = 60.0
"""The ``every-minute`` deployment's interval (prefect.yaml): one run's budget."""


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _again(
    servers: BenchServers, base: str, count: int, memory: PeakMemory, *, force: bool = False
) -> dict[str, Any]:
    """The flow once more over a fleet it just refreshed. Not forced, nothing is due: plan only,
    the every-minute run's steady cost. Forced over a refresh-token fleet it seeded, each
    credential spends the refresh token stored in Vault: that grant's steady state, not a seed."""
    audit = VaultAudit(servers.audit_log)
    audit.mark()
    cpu_before = cpu_by_process(servers)
    result = run_in_process(
        servers, "flow", base, memory, "refresh_due_tokens flow-run process", force=force
    )
    cpu_after = cpu_by_process(servers)
    vault = audit.count()
    return {
        "credentials": count,
        "seconds": result["seconds"],
        "process_wall_seconds": result["process_wall_seconds"],
        "statuses": result["statuses"],
        "vault_ops_per_credential": vault["total"] / count,
        "by_kind": vault["by_kind"],
        "cpu_seconds": {k: round(cpu_after[k] - cpu_before[k], 2) for k in cpu_before},
    }


def _summary(runs: Sequence[dict[str, Any]], count: int) -> dict[str, Any]:
    seconds = [r["seconds"] for r in runs]
    return {
        "credentials": count,
        "seconds": median(seconds),
        "seconds_per_run": seconds,
        "spread": max(seconds) / min(seconds),
        "ms_per_credential": median(seconds) * 1000 / count,
        "vault_ops_per_credential": median(r["vault_ops_per_credential"] for r in runs),
        "cpu_seconds": {
            key: median(r["cpu_seconds"][key] for r in runs) for key in runs[0]["cpu_seconds"]
        },
    }


def capacity(due: dict[str, Any], steady: dict[str, Any]) -> dict[str, float]:
    """Credentials with one-hour tokens one worker keeps fresh, running every minute.

    Each run plans every credential (``steady`` per credential) and refreshes those due; a
    token is due after ``refresh_at_fraction`` of its lifetime (the jitter only adds to it), so
    at most ``SCHEDULE_SECONDS / (fraction * lifetime)`` of the fleet is due per run. A run
    must end within the schedule's minute, less the flow-run process's start and exit.
    """
    from switchboard import TokenSettings

    count = due["credentials"]
    plan = steady["seconds"] / count
    refresh = max(0.0, due["seconds"] / count - plan)
    due_share = SCHEDULE_SECONDS / (TokenSettings().refresh_at_fraction * TOKEN_LIFETIME_SECONDS)
    overhead = steady["process_wall_seconds"] - steady["seconds"]
    budget = SCHEDULE_SECONDS - overhead
    return {
        "plan_ms_per_credential": plan * 1000,
        "refresh_ms_per_credential": refresh * 1000,
        "due_share_per_run": due_share,
        "process_overhead_seconds": overhead,
        "credentials": math.floor(budget / (plan + due_share * refresh)),
    }


def fleet_curve(
    servers: BenchServers,
    memory: PeakMemory,
    *,
    sizes: Sequence[int] = FLEET_SIZES,
    repeats: int,
    refresh_token_fleet: int,
) -> dict[str, Any]:
    """Raw and flow at each size (``repeats`` each), the steady run, the refresh-token fleet."""
    stamp = time.strftime("%H%M%S")
    points: dict[str, list[dict[str, Any]]] = {"raw": [], "flow": []}
    steady: list[dict[str, Any]] = []
    for size in sizes:
        runs: dict[str, list[dict[str, Any]]] = {"raw": [], "flow": []}
        for rep in range(repeats):
            for variant in runs:
                _log(f"fleet curve: {size} credentials, {variant}, repetition {rep + 1}")
                base = f"curve{stamp}-{variant}-{size}-r{rep}"
                runs[variant].append(one_variant(servers, variant, base, size, memory))
        for variant, found in runs.items():
            points[variant].append(_summary(found, size))
        _log(f"fleet curve: {size} fresh credentials, flow (nothing due)")
        steady.append(_again(servers, f"curve{stamp}-flow-{size}-r0", size, memory))
    _log(f"fleet curve: {refresh_token_fleet} refresh-token credentials, flow")
    rotating = one_variant(
        servers,
        "flow",
        f"curve{stamp}-rt",
        refresh_token_fleet,
        memory,
        refresh_token_share=1.0,
    )
    _log(f"fleet curve: {refresh_token_fleet} refresh-token credentials again, flow, forced")
    rotation = _again(servers, f"curve{stamp}-rt", refresh_token_fleet, memory, force=True)
    by_size = {p["credentials"]: p for p in points["flow"]}
    largest = max(sizes)
    result: dict[str, Any] = {
        "repeats": repeats,
        "points": points,
        "steady": steady,
        "grants": {
            "client_credentials": {
                "credentials": largest,
                "vault_ops_per_credential": by_size[largest]["vault_ops_per_credential"],
                "by_kind": runs["flow"][0]["vault"]["by_kind"],
            },
            "refresh_token": {
                "credentials": refresh_token_fleet,
                "vault_ops_per_credential": rotating["vault_ops_per_credential"],
                "by_kind": rotating["vault"]["by_kind"],
                "refreshed_in_vault": rotating["refreshed_in_vault"],
                "seconds": rotating["seconds"],
            },
            "refresh_token (stored refresh token)": rotation,
        },
        "capacity": capacity(by_size[largest], steady[-1]),
        "per_credential_10k_over_1k": (
            by_size[10_000]["ms_per_credential"] / by_size[1000]["ms_per_credential"]
            if {1000, 10_000} <= set(by_size)
            else None
        ),
    }
    raw = {p["credentials"]: p["seconds"] for p in points["raw"]}
    result["ratio_flow_raw"] = {
        str(size): by_size[size]["seconds"] / raw[size] for size in sorted(by_size)
    }
    return result
