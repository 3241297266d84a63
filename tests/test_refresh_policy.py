"""The refresh policy, snapshots, expiry parsing, token URLs and settings as tables: no servers."""

from __future__ import annotations

import json
import random
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest
from pydantic import SecretStr, ValidationError

from switchboard import ClientRejected, ConfigurationError, CredentialRevoked, VaultUnavailable
from switchboard._exceptions import RefreshInDoubt, TokenEndpointError, TransientTokenError
from switchboard._models import ClientDefinition, CredentialHealth, Intent, RefreshRecord
from switchboard._models import StoredToken as Token
from switchboard._settings import TokenSettings
from switchboard._urls import check_token_url, origin, redact_url
from switchboard.oauth2 import TokenAnswer, TokenEndpoint, expires_in_seconds, parse_token_answer
from switchboard.oauth2._endpoint import MAX_LIFETIME_SECONDS
from switchboard.refresh import (
    Snapshot,
    backoff_seconds,
    claim_verdict,
    due_reason,
    failure_state,
    refresh_after,
    run_backoff_seconds,
)
from switchboard.refresh._policy import next_step, vault_wait_seconds
from switchboard.vault import Seed, VersionedRefresh, VersionedToken

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
H, DAY, MAX = 3600, 86_400, MAX_LIFETIME_SECONDS
STALE = TokenSettings.model_fields["claim_stale_seconds"].default  # 600
SETTINGS = TokenSettings(_env_file=None, keep_alive_seconds=DAY, claim_stale_seconds=STALE)
FRESH = "fresh"  # snap()'s default token: an hour old, lives a day, not due
SPENT = SecretStr("sbx-spent")


def table(*rows: tuple) -> list:
    """Rows of ``(id, *values)`` (or ready ``pytest.param``s) for ``parametrize``."""
    return [pytest.param(*r[1:], id=r[0]) if type(r) is tuple else r for r in rows]


BASE = {"token_url": "https://auth.example/token", "client_id": "c", "client_secret": "sbx-cs"}


def definition(grant: str = "refresh_token", **extra: object) -> ClientDefinition:
    fields = {**BASE, "grant": grant, "default_lifetime_seconds": 777, **extra}
    return ClientDefinition.model_validate(fields)


# fmt: off
def token(age: float = H, life: float = DAY, due_in: float | None = None) -> Token:
    """Obtained ``age`` s ago, expiring after ``life`` s, due at 2/3 of it or in ``due_in`` s."""
    obtained = NOW - timedelta(seconds=age)
    due = obtained + timedelta(seconds=life * 2 / 3) if due_in is None else NOW
    return Token(access_token=SecretStr("sbx-access"), obtained_at=obtained,
                 expires_at=obtained + timedelta(seconds=life),
                 refresh_after=due + timedelta(seconds=due_in or 0))


def intent(phase: str = "spending", age: float = 60, seed_version: int | None = None) -> Intent:
    at = NOW - timedelta(seconds=age)
    return Intent(owner="host-a:7", phase=phase, at=at, over_version=3, seed_version=seed_version)


def health(state: str, **fields: object) -> CredentialHealth:
    return CredentialHealth(state=state, **{"client_version": 1, **fields})


def seed(version: int, consumed: int = 0) -> Seed:
    return Seed(refresh_token=SecretStr("sbx-seed"), version=version, consumed_version=consumed)


def snap(
    grant: str = "refresh_token", *, tok: Token | str | None = FRESH, stored_seed: int | None = 1,
    claim: Intent | None = None, sd: Seed | None = None, hl: CredentialHealth | None = None,
    legacy: tuple[SecretStr, int | None] | None = None, record: bool = True,
    client_version: int = 1, written: tuple[datetime, datetime] | None = None, **extra: object,
) -> Snapshot:
    """``written``: when Vault wrote the token and the health record (by Vault's clock)."""
    rotating = grant == "refresh_token"
    rec = RefreshRecord(refresh_token=SecretStr("sbx-refresh"), seed_version=stored_seed)
    rec = rec.model_copy(update={"intent": claim}) if record and rotating else None
    return Snapshot(
        definition=definition(grant, **extra), client_version=client_version,
        token=VersionedToken(token() if tok == FRESH else tok, 4, legacy,
                             written[0] if written else None),
        refresh=VersionedRefresh(rec, 3 if rotating else 0), seed=sd if rotating else None,
        health=hl, health_written_at=written[1] if written else None,
    )
