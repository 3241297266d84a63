"""Prometheus metrics, scraped from real servers and parsed as Prometheus would parse them."""

from __future__ import annotations

import json
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
from switchboard._settings import TokenSettings, load
from switchboard.ingress import IngressSettings
from switchboard.metrics import RefreshMetrics, metrics_command
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


def test_metrics_beyond_loopback_need_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_INGRESS_WEBHOOK_SECRET", "sbx-hook")
    monkeypatch.setenv("SWITCHBOARD_INGRESS_HOST", "0.0.0.0")
    monkeypatch.setenv("SWITCHBOARD_INGRESS_METRICS", "on")
    with pytest.raises(ConfigurationError, match="SWITCHBOARD_INGRESS_METRICS_TOKEN"):
        load(IngressSettings)
    monkeypatch.setenv("SWITCHBOARD_INGRESS_METRICS", "everywhere")
    with pytest.raises(ConfigurationError, match="SWITCHBOARD_INGRESS_METRICS"):
        load(IngressSettings)
    monkeypatch.setenv("SWITCHBOARD_INGRESS_METRICS", "on")
    monkeypatch.setenv("SWITCHBOARD_INGRESS_METRICS_TOKEN", METRICS_TOKEN)
    assert load(IngressSettings).metrics_token == SecretStr(METRICS_TOKEN)


def test_serving_beyond_loopback_without_a_token_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from switchboard.cli import main

    monkeypatch.delenv("SWITCHBOARD_METRICS_TOKEN", raising=False)
    assert main(["metrics", "--serve", "0.0.0.0:9464"]) == 2
    assert "SWITCHBOARD_METRICS_TOKEN" in capsys.readouterr().err


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
