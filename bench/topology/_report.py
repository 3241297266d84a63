"""The HA run's results as Markdown: one row per fault, then CPU seconds by process."""

from __future__ import annotations

from typing import Any

__all__ = ["render"]


def _held(result: dict[str, Any]) -> str:
    return "held" if not result.get("failed") else "BROKEN: " + "; ".join(result["failed"])


def _routing(result: dict[str, Any]) -> str:
    return (
        f"{result['acknowledged']} of {result['events']} events acknowledged, "
        f"{result['acknowledged_without_message']} acknowledged without their message, "
        f"{result['duplicate_messages']} customers messaged twice; "
        f"{result['first_attempt_failures']} first attempts failed over "
        f"{result['error_window_seconds']} s, resent as LivePerson does"
    )


def _rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    if "ingress_kill" in results:
        r = results["ingress_kill"]
        rows.append((f"kill {r['killed']} under {r['rate']:.0f} events/s", _routing(r), _held(r)))
    if "openbao_leader_kill" in results:
        r = results["openbao_leader_kill"]
        rows.append(
            (
                f"kill the OpenBao leader ({r['killed']}) during a refresh of "
                f"{r['credentials']} credentials ({r['refresh_token_credentials']} refresh-token)",
                f"new leader in {r['election_seconds']} s; all healthy "
                f"{r['all_healthy_seconds_after_election']} s after it "
                f"({r['fleet_seconds']} s for the fleet); {r['refresh_tokens_spent_twice']} "
                f"refresh tokens spent twice, {r['pairs_lost']} pairs lost",
                _held(r),
            )
        )
    if "api_server_kill" in results:
        r = results["api_server_kill"]
        rows.append(
            (
                f"kill {r['killed']} (Prefect API server)",
                f"{_routing(r)}; a run created through the balancer: "
                f"{r['api_created_run'].lower()}; a scheduled run completed "
                f"{r['scheduled_run_completed_within_seconds']} s later",
                _held(r),
            )
        )
    if "worker_kill" in results:
        r = results["worker_kill"]
        rows.append(
            (
                f"kill {r['killed']} and its flow run mid-refresh of {r['credentials']} "
                "credentials",
                f"{r['tokens_issued_before_the_kill']} tokens issued before the kill; run "
                f"Crashed {r['crashed_after_seconds']} s after; all healthy "
                f"{r['all_healthy_after_seconds']} s after the kill",
                _held(r),
            )
        )
    if "redis_postgres_restart" in results:
        r = results["redis_postgres_restart"]
        for name in ("redis", "postgres"):
            rows.append((f"restart {name} under load", _routing(r[name]), _held(r[name])))
    return rows


def _cpu(results: dict[str, Any]) -> list[str]:
    lines = []
    phases = [
        ("ingress_kill", "events", "ingress_kill", "acknowledged"),
        ("openbao_leader_kill", "credentials", "openbao_leader_kill", "credentials"),
    ]
    for key, unit, source, count_key in phases:
        if key not in results:
            continue
        count = results[source][count_key] or 1
        cpu = results[key]["cpu_seconds"]
        busiest = sorted(cpu.items(), key=lambda item: -item[1])
        per = ", ".join(f"{name} {seconds * 1000 / count:.2f}" for name, seconds in busiest)
        lines.append(f"- per 1,000 {unit} ({key.replace('_', ' ')}): {per}")
    return lines


def render(results: dict[str, Any]) -> str:
    table = ["| Fault | What was measured | Checks |", "|---|---|---|"]
    table += [f"| {fault} | {measured} | {held} |" for fault, measured, held in _rows(results)]
    cpu = _cpu(results)
    if cpu:
        table += ["", "CPU seconds by process (the phase includes its fault):", "", *cpu]
    return "\n".join(table) + "\n"