# fmt: on


LATER = NOW + timedelta(hours=1)
REVOKED = health("revoked", seed_version=1)
BACKOFF = health("failing", next_attempt_at=NOW + timedelta(seconds=60))
MISCONF = health("misconfigured", next_attempt_at=LATER)
IDLE_2D, IDLE_2H = token(age=2 * DAY, life=30 * DAY), token(age=2 * H, life=30 * DAY)
CC = "client_credentials"
FORCE: dict = {"force": True}
LEGACY2 = (SecretStr("sbx-legacy"), 2)

# fmt: off
DUE = table(
    ("new-seed", snap(sd=seed(2, 1)), {}, "new seed"),
    ("new-seed-beats-backoff", snap(sd=seed(2, 1), hl=BACKOFF), {}, "new seed"),
    ("revoked-waits", snap(sd=seed(1, 1), hl=REVOKED, tok=None), {}, None),
    ("revoked-even-forced", snap(hl=REVOKED, tok=token(due_in=-1)), FORCE, None),
    ("revoked-then-new-seed", snap(sd=seed(2, 1), hl=REVOKED), {}, "new seed"),
    ("misconfigured-client-changed", snap(client_version=2, hl=MISCONF), {},
     "client definition changed"),
    ("misconfigured-same-client-forced", snap(hl=MISCONF), FORCE, None),
    ("backoff-beats-force", snap(hl=BACKOFF), FORCE, None),
    ("backoff-beats-due", snap(tok=token(due_in=-1), hl=BACKOFF), {}, None),
    ("backoff-over", snap(hl=health("failing", next_attempt_at=NOW)), FORCE, "forced"),
    ("force-when-not-due", snap(), FORCE, "forced"),
    ("in-doubt-resolved", snap(hl=health("in_doubt")), {}, "claim resolved"),
    ("in-doubt-claim-still-there", snap(hl=health("in_doubt"), claim=intent(age=STALE)), {}, None),
    ("no-token", snap(tok=None), {}, "no token yet"),
    ("due-at-refresh-after", snap(tok=token(due_in=0)), {}, "due"),
    ("one-second-early", snap(tok=token(due_in=1)), {}, None),
    ("keep-alive", snap(tok=IDLE_2D), {}, "keep-alive"),
    ("keep-alive-not-yet", snap(tok=token(age=DAY - 1, life=30 * DAY)), {}, None),
    ("idle-after-shorter", snap(tok=IDLE_2H), {"idle_after": H}, "keep-alive"),
    ("idle-after-longer", snap(tok=IDLE_2D), {"idle_after": 3 * DAY}, None),
    ("definition-keep-alive", snap(tok=IDLE_2H, keep_alive_seconds=H), {}, "keep-alive"),
    ("client-credentials-no-keep-alive", snap(CC, tok=IDLE_2D), {"idle_after": 1}, None),
    ("client-credentials-due", snap(CC, tok=token(due_in=0)), {}, "due"),
)
VERDICTS = table(
    ("no-intent", snap(), NOW, "free"),
    ("young-claimed", snap(claim=intent("claimed")), NOW, "busy"),
    ("young-spending", snap(claim=intent("spending")), NOW, "busy"),
    ("stale-claimed", snap(claim=intent("claimed", STALE + 1)), NOW, "take_over"),
    ("stale-spending", snap(claim=intent("spending", STALE)), NOW, "in_doubt"),
    ("stale-spending-new-seed",
     snap(claim=intent("spending", STALE, seed_version=2), sd=seed(3, 2)), NOW, "take_over"),
    ("stale-spending-its-own-seed",
     snap(claim=intent("spending", STALE, seed_version=2), sd=seed(2, 2)), NOW, "in_doubt"),
    ("owner-clock-5min-ahead", snap(claim=intent(age=-300)), NOW, "busy"),
    ("reader-clock-90s-ahead", snap(claim=intent(age=60)), NOW + timedelta(seconds=90), "busy"),
)
SEEDS = table(
    ("no-seed", snap(sd=None), False),
    ("first-seed", snap(sd=seed(1), record=False, tok=None), True),
    ("consumed-marker", snap(sd=seed(2, 2), record=False), False),
    ("stored-record-seed", snap(sd=seed(2), stored_seed=2), False),
    ("newer-than-stored", snap(sd=seed(2), stored_seed=1), True),
    ("legacy-token-seed", snap(sd=seed(2), record=False, legacy=LEGACY2), False),
    ("newer-than-legacy", snap(sd=seed(3), record=False, legacy=LEGACY2), True),
    ("intent-seed", snap(sd=seed(2), claim=intent(seed_version=2)), False),
    ("revoked-health-seed", snap(sd=seed(2), hl=health("revoked", seed_version=2)), False),
    ("failing-health-seed", snap(sd=seed(2), hl=health("failing", seed_version=2)), True),
    ("client-credentials", snap(CC, sd=seed(2)), False),
)
FAILURES = table(
    ("revoked", CredentialRevoked("x", error="invalid_grant"), token(), "revoked"),
    ("in-doubt", RefreshInDoubt("x"), token(), "in_doubt"),
    ("client-rejected", ClientRejected("x", error="invalid_client"), None, "misconfigured"),
    ("configuration", ConfigurationError("x"), token(), "misconfigured"),
    ("transient-live-token", TransientTokenError("x"), token(), "expiring"),
    ("vault-live-token", VaultUnavailable("x"), token(), "expiring"),
    ("transient-expired", TransientTokenError("x"), token(age=2 * DAY), "failing"),
    ("expires-right-now", TransientTokenError("x"), token(age=DAY), "failing"),
    ("no-token", TokenEndpointError("x"), None, "failing"),
)
RUN_BACKOFF = table(
    ("first", "failing", 1, None, 30), ("second", "failing", 2, None, 60),
    ("fifth", "expiring", 5, None, 480), ("in-doubt", "in_doubt", 1, None, 30),
    ("cap", "failing", 6, None, 900), ("far-past-cap", "failing", 60, None, 900),
    ("misconfigured", "misconfigured", 1, None, 300), ("misconf-2", "misconfigured", 2, None, 600),
    ("misconf-cap", "misconfigured", 30, None, DAY), ("retry-after", "failing", 1, 120.0, 120),
    ("retry-after-short", "failing", 6, 5.0, 900), ("misconf-ra", "misconfigured", 1, 3600.0, 3600),
    pytest.param("failing", 1025, None, 900, id="1025-failures"),
)
# fmt: on


