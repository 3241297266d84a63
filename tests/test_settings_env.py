"""Every documented ``SWITCHBOARD_LP_*``, ``SWITCHBOARD_INGRESS_*`` and ``SWITCHBOARD_METRICS_*``
variable, set from the
environment as an operator would, is parsed to the value meant (the README lists them)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from switchboard._settings import load
from switchboard.ingress import IngressSettings
from switchboard.liveperson import LivePersonSettings, SkillRule
from switchboard.metrics import MetricsSettings

README = Path(__file__).resolve().parent.parent / "README.md"

RULE = {"threshold_minutes": 3, "busy_message": "Busy: about {minutes} min"}
LP: dict[str, tuple[str, str, Any]] = {  # variable: (text in the environment, field, parsed)
    "SWITCHBOARD_LP_ACCOUNT_ID": ("12345678", "account_id", "12345678"),
    "SWITCHBOARD_LP_CSDS_HOST": ("csds.example:8443", "csds_host", "csds.example:8443"),
    "SWITCHBOARD_LP_SCHEME": ("http", "scheme", "http"),
    "SWITCHBOARD_LP_AVAILABILITY_SOURCE": (
        "key_messaging_metrics",
        "availability_source",
        "key_messaging_metrics",
    ),
    "SWITCHBOARD_LP_QUEUE_HEALTH_VERSION": ("1", "queue_health_version", 1),
    "SWITCHBOARD_LP_BEARER_CREDENTIAL": ("lp-bearer", "bearer_credential", "lp-bearer"),
    "SWITCHBOARD_LP_OAUTH1_KEYS": ("lp-keys", "oauth1_keys", "lp-keys"),
    "SWITCHBOARD_LP_DEFAULT_RULE": (
        json.dumps({"threshold_minutes": 7}),
        "default_rule",
        SkillRule(threshold_minutes=7),
    ),
    "SWITCHBOARD_LP_SKILL_RULES": (
        json.dumps({"12": RULE}),
        "skill_rules",
        {"12": SkillRule(**RULE)},
    ),
    "SWITCHBOARD_LP_MESSAGING_PATH": (
        "/m/{account_id}/c/{conversation_id}",
        "messaging_path",
        "/m/{account_id}/c/{conversation_id}",
    ),
    "SWITCHBOARD_LP_CLIENT_SOURCE": ("crm", "client_source", "crm"),
    "SWITCHBOARD_LP_TIMEOUT_SECONDS": ("2.5", "timeout_seconds", 2.5),
    "SWITCHBOARD_LP_SEND_CONCURRENCY": ("4", "send_concurrency", 4),
    "SWITCHBOARD_LP_MAX_ATTEMPTS": ("5", "max_attempts", 5),
    "SWITCHBOARD_LP_CSDS_TTL_SECONDS": ("60", "csds_ttl_seconds", 60.0),
    "SWITCHBOARD_LP_QUEUE_HEALTH_WINDOW_SECONDS": ("120", "queue_health_window_seconds", 120),
    "SWITCHBOARD_LP_QUEUE_HEALTH_CACHE_SECONDS": ("15", "queue_health_cache_seconds", 15.0),
}
INGRESS: dict[str, tuple[str, str, Any]] = {
    "SWITCHBOARD_INGRESS_HOST": ("::1", "host", "::1"),
    "SWITCHBOARD_INGRESS_PORT": ("9999", "port", 9999),
    "SWITCHBOARD_INGRESS_WEBHOOK_SECRET": ("sbx-hook", "webhook_secret", SecretStr("sbx-hook")),
    "SWITCHBOARD_INGRESS_ALLOW_UNSIGNED": ("true", "allow_unsigned", True),
    "SWITCHBOARD_INGRESS_SIGNATURE_MAX_AGE_SECONDS": ("60", "signature_max_age_seconds", 60.0),
    "SWITCHBOARD_INGRESS_BATCH_WINDOW_MS": ("25", "batch_window_ms", 25.0),
    "SWITCHBOARD_INGRESS_MAX_BATCH_SIZE": ("50", "max_batch_size", 50),
    "SWITCHBOARD_INGRESS_MAX_IN_FLIGHT": ("2", "max_in_flight", 2),
    "SWITCHBOARD_INGRESS_MAX_QUEUED_EVENTS": ("300", "max_queued_events", 300),
    "SWITCHBOARD_INGRESS_MAX_EVENTS_PER_REQUEST": ("10", "max_events_per_request", 10),
    "SWITCHBOARD_INGRESS_MAX_BODY_BYTES": ("1000", "max_body_bytes", 1000),
    "SWITCHBOARD_INGRESS_MAX_CONCURRENT_REQUESTS": ("12", "max_concurrent_requests", 12),
    "SWITCHBOARD_INGRESS_MAX_BUFFERED_BYTES": ("5000", "max_buffered_bytes", 5000),
    "SWITCHBOARD_INGRESS_METRICS": ("on", "metrics", "on"),
    "SWITCHBOARD_INGRESS_METRICS_TOKEN": ("sbx-scrape", "metrics_token", SecretStr("sbx-scrape")),
    "SWITCHBOARD_INGRESS_ACCOUNT_BLOCK": ("lp-prod", "account_block", "lp-prod"),
    "SWITCHBOARD_INGRESS_VAULT_BLOCK": ("vault-prod", "vault_block", "vault-prod"),
}
METRICS: dict[str, tuple[str, str, Any]] = {
    "SWITCHBOARD_METRICS_CREDENTIAL_NAMES": ("true", "credential_names", True),
    "SWITCHBOARD_METRICS_CACHE_SECONDS": ("30", "cache_seconds", 30.0),
    "SWITCHBOARD_METRICS_TOKEN": ("sbx-scrape", "token", SecretStr("sbx-scrape")),
    "SWITCHBOARD_METRICS_TEXTFILE": (
        "/var/lib/node_exporter/textfile/switchboard.prom",
        "textfile",
        Path("/var/lib/node_exporter/textfile/switchboard.prom"),
    ),
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("SWITCHBOARD_LP_", "SWITCHBOARD_INGRESS_", "SWITCHBOARD_METRICS_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env


def documented(prefix: str) -> set[str]:
    """The variables the README's configuration tables list (first column)."""
    return set(re.findall(rf"^\| `({prefix}[A-Z0-9_]+)`", README.read_text(), re.MULTILINE))


