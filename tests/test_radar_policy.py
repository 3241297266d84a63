"""The expiry radar and alert de-duplication as pure decisions (``switchboard.refresh._radar``).

No servers: each row is a refresh record before and after a refresh, or an alert history and a
cause, and what the radar or the alert rule must answer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from switchboard._models import Alert, RefreshRecord, StoredToken
from switchboard.refresh import RadarReading, lifetime_renews, next_alerts, read_radar

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = 7 * DAY
KEEP_ALIVE = DAY.total_seconds()
WARNING = WEEK.total_seconds()
WINDOW = 900.0


def record(
    token: str, used: datetime, expires: timedelta | datetime | None = None
) -> RefreshRecord:
    """A refresh record whose token was obtained (last spent) at ``used``."""
    at = used + expires if isinstance(expires, timedelta) else expires
    return RefreshRecord(refresh_token=SecretStr(token), obtained_at=used, refresh_expires_at=at)


def access_token(used: datetime, lifetime: timedelta = HOUR) -> StoredToken:
    return StoredToken(
        access_token=SecretStr("sbx-at"),
        expires_at=used + lifetime,
        obtained_at=used,
        refresh_after=used + lifetime * 2 / 3,
    )


# -- does a refresh extend the refresh token's life? -------------------------------------------

RENEWS = [
    # (id, before, after, renews)
    (
        "rotation names a new lifetime (GitHub: six months from each refresh)",
        record("rt-1", T0, 180 * DAY),
        record("rt-2", T0 + 8 * HOUR, 180 * DAY),
        True,
    ),
    (
        "sliding idle window (Keycloak 1800 s, renewed by every refresh)",
        record("rt-1", T0, timedelta(seconds=1800)),
        record("rt-2", T0 + timedelta(minutes=4), timedelta(seconds=1800)),
        True,
    ),
    (
        "rotated, but the same absolute end (Keycloak's session maximum)",
        record("rt-1", T0, T0 + 3 * DAY),
        record("rt-2", T0 + 4 * HOUR, T0 + 3 * DAY),
        False,
    ),
    (
        "not rotated, lifetime kept (Google-like: what the provider said still holds)",
        record("rt-1", T0, T0 + 30 * DAY),
        record("rt-1", T0 + DAY, T0 + 30 * DAY),
        False,
    ),
    (
        "whole-second rounding is not a renewal",
        record("rt-1", T0, T0 + 3 * DAY),
        record("rt-2", T0 + 2 * HOUR, T0 + 3 * DAY + timedelta(seconds=1)),
        False,
    ),
    (
        "first sighting, rotated: a new token with a new lifetime",
        None,
        record("rt-2", T0, 14 * DAY),
        True,
    ),
    (
        "first sighting after a lifetime-less record, rotated",
        record("rt-1", T0),
        record("rt-2", T0 + HOUR, 14 * DAY),
        True,
    ),
    (
        "first sighting, not rotated: nothing shows the lifetime is renewed",
        record("rt-1", T0),
        record("rt-1", T0 + HOUR, 14 * DAY),
        False,
    ),
    (
        "seconds apart: the move says too little, rotation decides",
        record("rt-1", T0, timedelta(seconds=1800)),
        record("rt-2", T0 + timedelta(seconds=2), timedelta(seconds=1800)),
        True,
    ),
    (
        "no lifetime now: nothing to renew",
        record("rt-1", T0, 14 * DAY),
        record("rt-2", T0 + HOUR),
        False,
    ),
]


@pytest.mark.parametrize(
    ("before", "after", "renews"), [row[1:] for row in RENEWS], ids=[row[0] for row in RENEWS]
)
def test_lifetime_renews(before: RefreshRecord | None, after: RefreshRecord, renews: bool) -> None:
    assert lifetime_renews(before, after) is renews


# -- the radar ---------------------------------------------------------------------------------

NOW = T0 + 10 * DAY
QUIET = RadarReading()

RADAR = [
    # (id, before, after, access-token lifetime, idle limit (s), reading)
    (
        "no lifetime stated, no idle limit",
        None,
        record("rt-2", NOW),
        HOUR,
        None,
        QUIET,
    ),
    (
        "renewed by rotation, next refresh long before it ends (GitHub)",
        record("rt-1", NOW - HOUR, 180 * DAY),
        record("rt-2", NOW, 180 * DAY),
        8 * HOUR,
        None,
        QUIET,
    ),
    (
        "renewed every few minutes, lifetime shorter than the warning (Keycloak 1800 s)",
        record("rt-1", NOW - timedelta(minutes=4), timedelta(seconds=1800)),
        record("rt-2", NOW, timedelta(seconds=1800)),
        timedelta(minutes=5),
        None,
        QUIET,
    ),
    (
        "renewed, but it ends before the next refresh (lifetime 12 h, keep-alive 24 h)",
        record("rt-1", NOW - 2 * DAY, 12 * HOUR),
        record("rt-2", NOW, 12 * HOUR),
        10 * DAY,
        None,
        RadarReading(cause="refresh_token_expires", deadline=NOW + 12 * HOUR),
    ),
    (
        "fixed end, more than warning + keep-alive away",
        record("rt-1", NOW - HOUR, NOW + 9 * DAY),
        record("rt-1", NOW, NOW + 9 * DAY),
        HOUR,
        None,
        QUIET,
    ),
    (
        "fixed end, within the warning by the next refresh",
        record("rt-1", NOW - HOUR, NOW + 7 * DAY + timedelta(minutes=30)),
        record("rt-1", NOW, NOW + 7 * DAY + timedelta(minutes=30)),
        HOUR,
        None,
        RadarReading(cause="refresh_token_expires", deadline=NOW + 7 * DAY + timedelta(minutes=30)),
    ),
    (
        "fixed end tomorrow (Keycloak's session maximum)",
        record("rt-1", NOW - HOUR, NOW + DAY),
        record("rt-2", NOW, NOW + DAY),
        timedelta(minutes=5),
        None,
        RadarReading(cause="refresh_token_expires", deadline=NOW + DAY),
    ),
    (
        "idle limit longer than the keep-alive: kept alive in time",
        None,
        record("rt-2", NOW),
        10 * DAY,
        (90 * DAY).total_seconds(),
        QUIET,
    ),
    (
        "idle limit shorter than the keep-alive: it goes idle first",
        None,
        record("rt-2", NOW),
        10 * DAY,
        (12 * HOUR).total_seconds(),
        RadarReading(cause="refresh_token_idle", deadline=NOW + 12 * HOUR),
    ),
    (
        "idle limit shorter than the keep-alive, but the access token is refreshed sooner",
        None,
        record("rt-2", NOW),
        HOUR,
        (12 * HOUR).total_seconds(),
        QUIET,
    ),
    (
        "both: the earlier deadline names the cause",
        record("rt-1", NOW - HOUR, NOW + 2 * DAY),
        record("rt-1", NOW, NOW + 2 * DAY),
        10 * DAY,
        (12 * HOUR).total_seconds(),
        RadarReading(cause="refresh_token_idle", deadline=NOW + 12 * HOUR),
    ),
]


@pytest.mark.parametrize(
    ("before", "after", "lifetime", "idle_limit", "reading"),
    [row[1:] for row in RADAR],
    ids=[row[0] for row in RADAR],
)
def test_radar(
    before: RefreshRecord | None,
    after: RefreshRecord,
    lifetime: timedelta,
    idle_limit: float | None,
    reading: RadarReading,
) -> None:
    assert after.obtained_at is not None
    found = read_radar(
        before=before,
        after=after,
        token=access_token(after.obtained_at, lifetime),
        keep_alive_seconds=KEEP_ALIVE,
        idle_limit_seconds=idle_limit,
        warning_seconds=WARNING,
    )
    assert found == reading


def test_the_radar_warns_at_least_the_warning_ahead() -> None:
    """Checked only at refreshes, a fixed end is still announced ``warning`` before it: the
    radar looks from the latest next refresh, not from now."""
    end = NOW + WEEK + DAY / 2
    moments = [NOW + index * DAY for index in range(4)]  # refreshed daily (keep-alive)
    first = next(
        moment
        for moment in moments
        if read_radar(
            before=record("rt-1", moment - DAY, end),
            after=record("rt-1", moment, end),
            token=access_token(moment, 30 * DAY),
            keep_alive_seconds=KEEP_ALIVE,
            idle_limit_seconds=None,
            warning_seconds=WARNING,
        ).cause
    )
    assert end - first >= WEEK


# -- alerts that do not storm ------------------------------------------------------------------


def alerts(*pairs: tuple[str, datetime]) -> tuple[Alert, ...]:
    return tuple(Alert(cause=cause, at=at) for cause, at in pairs)


MINUTE = timedelta(minutes=1)
ALERTS = [
    # (id, held, cause, now, (held after, notice))
    ("healthy, nothing held", (), None, T0, ((), None)),
    ("first failure alerts", (), "ClientRejected", T0, (alerts(("ClientRejected", T0)), "alert")),
    (
        "the same cause within the window is quiet",
        alerts(("ClientRejected", T0)),
        "ClientRejected",
        T0 + 14 * MINUTE,
        (alerts(("ClientRejected", T0)), None),
    ),
    (
        "the same cause after the window alerts again",
        alerts(("ClientRejected", T0)),
        "ClientRejected",
        T0 + 15 * MINUTE,
        (alerts(("ClientRejected", T0 + 15 * MINUTE)), "alert"),
    ),
    (
        "another cause alerts at once, the first is kept",
        alerts(("TransientTokenError", T0)),
        "CredentialRevoked",
        T0 + MINUTE,
        (alerts(("TransientTokenError", T0), ("CredentialRevoked", T0 + MINUTE)), "alert"),
    ),
    (
        "alternating causes do not storm",
        alerts(("TransientTokenError", T0), ("RefreshInDoubt", T0 + MINUTE)),
        "TransientTokenError",
        T0 + 2 * MINUTE,
        (alerts(("TransientTokenError", T0), ("RefreshInDoubt", T0 + MINUTE)), None),
    ),
    (
        "an alert stamped by a clock far ahead does not silence for ever",
        alerts(("ClientRejected", T0 + DAY)),
        "ClientRejected",
        T0,
        (alerts(("ClientRejected", T0)), "alert"),
    ),
    (
        "healed after an alert: one recovery notice, nothing held",
        alerts(("ClientRejected", T0)),
        None,
        T0 + MINUTE,
        ((), "recovered"),
    ),
    (
        "the radar alerts once",
        (),
        "refresh_token_expires",
        T0,
        (alerts(("refresh_token_expires", T0)), "alert"),
    ),
    (
        "the radar does not repeat while it holds, however long",
        alerts(("refresh_token_expires", T0)),
        "refresh_token_expires",
        T0 + 3 * DAY,
        (alerts(("refresh_token_expires", T0)), None),
    ),
    (
        "a refresh that works drops the failures it healed; the radar is news",
        alerts(("TransientTokenError", T0)),
        "refresh_token_idle",
        T0 + MINUTE,
        (alerts(("refresh_token_idle", T0 + MINUTE)), "alert"),
    ),
    (
        "a refresh that works while the radar still holds: quiet, failures dropped",
        alerts(("refresh_token_expires", T0), ("TransientTokenError", T0 + HOUR)),
        "refresh_token_expires",
        T0 + 2 * HOUR,
        (alerts(("refresh_token_expires", T0)), None),
    ),
    (
        "a failure while the radar holds alerts, the radar is kept",
        alerts(("refresh_token_expires", T0)),
        "TransientTokenError",
        T0 + HOUR,
        (alerts(("refresh_token_expires", T0), ("TransientTokenError", T0 + HOUR)), "alert"),
    ),
]


@pytest.mark.parametrize(
    ("held", "cause", "now", "expected"),
    [row[1:] for row in ALERTS],
    ids=[row[0] for row in ALERTS],
)
def test_next_alerts(
    held: tuple[Alert, ...],
    cause: str | None,
    now: datetime,
    expected: tuple[tuple[Alert, ...], str | None],
) -> None:
    assert next_alerts(held, cause, now=now, window_seconds=WINDOW) == expected


def test_failing_every_minute_alerts_once_per_window() -> None:
    held: tuple[Alert, ...] = ()
    notices = []
    for minute in range(60):
        held, notice = next_alerts(
            held, "TransientTokenError", now=T0 + minute * MINUTE, window_seconds=WINDOW
        )
        notices.append(notice)
    assert [minute for minute, n in enumerate(notices) if n == "alert"] == [0, 15, 30, 45]
    held, notice = next_alerts(held, None, now=T0 + HOUR, window_seconds=WINDOW)
    assert (held, notice) == ((), "recovered")
    assert next_alerts(held, None, now=T0 + HOUR + MINUTE, window_seconds=WINDOW) == ((), None)


def test_an_unknown_before_is_read_from_the_last_report() -> None:
    """A replayed pair or a rewritten lost report has no ``before``: the last health report's
    reading stands in, so a fixed lifetime is not taken for a renewed one (which would clear
    ``refresh_expiring`` and announce a recovery that did not happen)."""
    from switchboard._models import CredentialHealth
    from switchboard.refresh._health import _as_read_before

    end = NOW + timedelta(days=3)
    after = RefreshRecord(
        refresh_token=SecretStr("sbx-kept"), obtained_at=NOW, refresh_expires_at=end
    )
    last_report = CredentialHealth(
        state="refresh_expiring", refresh_expires_at=end, refresh_used_at=NOW - HOUR
    )
    assert lifetime_renews(None, after)  # what a missing before used to mean
    assert not lifetime_renews(_as_read_before(last_report), after)
    assert _as_read_before(CredentialHealth(state="healthy")) is None