@pytest.mark.parametrize(("snapshot", "options", "expected"), DUE)
def test_due_reason(snapshot: Snapshot, options: dict, expected: str | None) -> None:
    assert due_reason(snapshot, SETTINGS, now=NOW, **options) == expected


FRESH_AT = token().obtained_at
SUCCESS = health("healthy", last_success_at=FRESH_AT)
M, HOUR = timedelta(minutes=1), timedelta(hours=1)
# fmt: off
STEPS = table(
    ("reported", snap(hl=SUCCESS), "skip"),
    ("health-lost", snap(hl=None), "report"),
    ("success-report-lost-after-a-failure",
     snap(hl=health("failing", last_attempt_at=FRESH_AT - M, last_success_at=FRESH_AT - HOUR)),
     "report"),
    ("failure-after-the-token", snap(hl=health("failing", last_success_at=FRESH_AT)), "skip"),
    ("backoff-after-the-token", snap(hl=health(
        "failing", last_attempt_at=FRESH_AT + M, last_success_at=FRESH_AT - HOUR,
        next_attempt_at=NOW + timedelta(seconds=60))), "skip"),
    ("revoked-after-the-token", snap(hl=health(
        "revoked", last_attempt_at=FRESH_AT + M, last_success_at=FRESH_AT - HOUR)), "skip"),
    ("vault-clock-token-newer", snap(written=(NOW, NOW - M), hl=health(
        "failing", last_attempt_at=FRESH_AT + HOUR, last_success_at=FRESH_AT - HOUR)), "report"),
    ("vault-clock-health-newer", snap(written=(NOW - M, NOW), hl=health(
        "failing", last_attempt_at=FRESH_AT - HOUR, last_success_at=FRESH_AT - HOUR)), "skip"),
    ("never-succeeded-no-token", snap(tok=None, hl=health("failing")), "refresh"),
    ("client-credentials-health-lost", snap(CC, hl=None), "report"),
    ("due-beats-report", snap(tok=token(due_in=0), hl=None), "refresh"),
    ("busy-beats-report", snap(hl=None, claim=intent("claimed")), "busy"),
)
# fmt: on


