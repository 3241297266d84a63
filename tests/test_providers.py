"""Providers as they really behave: one test per sandbox profile (``sandbox/profiles.py``).

Each test runs Switchboard's real ``Refresher`` against the sandbox, whose client answers as
the named provider documents, and OpenBao. What each profile checks is in the README's table
("Providers as they really behave").
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx2
import pytest
from helpers import (
    NewCredential,
    counters,
    ping,
    refresh_record,
    register_credential,
    stored_token,
    token_fault,
)
from pydantic import SecretStr

from sandbox.profiles import PROFILES
from sandbox.servers import ManagedProcess
from switchboard._exceptions import ClientRejected, CredentialRevoked
from switchboard._models import ClientDefinition, StoredToken, utcnow
from switchboard._settings import TokenSettings
from switchboard.journal import JournalEntry
from switchboard.oauth2 import (
    MAX_LIFETIME_SECONDS,
    TokenAnswer,
    classify_oauth_error,
    parse_token_answer,
    refresh_expires_at,
)
from switchboard.refresh import Refresher
from switchboard.refresh._pair import PairWriter
from switchboard.vault import CredentialStore


@pytest.fixture
def settings(tmp_path: Path) -> TokenSettings:
    return TokenSettings(journal_dir=tmp_path / "journal")


@pytest.fixture
def refresher(credential_store: CredentialStore, settings: TokenSettings) -> Refresher:
    return Refresher(credential_store, settings)


def lifetime(token: StoredToken) -> float:
    return (token.expires_at - token.obtained_at).total_seconds()


def close_to(moment: datetime | None, expected: datetime, seconds: float = 3) -> bool:
    return moment is not None and abs((moment - expected).total_seconds()) <= seconds


def refreshed(refresher: Refresher, name: str, *, force: bool = False) -> StoredToken:
    outcome = refresher.refresh(name, force=force)
    assert (outcome.status, outcome.state) == ("refreshed", "healthy"), outcome.message
    return stored_token(refresher.store, name)


def test_every_profile_cites_its_provider() -> None:
    assert len(PROFILES) >= 12
    for profile in PROFILES.values():
        assert len(profile.doc) > 80, profile.name


def test_sandbox_refuses_an_unknown_profile(sandbox: ManagedProcess) -> None:
    answer = httpx2.post(f"{sandbox.url}/_control/clients", json={"profile": "nope"})
    assert answer.status_code == 400 and "strict" in answer.json()["detail"]


# -- strict and reuse grace: a retried refresh whose answer was lost --------------------------


def _lose_the_first_answer(
    credential_store: CredentialStore,
    tmp_path: Path,
    sandbox: ManagedProcess,
    new_credential: NewCredential,
    profile: str,
) -> tuple[Refresher, str, int]:
    """Refresh once, then refresh again while the provider's first answer is lost: the request
    times out after the provider rotated, and Switchboard retries with the same token."""
    settings = TokenSettings(journal_dir=tmp_path / "journal", http_timeout=0.5, max_attempts=2)
    refresher = Refresher(credential_store, settings, sleep=lambda _: time.sleep(1.5))
    name, client = new_credential("refresh_token", profile=profile)
    refreshed(refresher, name)
    reuse_before = int(counters(sandbox)["reuse_detected"])  # type: ignore[call-overload]
    token_fault(sandbox, client["client_id"], latency=1.0)  # answered after we gave up
    return refresher, name, reuse_before


def test_strict_reuse_after_a_lost_answer_revokes_the_family(
    credential_store: CredentialStore,
    tmp_path: Path,
    sandbox: ManagedProcess,
    new_credential: NewCredential,
) -> None:
    refresher, name, reuse_before = _lose_the_first_answer(
        credential_store, tmp_path, sandbox, new_credential, "strict"
    )
    before = stored_token(credential_store, name)
    outcome = refresher.refresh(name, force=True)
    assert (outcome.status, outcome.state, outcome.error_class) == (
        "failed",
        "revoked",
        "CredentialRevoked",
    )
    assert int(counters(sandbox)["reuse_detected"]) > reuse_before  # type: ignore[call-overload]
    assert ping(sandbox, before.access_token) == 401  # the whole family is dead
    assert refresh_record(credential_store, name).intent is None


def test_reuse_grace_answers_the_retry_with_the_same_pair(
    credential_store: CredentialStore,
    tmp_path: Path,
    sandbox: ManagedProcess,
    new_credential: NewCredential,
) -> None:
    refresher, name, reuse_before = _lose_the_first_answer(
        credential_store, tmp_path, sandbox, new_credential, "reuse_grace"
    )
    outcome = refresher.refresh(name, force=True)
    assert (outcome.status, outcome.state, outcome.attempts) == ("refreshed", "healthy", 2)
    assert int(counters(sandbox)["reuse_detected"]) == reuse_before  # type: ignore[call-overload]
    assert ping(sandbox, stored_token(credential_store, name).access_token) == 200
    refreshed(refresher, name, force=True)  # the stored refresh token is the live one


# -- expires_in: strings, missing, zero, absurd -------------------------------------------------


@pytest.mark.parametrize("profile", ["azure_ad_v1", "netsuite"])
def test_expires_in_as_a_string(
    refresher: Refresher, new_credential: NewCredential, profile: str
) -> None:
    name, _ = new_credential("refresh_token", profile=profile, access_token_lifetime=120)
    assert lifetime(refreshed(refresher, name)) == 120


def test_zendesk_no_expires_in_lower_case_bearer_no_rotation(
    refresher: Refresher, new_credential: NewCredential, sandbox: ManagedProcess
) -> None:
    name, client = new_credential("refresh_token", profile="zendesk", default_lifetime_seconds=777)
    token = refreshed(refresher, name)
    assert lifetime(token) == 777  # the client definition's default lifetime
    assert token.token_type == "Bearer"  # RFC 6749 §5.1: case-insensitive; stored as RFC 6750
    assert (
        refresh_record(refresher.store, name).refresh_token.get_secret_value()
        == (  # type: ignore[union-attr]
            client["refresh_token"]
        )
    )
    assert ping(sandbox, refreshed(refresher, name, force=True).access_token) == 200


def test_expires_in_zero_is_the_default_lifetime(
    refresher: Refresher, new_credential: NewCredential
) -> None:
    name, _ = new_credential(profile="expires_in_zero", default_lifetime_seconds=900)
    token = refreshed(refresher, name)
    assert lifetime(token) == 900
    assert token.obtained_at < token.refresh_after < token.expires_at


@pytest.mark.parametrize("odd", [None, "inf", "1e12", -5])
def test_absurd_expires_in_is_clamped_or_defaulted(
    refresher: Refresher, new_credential: NewCredential, odd: object
) -> None:
    options = {} if odd is None else {"expires_in_value": odd}
    name, _ = new_credential(
        "refresh_token", profile="expires_in_absurd", default_lifetime_seconds=600, **options
    )
    token = refreshed(refresher, name)
    assert lifetime(token) == (600 if odd in ("inf", -5) else MAX_LIFETIME_SECONDS)
    refreshed(refresher, name, force=True)  # the pair was stored: its refresh token works


# -- refresh-token lifetimes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "seconds"),
    [("keycloak", 1800), ("github", 15_811_200), ("azure_ad_b2c", 1_209_600)],
)
def test_refresh_token_lifetime_is_recorded(
    refresher: Refresher, new_credential: NewCredential, profile: str, seconds: int
) -> None:
    # Keycloak's own access-token lifespan (5 minutes): with the sandbox's default hour the
    # 30-minute session would end before the next refresh, which the radar rightly reports.
    options = {"access_token_lifetime": 300} if profile == "keycloak" else {}
    name, _ = new_credential("refresh_token", profile=profile, **options)
    token = refreshed(refresher, name)
    record = refresh_record(refresher.store, name)
    assert close_to(record.refresh_expires_at, token.obtained_at + timedelta(seconds=seconds))
    assert (
        "refresh_expires_at"
        not in refresher.store.kv.read(refresher.store.path(name, "token")).data
    )  # consumers see access tokens only


def test_a_pair_that_does_not_rotate_keeps_the_stored_refresh_lifetime(
    credential_store: CredentialStore, settings: TokenSettings, new_credential: NewCredential
) -> None:
    """Google-like answers carry neither a refresh token nor its lifetime: what Vault knew about
    the refresh token's expiry still holds, so ``commit`` keeps it."""
    refresher = Refresher(credential_store, settings)
    name, _ = new_credential("refresh_token", profile="google")
    refreshed(refresher, name)
    versioned = credential_store.read_refresh(name)
    assert versioned.record is not None and versioned.record.refresh_token is not None
    expiry = utcnow() + timedelta(days=30)
    base = versioned.record.model_copy(update={"refresh_expires_at": expiry})
    version = credential_store.write_refresh(name, base, cas=versioned.version)
    spent = versioned.record.refresh_token
    answer = TokenAnswer(
        raw={"access_token": "sbx-at-kept", "expires_in": 60}, obtained_at=utcnow()
    )
    entry = JournalEntry(answer=answer, claim_version=version, spent=spent, seed_version=None)
    pairs = PairWriter(credential_store, settings, refresher.journal)
    definition = credential_store.read_client(name)
    pairs.commit(
        name, definition, entry, base=base, token_version=credential_store.read_token(name).version
    )
    kept = refresh_record(credential_store, name)
    assert kept.refresh_token.get_secret_value() == spent.get_secret_value()  # type: ignore[union-attr]
    assert close_to(kept.refresh_expires_at, expiry, seconds=0.01)

    rotated = TokenAnswer(
        raw={"access_token": "sbx-at-new", "refresh_token": "sbx-rt-new"}, obtained_at=utcnow()
    )
    current = credential_store.read_refresh(name)
    entry = JournalEntry(
        answer=rotated, claim_version=current.version, spent=spent, seed_version=None
    )
    pairs.commit(
        name, definition, entry, base=kept, token_version=credential_store.read_token(name).version
    )
    assert refresh_record(credential_store, name).refresh_expires_at is None  # a new token: unknown


