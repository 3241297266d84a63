"""Prometheus metrics, scraped from real servers and parsed as Prometheus would parse them."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx2
import pytest
from helpers import ROOT_TOKEN
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from test_ingress import SECRET, running_ingress
from test_routing_support import MIN, conv, routing_event

from sandbox.servers import free_port, wait_for_http
from switchboard._exceptions import ConfigurationError
from switchboard._models import RefreshOutcome
from switchboard._settings import TokenSettings, load
from switchboard.ingress import IngressSettings
from switchboard.metrics import RefreshMetrics, TextfileExport, merge_textfile, metrics_command
from switchboard.refresh import Refresher

METRICS_TOKEN = "sbx-metrics-" + uuid.uuid4().hex


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return float(found.get((name, frozenset(labels.items())), 0.0))


def test_the_ingress_serves_routing_metrics_to_a_scraper_with_the_token(
    sandbox, prefect_server, credential_store, tmp_path: Path
) -> None:
    tag = "met-" + uuid.uuid4().hex[:8]
    env = {"SWITCHBOARD_INGRESS_METRICS": "on", "SWITCHBOARD_INGRESS_METRICS_TOKEN": METRICS_TOKEN}
    with running_ingress(sandbox, credential_store, tmp_path, tag, **env) as ingress:
        ingress.account.scenario({"1": ([], None), "2": (["ONLINE"], 12 * MIN)})
        events = [routing_event(conv("met"), skill) for skill in (1, 2, 2)]
        assert ingress.post(events).status_code == 200
        body = json.dumps(events[:1]).encode()
        unsigned = httpx2.post(f"{ingress.url}/events", content=body, timeout=10)
        assert unsigned.status_code == 401
        assert httpx2.get(f"{ingress.url}/metrics", timeout=10).status_code == 401
        wrong = {"Authorization": "Bearer sbx-not-it"}
        assert httpx2.get(f"{ingress.url}/metrics", headers=wrong, timeout=10).status_code == 401
        answer = httpx2.get(
            f"{ingress.url}/metrics",
            headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
            timeout=10,
        )
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    found = samples(answer.text)
    assert value(found, "switchboard_routing_decisions_total", kind="no_agent") == 1
    assert value(found, "switchboard_routing_decisions_total", kind="busy") == 2
    assert value(found, "switchboard_routing_batch_size_count") == 1
    assert value(found, "switchboard_routing_batch_size_sum") == 3
    assert value(found, "switchboard_ingress_answer_seconds_count", status="200") == 1
    assert value(found, "switchboard_ingress_answer_seconds_count", status="401") == 1
    for service, status in (("csds", "200"), ("agent_view", "200"), ("queue_health", "200")):
        assert value(found, "switchboard_upstream_requests_total", service=service, status=status)
    assert value(found, "switchboard_upstream_requests_total", service="messages", status="201")
    assert value(found, "switchboard_ingress_queued_events") == 0
    assert ingress.account.client_id not in answer.text  # no credential names, no secrets
    assert SECRET.get_secret_value() not in answer.text and "sbx-" not in answer.text


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1", "::1"])
def test_ingress_metrics_need_a_token_on_every_host(
    monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    """Loopback is no exemption: behind a reverse proxy on the same host (the HA topology's
    HAProxy in front of ingresses on 127.0.0.1) an open /metrics would be public."""
    monkeypatch.setenv("SWITCHBOARD_INGRESS_WEBHOOK_SECRET", "sbx-hook")
    monkeypatch.setenv("SWITCHBOARD_INGRESS_HOST", host)
    monkeypatch.delenv("SWITCHBOARD_INGRESS_METRICS_TOKEN", raising=False)
    monkeypatch.setenv("SWITCHBOARD_INGRESS_METRICS", "on")
    with pytest.raises(ConfigurationError) as refused:
        load(IngressSettings)
    message = str(refused.value)
    assert "SWITCHBOARD_INGRESS_METRICS_TOKEN: not set" in message, message
    assert "reverse proxy" in message and "SWITCHBOARD_INGRESS_METRICS=off" in message
    monkeypatch.setenv("SWITCHBOARD_INGRESS_METRICS", "everywhere")
    with pytest.raises(ConfigurationError, match="SWITCHBOARD_INGRESS_METRICS"):
        load(IngressSettings)
    monkeypatch.setenv("SWITCHBOARD_INGRESS_METRICS", "on")
    monkeypatch.setenv("SWITCHBOARD_INGRESS_METRICS_TOKEN", METRICS_TOKEN)
    assert load(IngressSettings).metrics_token == SecretStr(METRICS_TOKEN)
    monkeypatch.setenv("SWITCHBOARD_INGRESS_METRICS", "off")
    monkeypatch.delenv("SWITCHBOARD_INGRESS_METRICS_TOKEN")
    assert load(IngressSettings).metrics == "off"  # off: no token needed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--serve", "0.0.0.0:9464"], "SWITCHBOARD_METRICS_TOKEN: not set"),
        (["--serve", "127.0.0.1:9464"], "SWITCHBOARD_METRICS_TOKEN: not set"),
        (["--serve", "[::1]:9464"], "SWITCHBOARD_METRICS_TOKEN: not set"),
        (
            ["--serve", "0.0.0.0:9464", "--allow-unauthenticated-on-loopback"],
            "--allow-unauthenticated-on-loopback: only on a loopback HOST",
        ),
        (
            ["--allow-unauthenticated-on-loopback"],
            "--allow-unauthenticated-on-loopback: only with --serve",
        ),
    ],
)
def test_serving_without_a_token_is_refused_unless_opted_out_on_loopback(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    from switchboard.cli import main
    from switchboard.metrics import _cli

    def serve(*args: object) -> None:
        raise AssertionError("served without a token")

    monkeypatch.setattr(_cli, "_serve", serve)
    monkeypatch.delenv("SWITCHBOARD_METRICS_TOKEN", raising=False)
    assert main(["metrics", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    if "TOKEN: not set" in message:
        assert "--allow-unauthenticated-on-loopback" in err  # the fix is named


def test_the_loopback_opt_out_serves_without_a_token(
    openbao, monkeypatch: pytest.MonkeyPatch
) -> None:
    from switchboard.metrics import _cli

    served: list[tuple[str, int, object]] = []
    monkeypatch.delenv("SWITCHBOARD_METRICS_TOKEN", raising=False)
    monkeypatch.setattr(
        _cli,
        "_serve",
        lambda registry, settings, host, port: served.append((host, port, settings.token)),
    )
    argv = ["--serve", "127.0.0.1:9464", "--allow-unauthenticated-on-loopback"]
    assert metrics_command(argv) == 0
    assert served == [("127.0.0.1", 9464, None)]


def test_the_collector_reads_health_records_only() -> None:
    """Never ``.../token`` or ``.../refresh`` (live secrets): the expiries come from health, a
    stale claim shows as state ``in_doubt``, and no claim series exists to need the refresh
    record."""
    from datetime import timedelta

    from prometheus_client import CollectorRegistry, generate_latest

    from switchboard._exceptions import VaultPermissionDenied
    from switchboard._models import CredentialHealth, utcnow
    from switchboard.metrics import CredentialCollector

    now = utcnow()
    records = {
        "alpha": CredentialHealth(
            state="healthy", expires_at=now + timedelta(minutes=50), last_success_at=now
        ),
        "beta": CredentialHealth(state="in_doubt", error_class="RefreshInDoubt"),
        "gamma": None,
    }

    class HealthOnly:
        """A store whose every read but ``health`` is refused, as the metrics policy does."""

        def list_credentials(self) -> list[str]:
            return sorted(records)

        def read_health(self, name: str) -> CredentialHealth | None:
            return records[name]

        def __getattr__(self, attribute: str) -> object:
            raise VaultPermissionDenied(f"not in the metrics policy: {attribute}")

    registry = CollectorRegistry()
    collector = CredentialCollector(HealthOnly(), credential_names=True, clock=lambda: now)  # type: ignore[arg-type]
    registry.register(collector)
    found = samples(generate_latest(registry).decode())
    assert value(found, "switchboard_credential_state", credential="alpha", state="healthy") == 1
    assert value(found, "switchboard_credential_state", credential="beta", state="in_doubt") == 1
    assert value(found, "switchboard_credential_state", credential="gamma", state="never_refreshed")
    assert value(
        found, "switchboard_credential_access_token_expiry_seconds", credential="alpha"
    ) == pytest.approx(50 * 60)
    assert value(found, "switchboard_credentials", state="in_doubt", error_class="RefreshInDoubt")
    assert not any("claimed" in name for name, _ in found)


def test_switchboard_metrics_reads_expiry_and_health_from_vault(
    new_credential, credential_store, sandbox, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    refreshed, _ = new_credential()
    rotating, client = new_credential("refresh_token")
    httpx2.post(  # one transient failure: the refresh retries once
        f"{sandbox.url}/_control/faults",
        json={"endpoint": "token", "client_id": client["client_id"], "status": 503, "count": 1},
        timeout=10,
    ).raise_for_status()
    observer = RefreshMetrics()
    refresher = Refresher(
        credential_store,
        TokenSettings(journal_dir=tmp_path / "journal"),
        sleep=lambda seconds: None,
        observer=observer,
    )
    assert refresher.refresh(refreshed).status == "refreshed"
    assert refresher.refresh(rotating).status == "refreshed"
    assert refresher.refresh(refreshed).status == "skipped"
    counted = samples(generate(observer))
    assert value(counted, "switchboard_refresh_outcomes_total", status="refreshed", error_class="")
    assert value(counted, "switchboard_refresh_retries_total") == 1

    assert metrics_command(["--credential-names", "--cache-seconds", "0"]) == 0
    found = samples(capsys.readouterr().out)
    left = value(found, "switchboard_credential_access_token_expiry_seconds", credential=refreshed)
    assert 0 < left <= 3600
    assert value(found, "switchboard_credential_state", credential=rotating, state="healthy") == 1
    assert value(found, "switchboard_credentials_min_access_token_expiry_seconds") <= left
    assert value(found, "switchboard_credentials", state="healthy", error_class="") >= 2

    assert metrics_command([]) == 0  # names only where the operator enables them
    anonymous = capsys.readouterr().out
    assert refreshed not in anonymous and "switchboard_credentials{" in anonymous


def generate(observer: RefreshMetrics) -> str:
    from prometheus_client import generate_latest

    return generate_latest(observer.registry).decode()


def test_switchboard_metrics_serves_scrapes_from_one_round_of_vault_reads(
    openbao, new_credential, tmp_path: Path
) -> None:
    name, _ = new_credential()
    port = free_port()
    log = (tmp_path / "metrics.log").open("wb")
    env = {
        **os.environ,
        "VAULT_ADDR": openbao.url,
        "VAULT_TOKEN": ROOT_TOKEN,
        "SWITCHBOARD_METRICS_CREDENTIAL_NAMES": "true",
        "SWITCHBOARD_METRICS_TOKEN": METRICS_TOKEN,
        "SWITCHBOARD_METRICS_CACHE_SECONDS": "60",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "switchboard.cli", "metrics", "--serve", f"127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    try:
        wait_for_http(url, process=process, timeout=60, ok=(401,))
        first = httpx2.get(url, headers=headers, timeout=10)
        later, _ = new_credential()  # written after the first round of reads
        second = httpx2.get(url, headers=headers, timeout=10)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    assert first.status_code == second.status_code == 200
    found = samples(first.text)
    assert value(found, "switchboard_credential_state", credential=name, state="never_refreshed")
    assert later not in second.text  # the second scrape reused the cached reads


def _outcome(status: str, error_class: str | None = None, attempts: int = 1) -> RefreshOutcome:
    return RefreshOutcome(name="alpha", status=status, error_class=error_class, attempts=attempts)


def test_two_runs_add_their_refresh_counts_to_one_textfile(tmp_path: Path) -> None:
    path = tmp_path / "switchboard_refresh.prom"
    first = TextfileExport(path)  # one flow-run process
    first.metrics(_outcome("refreshed", attempts=3))
    first.metrics(_outcome("failed", "ClientRejected"))
    first.flush()
    first.metrics(_outcome("busy"))
    first.flush()  # adds only what came since the last flush
    second = TextfileExport(path)  # the next run's process
    second.metrics(_outcome("refreshed"))
    second.metrics(_outcome("failed", "ClientRejected"))
    second.flush()

    found = samples(path.read_text())
    outcomes = "switchboard_refresh_outcomes_total"
    assert value(found, outcomes, status="refreshed", error_class="") == 2
    assert value(found, outcomes, status="failed", error_class="ClientRejected") == 2
    assert value(found, outcomes, status="busy", error_class="") == 1
    assert value(found, "switchboard_refresh_retries_total") == 2
    assert not any(name.endswith("_created") for name, _ in found)
    assert {f.type for f in text_string_to_metric_families(path.read_text())} == {"counter"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, f"{path.name}.lock"]
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_textfile_that_is_not_prometheus_text_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "switchboard_refresh.prom"
    path.write_text("not { a metric\n")
    export = TextfileExport(path)
    export.metrics(_outcome("refreshed"))
    with pytest.raises(ValueError, match="move it away"):
        export.flush()
    assert path.read_text() == "not { a metric\n"


def _merge_many(path: str, times: int) -> None:
    one = {
        "switchboard_refresh_outcomes": (
            "Refreshes.",
            {(("error_class", ""), ("status", "refreshed")): 1.0},
        )
    }
    for _ in range(times):
        merge_textfile(Path(path), one)


def test_concurrent_writers_lose_no_count(tmp_path: Path) -> None:
    path = tmp_path / "switchboard_refresh.prom"
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_merge_many, args=(str(path), 150)) for _ in range(3)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
        assert writer.exitcode == 0
    found = samples(path.read_text())
    assert (
        value(found, "switchboard_refresh_outcomes_total", status="refreshed", error_class="")
        == 450
    )


def test_a_stuck_textfile_lock_costs_the_counts_not_the_run(tmp_path: Path) -> None:
    """A writer that holds the lock for ever (a frozen process, a network file system) must not
    hang the refresh run that wants to add its counts: it waits a bounded time, then gives up."""
    import fcntl

    path = tmp_path / "switchboard.prom"
    holder = os.open(f"{path}.lock", os.O_RDONLY | os.O_CREAT, 0o644)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        with pytest.raises(TimeoutError):
            merge_textfile(path, {"x_total": ("x", {(): 1.0})}, wait_seconds=0.2)
    finally:
        os.close(holder)
    assert not path.exists()