@pytest.mark.parametrize(("snapshot", "expected"), STEPS)
def test_next_step(snapshot: Snapshot, expected: str) -> None:
    assert next_step(snapshot, SETTINGS, now=NOW)[0] == expected


@pytest.mark.parametrize(("snapshot", "now", "expected"), VERDICTS)
def test_claim_verdict(snapshot: Snapshot, now: datetime, expected: str) -> None:
    assert claim_verdict(snapshot, now=now, stale_after=STALE) == expected


@pytest.mark.parametrize(("snapshot", "expected"), SEEDS)
def test_seed_is_new(snapshot: Snapshot, expected: bool) -> None:
    assert snapshot.seed_is_new is expected


def test_stored_refresh_token_is_the_record_s_else_the_legacy_token_s() -> None:
    assert snap().stored_refresh_token.get_secret_value() == "sbx-refresh"
    legacy = snap(record=False, legacy=LEGACY2)
    assert legacy.stored_refresh_token.get_secret_value() == "sbx-legacy"
    assert legacy.stored_seed_version == 2


@pytest.mark.parametrize(("exc", "tok", "expected"), FAILURES)
def test_failure_state(exc: Exception, tok: Token | None, expected: str) -> None:
    assert failure_state(exc, tok, NOW) == expected


@pytest.mark.parametrize(("state", "failures", "retry_after", "expected"), RUN_BACKOFF)
def test_run_backoff_seconds(state: str, failures: int, retry_after: float | None, expected: float):
    assert run_backoff_seconds(state, failures, retry_after) == expected


def test_backoff_seconds_and_refresh_after() -> None:
    cases = [(1, None, 0.25, 0.5), (40, None, 5, 10), (1, 12, 12, 12), (5000, None, 5, 10)]
    assert all(0 < vault_wait_seconds(n) <= 5 for n in (1, 3, 5000))  # Vault writes: ≤ 5 s apart
    for attempt, floor, low, high in cases:  # 5000: a long outage retried every few seconds
        for n in range(20):
            assert low <= backoff_seconds(attempt, retry_after=floor, rng=random.Random(n)) <= high
    end = NOW + timedelta(seconds=1000)
    assert refresh_after(NOW, end, fraction=0.5, jitter=0) == NOW + timedelta(seconds=500)
    capped = refresh_after(NOW, end, fraction=0.9, jitter=0.5, rng=random.Random(1))
    assert NOW + timedelta(seconds=900) <= capped <= NOW + timedelta(seconds=950)


# fmt: off
EXPIRES_IN = [
    (3600, 3600), (60.7, 60), ("3600", 3600), ("3600.5", 3600), (" 60 ", 60), ("inf", 7),
    ("nan", 7), ("1e400", 7), (1e12, MAX), (0, 7), (0.5, 7), (-30, 7), ("-30", 7), (None, 7),
    (True, 7), (False, 7), ("soon", 7), ([1], 7), ({}, 7),
    pytest.param(json.loads("1" + "0" * 400), MAX, id="400-digit-int"),
]
ANSWERS = [  # (raw, lifetime, refresh token kept)
    ({"expires_in": "inf", "refresh_token": "sbx-rotated"}, 777, "sbx-rotated"),
    ({"expires_in": 1e12, "refresh_token": "sbx-rotated"}, MAX, "sbx-rotated"),
    ({"expires_in": 3600}, 3600, "sbx-spent"),
    ({"expires_in": "3600", "refresh_token": ""}, 3600, "sbx-spent"),
]
WIRE = [
    pytest.param(3600, id="int"),
    pytest.param("3600.5", id="fraction-string"),
    pytest.param("inf", id="inf-string"),
]
# fmt: on