@pytest.mark.parametrize(
    ("prefix", "table", "settings_cls"),
    [
        ("SWITCHBOARD_LP_", LP, LivePersonSettings),
        ("SWITCHBOARD_INGRESS_", INGRESS, IngressSettings),
        ("SWITCHBOARD_METRICS_", METRICS, MetricsSettings),
    ],
)
def test_every_documented_variable_is_parsed_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, prefix: str, table: dict, settings_cls: type
) -> None:
    assert documented(prefix) == set(table), "README and this test disagree on the variables"
    for variable, (text, _, _) in table.items():
        monkeypatch.setenv(variable, text)
    settings = load(settings_cls)
    for variable, (_, field, parsed) in table.items():
        value = getattr(settings, field)
        if isinstance(parsed, SecretStr):
            value, parsed = value.get_secret_value(), parsed.get_secret_value()
        assert value == parsed, variable


def test_a_metrics_textfile_node_exporter_would_not_read_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from switchboard._exceptions import ConfigurationError

    monkeypatch.setenv("SWITCHBOARD_METRICS_TEXTFILE", "/var/lib/node_exporter/switchboard.txt")
    with pytest.raises(ConfigurationError, match=r"SWITCHBOARD_METRICS_TEXTFILE.*\.prom"):
        load(MetricsSettings)


@pytest.mark.parametrize("version", ["1", "2", " 2 "])
def test_queue_health_version_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    monkeypatch.setenv("SWITCHBOARD_LP_ACCOUNT_ID", "123")
    monkeypatch.setenv("SWITCHBOARD_LP_OAUTH1_KEYS", "keys")
    monkeypatch.setenv("SWITCHBOARD_LP_QUEUE_HEALTH_VERSION", version)
    assert load(LivePersonSettings).queue_health_version == int(version)


@pytest.mark.parametrize("version", ["3", "v2", "1.5"])
def test_a_wrong_queue_health_version_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    from switchboard._exceptions import ConfigurationError

    monkeypatch.setenv("SWITCHBOARD_LP_ACCOUNT_ID", "123")
    monkeypatch.setenv("SWITCHBOARD_LP_QUEUE_HEALTH_VERSION", version)
    with pytest.raises(ConfigurationError, match="SWITCHBOARD_LP_QUEUE_HEALTH_VERSION"):
        load(LivePersonSettings)


def test_an_unknown_availability_source_names_the_variable_and_the_choices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from switchboard._exceptions import ConfigurationError

    monkeypatch.setenv("SWITCHBOARD_LP_ACCOUNT_ID", "123")
    monkeypatch.setenv("SWITCHBOARD_LP_AVAILABILITY_SOURCE", "kmm")
    with pytest.raises(ConfigurationError, match=r"SWITCHBOARD_LP_AVAILABILITY_SOURCE.*agent_view"):
        load(LivePersonSettings)


@pytest.mark.parametrize("account", ["..", ".", "a/b"])
def test_an_account_id_that_is_not_one_path_segment_is_refused(
    monkeypatch: pytest.MonkeyPatch, account: str
) -> None:
    from switchboard._exceptions import ConfigurationError

    monkeypatch.setenv("SWITCHBOARD_LP_ACCOUNT_ID", account)
    with pytest.raises(ConfigurationError, match="SWITCHBOARD_LP_ACCOUNT_ID"):
        load(LivePersonSettings)


def test_the_webhook_secret_never_shows_in_a_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_INGRESS_WEBHOOK_SECRET", "sbx-hook-value")
    settings = load(IngressSettings)
    assert "sbx-hook-value" not in repr(settings) and "sbx-hook-value" not in str(settings)
