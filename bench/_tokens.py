"""Token-fleet benchmark: N client-credentials credentials, all due, refreshed in one run.

Each variant gets its own fleet under its own Vault base path (so every credential is due):
the raw baseline (asyncio + httpx2), Switchboard's core on a thread pool (no Prefect), and one
``refresh_due_tokens`` flow run in its own process. Vault operations come from the audit log.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from typing import Any

import httpx2

from bench._fleet import fleet_names, seed_fleet
from bench._measure import PeakMemory, VaultAudit, cpu_seconds, median, run_child
from bench._raw_tokens import refresh_raw
from bench._servers import BenchServers

__all__ = ["TokenConfig", "cpu_by_process", "one_variant", "run_in_process", "run_tokens"]

CONCURRENCY = 8  # TokenSettings.max_concurrency's default: the flow's bound, and the raw one's


class TokenConfig:
    def __init__(self, *, credentials: int, repeats: int, core: bool = True) -> None:
        self.credentials = credentials
        self.repeats = repeats
        self.core = core


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _seed(servers: BenchServers, base: str, count: int, refresh_token_share: float) -> None:
    """``count`` sandbox clients and their definitions in Vault under ``base``: none has a token."""
    asyncio.run(
        seed_fleet(
            sandbox_url=servers.sandbox.url,
            vault_url=servers.openbao.url,
            vault_token=servers.root_token,
            base=base,
            names=fleet_names(base, count),
            refresh_token_share=refresh_token_share,
        )
    )


async def _count_tokens(servers: BenchServers, base: str, count: int) -> int:
    """How many of the fleet now have a token in Vault."""
    gate = asyncio.Semaphore(16)
    headers = {"X-Vault-Token": servers.root_token}
    async with httpx2.AsyncClient(timeout=60) as http:

        async def one(name: str) -> bool:
            async with gate:
                response = await http.get(
                    f"{servers.openbao.url}/v1/secret/data/{base}/credentials/{name}/token",
                    headers=headers,
                )
            return response.status_code == 200 and bool(response.json()["data"]["data"])

        return sum(await asyncio.gather(*(one(name) for name in fleet_names(base, count))))


def _token_counter(servers: BenchServers) -> int:
    body = httpx2.get(f"{servers.sandbox.url}/_control/counters", timeout=30).json()
    return int(body["token"]["client_credentials"]) + int(body["token"]["refresh_token"])


def run_in_process(
    servers: BenchServers,
    mode: str,
    base: str,
    memory: PeakMemory,
    role: str,
    *,
    force: bool = False,
) -> dict[str, Any]:
    """``python -m bench._token_run mode`` on the fleet under ``base`` (``force``: the flow
    refreshes every credential, due or not); its result line."""
    env = servers.child_env(
        SWITCHBOARD_VAULT_BASE_PATH=base,
        SWITCHBOARD_TOKEN_MAX_CONCURRENCY=str(CONCURRENCY),
    )
    started = time.perf_counter()
    result = run_child(
        "bench._token_run",
        mode,
        *(["--force"] if force else []),
        env=env,
        log_path=servers.workdir / f"token-{mode}-{base}.log",
        what=f"token {mode} run",
        on_start=lambda pid: memory.watch(role, pid),
    )
    result["process_wall_seconds"] = time.perf_counter() - started
    return result


def cpu_by_process(servers: BenchServers) -> dict[str, float]:
    """CPU seconds so far: the refreshing client (this process, or its finished children)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "client (raw: bench process)": own.ru_utime + own.ru_stime,
        "client (core/flow: own process)": children.ru_utime + children.ru_stime,
        "openbao": cpu_seconds(servers.openbao.process.pid),
        "sandbox": cpu_seconds(servers.sandbox.process.pid),
        "prefect server": cpu_seconds(servers.prefect.process.pid),
    }


def one_variant(
    servers: BenchServers,
    variant: str,
    base: str,
    count: int,
    memory: PeakMemory,
    *,
    refresh_token_share: float = 0.0,
) -> dict[str, Any]:
    """A fresh fleet of ``count`` due credentials under ``base``, refreshed by ``variant``
    (``raw`` takes client-credentials fleets only): time, Vault and IdP calls, CPU by process."""
    _seed(servers, base, count, refresh_token_share)
    audit = VaultAudit(servers.audit_log)
    audit.mark()
    idp_before = _token_counter(servers)
    cpu_before = cpu_by_process(servers)
    if variant == "raw":
        result = asyncio.run(
            refresh_raw(
                vault_url=servers.openbao.url,
                vault_token=servers.root_token,
                base_path=base,
                concurrency=CONCURRENCY,
            )
        )
    elif variant == "core":
        result = run_in_process(servers, "core", base, memory, "token core process (no Prefect)")
    else:
        result = run_in_process(
            servers, "flow", base, memory, "refresh_due_tokens flow-run process"
        )
    cpu_after = cpu_by_process(servers)
    result["cpu_seconds"] = {k: round(cpu_after[k] - cpu_before[k], 2) for k in cpu_before}
    vault = audit.count()
    result["idp_token_calls"] = _token_counter(servers) - idp_before
    result["vault"] = vault
    result["vault_ops_per_credential"] = vault["total"] / count
    result["vault_reads_per_credential"] = vault["reads"] / count
    result["refreshed_in_vault"] = asyncio.run(_count_tokens(servers, base, count))
    result["credentials"] = count
    return result


def run_tokens(servers: BenchServers, config: TokenConfig, memory: PeakMemory) -> dict[str, Any]:
    variants = ["raw", "core", "flow"] if config.core else ["raw", "flow"]
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for rep in range(config.repeats):
        for variant in variants:
            _log(f"tokens: {config.credentials} due credentials, {variant}, repetition {rep + 1}")
            base = f"bench-{variant}-r{rep}"
            runs[variant].append(one_variant(servers, variant, base, config.credentials, memory))
    medians = {
        variant: {
            "seconds": median(r["seconds"] for r in found),
            "vault_ops_per_credential": median(r["vault_ops_per_credential"] for r in found),
            "vault_reads_per_credential": median(r["vault_reads_per_credential"] for r in found),
        }
        for variant, found in runs.items()
    }
    for variant in ("core", "flow"):
        if variant in runs:
            medians[variant]["process_wall_seconds"] = median(
                r["process_wall_seconds"] for r in runs[variant]
            )
            medians[variant]["import_seconds"] = median(r["import_seconds"] for r in runs[variant])
    for variant, found in runs.items():
        for key in found[0]["cpu_seconds"]:
            medians[variant][f"cpu:{key}"] = median(r["cpu_seconds"][key] for r in found)
    return {
        "credentials": config.credentials,
        "concurrency": CONCURRENCY,
        "runs": runs,
        "medians": medians,
        "ratio_flow_raw": medians["flow"]["seconds"] / medians["raw"]["seconds"],
    }