@pytest.mark.parametrize(("raw", "expected"), EXPIRES_IN)
def test_expires_in_seconds(raw: object, expected: int) -> None:
    assert expires_in_seconds(raw, default=7) == expected


@pytest.mark.parametrize(("raw", "lifetime", "refresh"), ANSWERS)
def test_parse_token_answer(raw: dict, lifetime: int, refresh: str) -> None:
    body = {"access_token": "sbx-access", "token_type": "bearer", **raw}
    response = parse_token_answer(TokenAnswer(body, NOW), definition(), spent=SPENT)
    assert response.expires_at - response.obtained_at == timedelta(seconds=lifetime)
    assert response.refresh_token.get_secret_value() == refresh
    assert response.token_type == "Bearer"  # RFC 6749 §5.1: case-insensitive; stored as RFC 6750
    with pytest.raises(TokenEndpointError, match="without an access_token") as caught:
        parse_token_answer(TokenAnswer(raw, NOW), definition(), spent=SPENT)
    assert "sbx-" not in str(caught.value)


@pytest.mark.parametrize("expires_in", WIRE)
def test_endpoint_hands_back_any_200_answer(expires_in: object) -> None:
    """In-process transport, no server: the answer must reach the journal, whatever it says."""
    body = {"access_token": "sbx-access", "expires_in": expires_in, "refresh_token": "sbx-rot"}
    endpoint = TokenEndpoint()
    endpoint._transport = httpx2.MockTransport(lambda _: httpx2.Response(200, json=body))
    answer = endpoint.request_token(definition(), refresh_token=SPENT)  # no socket was opened
    assert answer.raw["refresh_token"] == "sbx-rot"


# fmt: off
URLS = [  # (url, what check_token_url says: None when it accepts)
    ("https://auth.example/token", None), ("https://auth.example:8443/t?x=1", None),
    ("http://127.0.0.1:8080/t", None), ("http://127.0.0.2/t", None), ("http://[::1]:9/t", None),
    ("http://localhost/token", None), ("http://LOCALHOST/t", None),
    ("http://example.com/token", "must use https://"), ("http://localhost.example/t", "https://"),
    ("https://user:sbx-pw@auth.example/t", "user:password@"), ("https://u@a.example/", "user:"),
    ("https://auth.example/t#frag", "#fragment"), ("ftp://auth.example/t", "URL with a host"),
    ("https:///t", "URL with a host"), ("https://auth.example:99999/t", "not a valid URL"),
]
SHOWN = [  # (url, redact_url, origin)
    ("https://user:sbx-pw@Auth.Example:8443/oauth/token?client_secret=sbx-q#frag",
     "https://auth.example:8443/oauth/token?…", "https://auth.example:8443"),
    ("https://Auth.Example.COM/token", "https://auth.example.com/token",
     "https://auth.example.com"),
    ("http://[::1]:9000/t", "http://[::1]:9000/t", "http://[::1]:9000"),
    pytest.param("https://a.example:99999/t", "<invalid URL>", None, id="invalid-port"),
    pytest.param("https://auth.example:443/t", "https://auth.example:443/t",
                 "https://auth.example", id="default-port"),
]
BUDGETS = [  # (fields, valid): claim_stale_seconds > max_attempts x (http_timeout + 30) + vault
    ({}, True),  # 600 > 4 x (10 + 30) + 300 = 460
    ({"claim_stale_seconds": 460}, False), ({"claim_stale_seconds": 461}, True),
    ({"claim_stale_seconds": 100}, False), ({"max_attempts": 8}, False),
    ({"max_attempts": 1, "http_timeout": 5, "vault_retry_seconds": 10, "claim_stale_seconds": 46},
     True),
]
# fmt: on