def test_google_does_not_rotate_the_refresh_token(
    refresher: Refresher, new_credential: NewCredential, sandbox: ManagedProcess
) -> None:
    name, client = new_credential("refresh_token", profile="google")
    for _ in range(3):
        token = refreshed(refresher, name, force=True)
        record = refresh_record(refresher.store, name)
        assert record.refresh_token.get_secret_value() == client["refresh_token"]  # type: ignore[union-attr]
        assert record.refresh_expires_at is None
        assert ping(sandbox, token.access_token) == 200


# -- scope narrowed on refresh ----------------------------------------------------------------


def test_a_narrowed_scope_is_stored_and_not_asked_back(
    refresher: Refresher,
    sandbox: ManagedProcess,
    credential_store: CredentialStore,
    unique_name: str,
) -> None:
    register_credential(
        sandbox.url,
        credential_store,
        unique_name,
        "refresh_token",
        definition={"scope": "read write"},
        scope="read write",
        profile="narrowing_scope",
    )
    assert refreshed(refresher, unique_name).scope == "read"
    assert refreshed(refresher, unique_name, force=True).scope == "read"  # not "invalid_scope"
    assert refreshed(refresher, unique_name, force=True).scope == "read"


# -- invalid_client as 400, as 401, and inside a 200 --------------------------------------------


