"""The expiry radar end to end: the real ``Refresher``, OpenBao, and sandbox clients whose
answers carry refresh-token lifetimes as real providers send them (``sandbox/profiles.py``).

The pure decisions are in ``tests/test_radar_policy.py``; here: what a refresh records in the
health, when the state is ``refresh_expiring``, and that it alerts once and recovers once.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import NewCredential, refresh_record

from switchboard._models import CredentialHealth, RefreshOutcome, utcnow
from switchboard._settings import TokenSettings
from switchboard.refresh import Refresher
from switchboard.vault import CredentialStore

DAY = 86_400


@pytest.fixture
def refresher(credential_store: CredentialStore, tmp_path: Path) -> Refresher:
    return Refresher(credential_store, TokenSettings(journal_dir=tmp_path / "journal"))


def define(store: CredentialStore, name: str, **fields: Any) -> None:
    """Change the stored client definition as an operator would."""
    store.put_client(name, store.read_client(name).model_copy(update=fields))


def refreshed(refresher: Refresher, name: str) -> tuple[RefreshOutcome, CredentialHealth]:
    outcome = refresher.refresh(name, force=True)
    assert outcome.status == "refreshed", outcome.message
    health = refresher.store.read_health(name)
    assert health is not None
    return outcome, health


def test_a_lifetime_renewed_by_rotation_is_tracked_not_alarming(
    refresher: Refresher, new_credential: NewCredential
) -> None:
    """GitHub: every refresh rotates and states six months again. Even with a warning longer
    than that, nothing alarms: the next refresh always comes first."""
    name, _ = new_credential("refresh_token", profile="github", access_token_lifetime=600)
    define(refresher.store, name, refresh_warning_seconds=365 * DAY)
    for _ in range(2):
        outcome, health = refreshed(refresher, name)
        assert (outcome.state, outcome.alert, health.state) == ("healthy", None, "healthy")
        record = refresh_record(refresher.store, name)
        assert health.refresh_expires_at == record.refresh_expires_at is not None
        assert health.refresh_used_at == record.obtained_at
        assert health.refresh_deadline_at is None and health.alerts == ()


def test_a_short_lifetime_the_next_refresh_comes_too_late_for(
    refresher: Refresher, new_credential: NewCredential
) -> None:
    """Keycloak's 1800 s refresh lifetime is renewed by each refresh, but with hour-long access
    tokens the next refresh comes after it has run out: ``refresh_expiring``, alerted once."""
    name, _ = new_credential("refresh_token", profile="keycloak", access_token_lifetime=3600)
    outcome, health = refreshed(refresher, name)
    record = refresh_record(refresher.store, name)
    assert (outcome.state, outcome.alert) == ("refresh_expiring", "refresh_token_expires")
    assert outcome.refresh_deadline_at == health.refresh_deadline_at == record.refresh_expires_at
    assert health.state == "refresh_expiring" and health.message is not None
    assert "keep_alive_seconds" in health.message and "sbx-" not in health.message
    assert [alert.cause for alert in health.alerts] == ["refresh_token_expires"]

    again, _ = refreshed(refresher, name)
    assert (again.state, again.alert, again.recovered) == ("refresh_expiring", None, False)

    # the operator keeps it alive more often than it lives: it heals, one recovery notice
    define(refresher.store, name, keep_alive_seconds=900)
    healed, health = refreshed(refresher, name)
    assert (healed.state, healed.alert, healed.recovered) == ("healthy", None, True)
    assert health.alerts == () and health.refresh_deadline_at is None
    last, _ = refreshed(refresher, name)
    assert (last.state, last.recovered) == ("healthy", False)


def test_keycloak_with_short_access_tokens_is_healthy(
    refresher: Refresher, new_credential: NewCredential
) -> None:
    name, _ = new_credential("refresh_token", profile="keycloak", access_token_lifetime=300)
    for _ in range(2):
        outcome, health = refreshed(refresher, name)
        assert (outcome.state, outcome.alert, health.refresh_deadline_at) == ("healthy", None, None)


def test_a_fixed_lifetime_is_announced_the_warning_ahead(
    refresher: Refresher, new_credential: NewCredential
) -> None:
    """A provider that does not rotate keeps the lifetime it stated once: refreshing does not
    extend it, so it alarms once it is within the warning (7 days by default)."""
    store = refresher.store
    name, _ = new_credential("refresh_token", profile="google", access_token_lifetime=600)
    refreshed(refresher, name)
    versioned = store.read_refresh(name)
    assert versioned.record is not None
    end = utcnow() + timedelta(days=8)
    store.write_refresh(
        name,
        versioned.record.model_copy(update={"refresh_expires_at": end}),
        cas=versioned.version,
    )
    outcome, _ = refreshed(refresher, name)
    assert (outcome.state, outcome.alert) == ("healthy", None)  # 8 days: not yet

    define(store, name, refresh_warning_seconds=9 * DAY)
    outcome, health = refreshed(refresher, name)
    assert (outcome.state, outcome.alert) == ("refresh_expiring", "refresh_token_expires")
    assert health.refresh_deadline_at is not None
    assert abs((health.refresh_deadline_at - end).total_seconds()) < 0.01
    assert "new seed" in (health.message or "")


def test_an_idle_limit_shorter_than_the_keep_alive(
    refresher: Refresher, new_credential: NewCredential
) -> None:
    name, _ = new_credential("refresh_token", profile="strict", access_token_lifetime=7200)
    define(refresher.store, name, refresh_idle_limit_seconds=3600)
    outcome, health = refreshed(refresher, name)
    assert (outcome.state, outcome.alert) == ("refresh_expiring", "refresh_token_idle")
    assert health.refresh_used_at is not None and health.refresh_deadline_at is not None
    assert health.refresh_deadline_at - health.refresh_used_at == timedelta(seconds=3600)

    define(refresher.store, name, refresh_idle_limit_seconds=90 * DAY)
    healed, _ = refreshed(refresher, name)
    assert (healed.state, healed.recovered) == ("healthy", True)


def test_client_credentials_have_no_radar(
    refresher: Refresher, new_credential: NewCredential
) -> None:
    name, _ = new_credential()
    outcome, health = refreshed(refresher, name)
    assert (outcome.state, health.refresh_expires_at, health.refresh_used_at) == (
        "healthy",
        None,
        None,
    )