@pytest.mark.parametrize(("url", "says"), URLS)
def test_check_token_url(url: str, says: str | None) -> None:
    if says is None:
        assert check_token_url(url) == url
        ClientDefinition.from_vault({**BASE, "token_url": url}, path="p")
        return
    with pytest.raises(ValueError, match=says) as caught:
        check_token_url(url)
    with pytest.raises(ConfigurationError) as bad:
        ClientDefinition.from_vault({**BASE, "token_url": url}, path="secret/sb/x/client")
    message = str(bad.value)
    assert "`token_url`" in message and "secret/sb/x/client" in message
    assert "sbx-" not in str(caught.value) + message + redact_url(url)


def test_bad_token_url_error_names_the_field() -> None:
    with pytest.raises(ConfigurationError, match="field `token_url`"):
        ClientDefinition.from_vault({**BASE, "token_url": "http://example.com/t"}, path="p")


@pytest.mark.parametrize(("url", "redacted", "issuer"), SHOWN)
def test_redact_url_and_origin(url: str, redacted: str, issuer: str | None) -> None:
    assert redact_url(url) == redacted
    assert issuer is None or origin(url) == issuer


@pytest.mark.parametrize(("fields", "ok"), BUDGETS)
def test_claim_budget_validator(monkeypatch: pytest.MonkeyPatch, fields: dict, ok: bool) -> None:
    for name in ("MAX_ATTEMPTS", "HTTP_TIMEOUT", "VAULT_RETRY_SECONDS", "CLAIM_STALE_SECONDS"):
        monkeypatch.delenv(f"SWITCHBOARD_TOKEN_{name}", raising=False)
    refused = pytest.raises(ValidationError, match="SWITCHBOARD_TOKEN_CLAIM_STALE_SECONDS")
    with nullcontext() if ok else refused:
        TokenSettings(_env_file=None, **fields)


@pytest.mark.parametrize("state_home", ["/srv/state", None, "rel"])
def test_journal_dir_is_absolute(monkeypatch: pytest.MonkeyPatch, state_home: str | None) -> None:
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    if state_home:
        monkeypatch.setenv("XDG_STATE_HOME", state_home)
    journal_dir = TokenSettings(_env_file=None).journal_dir
    assert journal_dir.is_absolute()
    assert state_home != "/srv/state" or journal_dir == Path(state_home, "switchboard", "journal")


def test_reprs_hold_no_secret() -> None:
    rich = snap(claim=intent(seed_version=2), sd=seed(3, 2), legacy=LEGACY2, hl=REVOKED)
    answer = TokenAnswer({"access_token": "sbx-access", "refresh_token": "sbx-r"}, NOW)
    parsed = parse_token_answer(answer, definition(), spent=SPENT)
    shown = [rich, rich.seed, rich.refresh, rich.token, rich.refresh.record, rich.intent]
    shown += [answer, parsed, rich.definition, rich.token.token]
    for thing in shown:
        assert "sbx-" not in repr(thing) + str(thing), type(thing).__name__
    assert "seed_is_new=True" in repr(rich) and "intent=spending" in repr(rich)


def test_a_failure_that_could_not_read_the_credential_keeps_the_known_expiries() -> None:
    """An unreadable definition gives no snapshot: the stored token still expires when the last
    report said, and expiry alerts must keep seeing it."""
    from switchboard._exceptions import ConfigurationError
    from switchboard.refresh._report import failed_health

    last = health("healthy", expires_at=LATER, refresh_expires_at=LATER, refresh_used_at=NOW)
    reported, _ = failed_health(
        None, ConfigurationError("bad definition"), now=NOW, window_seconds=900, previous=last
    )
    assert (reported.expires_at, reported.refresh_expires_at) == (LATER, LATER)
    assert reported.refresh_used_at == NOW
