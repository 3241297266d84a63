"""The cost curves as PNG files next to a run's JSON (matplotlib, Agg: no display needed).

One figure per curve the run measured: latency percentiles against offered rate; throughput
and CPU per 1,000 events against batch size; fleet time and Vault operations against the
number of credentials. BENCHMARKS.md links them by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # after choosing the backend

__all__ = ["draw"]

_STYLE = {
    "plain": "tab:blue",
    "orchestrated": "tab:orange",
    "raw": "tab:blue",
    "flow": "tab:orange",
}


def _latency(curve: dict[str, Any], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for variant, points in curve["points"].items():
        ordered = sorted(points, key=lambda p: p["rate"])
        rates = [p["rate"] for p in ordered]
        for q, line in (("p50", ":"), ("p95", "--"), ("p99", "-")):
            axes.plot(
                rates,
                [p[q] for p in ordered],
                line,
                marker="o",
                color=_STYLE[variant],
                label=f"{variant} {q}",
            )
    axes.axhline(curve["p99_limit"], color="grey", linewidth=0.8)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("offered rate (events/s, open loop)")
    axes.set_ylabel("event-to-message time (s)")
    axes.set_title("Routing latency against offered rate")
    axes.legend(fontsize="small", ncol=2)
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _batch(curve: dict[str, Any], path: Path) -> None:
    figure, (speed, cpu) = plt.subplots(1, 2, figsize=(10, 4))
    for variant, points in curve["points"].items():
        ordered = sorted(points, key=lambda p: p["max_batch_size"])
        sizes = [p["max_batch_size"] for p in ordered]
        color = _STYLE[variant]
        speed.plot(sizes, [p["events_per_second"] for p in ordered], marker="o", color=color)
        cpu.plot(
            sizes,
            [p["cpu_total_per_1000_events"] for p in ordered],
            marker="o",
            color=color,
            label=variant,
        )
    for axes, label in ((speed, "events/s (closed loop)"), (cpu, "CPU-s per 1,000 events")):
        axes.set_xscale("log")
        axes.set_xlabel("max batch size (events per batch)")
        axes.set_ylabel(label)
        axes.set_ylim(bottom=0)
        axes.grid(True, which="both", alpha=0.3)
    cpu.legend()
    figure.suptitle(f"Routing throughput and CPU against batch size ({curve['events']} events)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _fleet(curve: dict[str, Any], path: Path) -> None:
    figure, (time, ops) = plt.subplots(1, 2, figsize=(10, 4))
    for variant, points in curve["points"].items():
        ordered = sorted(points, key=lambda p: p["credentials"])
        counts = [p["credentials"] for p in ordered]
        color = _STYLE[variant]
        time.plot(counts, [p["seconds"] for p in ordered], marker="o", color=color, label=variant)
        ops.plot(
            counts,
            [p["vault_ops_per_credential"] for p in ordered],
            marker="o",
            color=color,
            label=f"{variant}, all due",
        )
    steady = sorted(curve["steady"], key=lambda p: p["credentials"])
    counts = [p["credentials"] for p in steady]
    time.plot(
        counts, [p["seconds"] for p in steady], marker="s", color="grey", label="flow, none due"
    )
    ops.plot(
        counts,
        [p["vault_ops_per_credential"] for p in steady],
        marker="s",
        color="grey",
        label="flow, none due",
    )
    rotating = curve["grants"]["refresh_token"]
    ops.plot(
        [rotating["credentials"]],
        [rotating["vault_ops_per_credential"]],
        marker="^",
        linestyle="",
        color="tab:red",
        label="flow, refresh-token grant",
    )
    time.set_yscale("log")
    time.set_ylabel("seconds per run")
    ops.set_ylabel("Vault operations per credential (audit log)")
    ops.set_ylim(bottom=0)
    for axes in (time, ops):
        axes.set_xscale("log")
        axes.set_xlabel("credentials")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize="small")
    figure.suptitle("Token fleet: time and Vault operations against fleet size")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def draw(results: dict[str, Any], directory: Path, stem: str) -> list[str]:
    """Draw every curve ``results`` holds as ``<stem>-<curve>.png``; the file names."""
    drawn = []
    for key, name, painter in (
        ("latency_curve", "latency", _latency),
        ("batch_curve", "batch", _batch),
        ("fleet_curve", "fleet", _fleet),
    ):
        if results.get(key):
            filename = f"{stem}-{name}.png"
            painter(results[key], directory / filename)
            drawn.append(filename)
    return drawn