@pytest.mark.parametrize(
    ("profile", "auth_method", "status"),
    [
        ("salesforce", "client_secret_basic", 400),
        ("django_oauth_toolkit", "client_secret_post", 401),
        ("github", "client_secret_basic", 200),
    ],
)
def test_a_rejected_client_secret_falls_back_then_is_misconfigured(
    refresher: Refresher,
    sandbox: ManagedProcess,
    credential_store: CredentialStore,
    unique_name: str,
    profile: str,
    auth_method: str,
    status: int,
) -> None:
    client = register_credential(
        sandbox.url,
        credential_store,
        unique_name,
        "refresh_token",
        profile=profile,
        definition={"auth_method": auth_method},
    )
    definition = credential_store.read_client(unique_name)
    wrong = SecretStr("sbx-cs-wrong")
    answer = httpx2.post(
        definition.token_url,
        data={"grant_type": "refresh_token", "refresh_token": "sbx-rt-x"}
        | (
            {"client_id": client["client_id"], "client_secret": "sbx-cs-wrong"}
            if auth_method == "client_secret_post"
            else {}
        ),
        auth=None if auth_method == "client_secret_post" else (client["client_id"], "sbx-cs-wrong"),
    )
    assert answer.status_code == status  # the provider's way of saying it
    assert ("WWW-Authenticate" in answer.headers) == (status == 401)

    rotated = definition.model_copy(update={"client_secrets": (wrong, *definition.client_secrets)})
    credential_store.put_client(unique_name, rotated)
    refreshed(refresher, unique_name)  # the next secret in the list is tried

    credential_store.put_client(
        unique_name, definition.model_copy(update={"client_secrets": (wrong,)})
    )
    outcome = refresher.refresh(unique_name, force=True)
    assert (outcome.state, outcome.error_class) == ("misconfigured", "ClientRejected")


@pytest.mark.parametrize("profile", ["errors_in_200", "github"])
def test_invalid_grant_inside_a_200_answer_is_revoked(
    refresher: Refresher, new_credential: NewCredential, sandbox: ManagedProcess, profile: str
) -> None:
    name, client = new_credential("refresh_token", profile=profile)
    refreshed(refresher, name)
    kept = refresh_record(refresher.store, name).refresh_token
    token_fault(sandbox, client["client_id"], status=400, error="invalid_grant")
    outcome = refresher.refresh(name, force=True)
    assert (outcome.state, outcome.error_class) == ("revoked", "CredentialRevoked")
    record = refresh_record(refresher.store, name)
    assert record.intent is None and record.refresh_token == kept


# -- Retry-After as an HTTP date --------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_as_an_http_date_parks_the_credential(
    refresher: Refresher, new_credential: NewCredential, sandbox: ManagedProcess, status: int
) -> None:
    name, client = new_credential("refresh_token", profile="retry_after_date")
    token_fault(sandbox, client["client_id"], status=status, retry_after=600, count=2)
    raw = httpx2.post(
        f"{sandbox.url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "sbx-rt-x"},
        auth=(client["client_id"], client["client_secret"]),
    )
    assert raw.status_code == status
    parsedate_to_datetime(raw.headers["Retry-After"])  # a date, not seconds
    started = utcnow()
    outcome = refresher.refresh(name)
    assert outcome.status == "failed"  # Retry-After is longer than a run waits
    health = refresher.store.read_health(name)
    assert health is not None
    assert close_to(health.next_attempt_at, started + timedelta(seconds=600), seconds=5)
    assert refresher.refresh(name, force=True).status == "skipped"  # force never beats it


# -- the same rules without servers -----------------------------------------------------------

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ({"refresh_expires_in": 1800}, 1800),
        ({"refresh_token_expires_in": "15811200"}, 15_811_200),
        ({"refresh_expires_in": 0}, None),  # Keycloak's offline tokens: no limit
        ({"refresh_token_expires_in": "inf"}, None),
        ({"refresh_token_expires_in": 1e12}, MAX_LIFETIME_SECONDS),
        ({"refresh_expires_in": True}, None),
        ({}, None),
    ],
)
def test_refresh_expires_at(raw: dict[str, object], seconds: int | None) -> None:
    expected = None if seconds is None else NOW + timedelta(seconds=seconds)
    assert refresh_expires_at(raw, NOW) == expected


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("bearer", "Bearer"), ("BEARER", "Bearer"), (None, "Bearer"), ("DPoP", "DPoP")],
)
def test_token_type_is_stored_as_rfc_6750_spells_it(sent: str | None, stored: str) -> None:
    definition = ClientDefinition(
        token_url="https://idp.example/token", client_id="c", client_secrets=(SecretStr("s"),)
    )
    raw = {"access_token": "sbx-at", "token_type": sent}
    answer = parse_token_answer(TokenAnswer(raw=raw, obtained_at=NOW), definition, spent=None)
    assert answer.token_type == stored


@pytest.mark.parametrize(
    ("code", "kind", "rfc_code"),
    [
        ("bad_refresh_token", CredentialRevoked, "invalid_grant"),
        ("incorrect_client_credentials", ClientRejected, "invalid_client"),
    ],
)
def test_githubs_codes_are_the_rfc_codes(code: str, kind: type, rfc_code: str) -> None:
    error = classify_oauth_error(code, status=200, url="https://github.com/login/oauth/token")
    assert isinstance(error, kind) and error.error == rfc_code and code in str(error)
