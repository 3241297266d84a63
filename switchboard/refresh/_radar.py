"""The expiry radar and alert de-duplication: pure decisions, no I/O.

A refresh token dies when the lifetime its provider stated runs out (``refresh_expires_at``)
or when it goes unused longer than the provider allows (the definition's
``refresh_idle_limit_seconds``). Switchboard spends it no later than the keep-alive age, which
resets the idle clock and, with most providers, starts a new lifetime. The radar names a
credential ``refresh_expiring`` when its refresh token will die before Switchboard next spends
it, or, where spending it does not extend its life, within the warning period of its end:
both need a person (a new seed, or a shorter keep-alive) before anything breaks.

Alerts: a credential alerts once when a cause appears, and a failure cause again at most once
per window while it lasts; a radar cause does not repeat (it holds for days by design). The
alerts raised are kept in the health record, which every worker writes with check-and-set, so
one alert per cause and window holds across workers, and the healing refresh sees that an alert
is outstanding and gives the one recovery notice.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from switchboard._models import Alert, ClientDefinition, RefreshRecord, StoredToken, same_secret
from switchboard._settings import TokenSettings

__all__ = [
    "RADAR_CAUSES",
    "AlertNotice",
    "RadarCause",
    "RadarReading",
    "lifetime_renews",
    "next_alerts",
    "read_radar",
]

RadarCause = Literal["refresh_token_expires", "refresh_token_idle"]
RADAR_CAUSES: tuple[RadarCause, ...] = ("refresh_token_expires", "refresh_token_idle")
AlertNotice = Literal["alert", "recovered"]

_MIN_GAP = timedelta(seconds=60)
"""Below this between two refreshes, how far the end moved says too little: providers state
lifetimes in whole seconds."""
_ROUNDING = timedelta(seconds=1)


@dataclass(frozen=True)
class RadarReading:
    """Why the refresh token is in danger (``None``: it is not) and when it dies."""

    cause: RadarCause | None = None
    deadline: datetime | None = None


def lifetime_renews(before: RefreshRecord | None, after: RefreshRecord) -> bool:
    """Whether the refresh that turned ``before`` into ``after`` extended the token's life.

    A sliding or renewed lifetime moves the end forward by about the time between the two
    refreshes; a fixed one (a session maximum, a kept token) does not move. Seen for the first
    time, a rotated token with a stated lifetime is a new token with a new life.
    """
    end = after.refresh_expires_at
    if end is None:
        return False
    rotated = before is None or not _same_token(before, after)
    if before is None or before.refresh_expires_at is None:
        return rotated
    if before.obtained_at is None or after.obtained_at is None:
        return rotated
    gap = after.obtained_at - before.obtained_at
    if gap < _MIN_GAP:
        return rotated
    moved = end - before.refresh_expires_at
    return moved > _ROUNDING and moved >= gap / 2


def _same_token(before: RefreshRecord, after: RefreshRecord) -> bool:
    return same_secret(before.refresh_token, after.refresh_token)


def read_radar(
    *,
    before: RefreshRecord | None,
    after: RefreshRecord,
    token: StoredToken,
    keep_alive_seconds: float,
    idle_limit_seconds: float | None,
    warning_seconds: float,
) -> RadarReading:
    """What the radar says right after a refresh stored ``after`` (``before``: the record the
    refresh started from) and the access token ``token``.

    Judged from the next time Switchboard spends the refresh token (the access token's
    ``refresh_after`` or the keep-alive, whichever is first), so a warning raised only at
    refreshes still comes ``warning_seconds`` ahead of the end.
    """
    used = after.obtained_at or token.obtained_at
    next_use = min(token.refresh_after, used + timedelta(seconds=keep_alive_seconds))
    horizon = next_use + timedelta(seconds=warning_seconds)
    found: list[tuple[datetime, RadarCause]] = []
    end = after.refresh_expires_at
    if end is not None and not (lifetime_renews(before, after) and next_use < end):
        found.append((end, "refresh_token_expires"))
    if idle_limit_seconds is not None:
        idle_end = used + timedelta(seconds=idle_limit_seconds)
        if idle_end <= next_use:
            found.append((idle_end, "refresh_token_idle"))
    in_view = sorted(item for item in found if item[0] <= horizon)
    if not in_view:
        return RadarReading()
    deadline, cause = in_view[0]
    return RadarReading(cause=cause, deadline=deadline)


def radar_for(
    definition: ClientDefinition,
    settings: TokenSettings,
    *,
    before: RefreshRecord | None,
    after: RefreshRecord,
    token: StoredToken,
) -> RadarReading:
    """``read_radar`` with the credential's keep-alive, idle limit and warning (or the
    settings')."""
    return read_radar(
        before=before,
        after=after,
        token=token,
        keep_alive_seconds=definition.keep_alive_seconds or settings.keep_alive_seconds,
        idle_limit_seconds=definition.refresh_idle_limit_seconds,
        warning_seconds=definition.refresh_warning_seconds or settings.refresh_warning_seconds,
    )


def next_alerts(
    held: tuple[Alert, ...], cause: str | None, *, now: datetime, window_seconds: float
) -> tuple[tuple[Alert, ...], AlertNotice | None]:
    """The alerts to keep after an attempt whose trouble is ``cause``, and what to tell now.

    ``cause``: an error class (the refresh failed), a radar cause (it worked, but the refresh
    token is in danger) or ``None`` (healthy). A refresh that worked drops the failure causes
    it healed; healthy after any alert is the one ``recovered`` notice. An alert stamped by a
    clock far off (either way) does not silence its cause beyond the window.
    """
    if cause is None:
        return (), ("recovered" if held else None)
    if cause in RADAR_CAUSES:
        held = tuple(alert for alert in held if alert.cause in RADAR_CAUSES)
    last = next((alert for alert in held if alert.cause == cause), None)
    if last is not None and (
        cause in RADAR_CAUSES or abs((now - last.at).total_seconds()) < window_seconds
    ):
        return held, None
    others = tuple(alert for alert in held if alert.cause != cause)
    return (*others, Alert(cause=cause, at=now)), "alert"


class UnrecordedAlerts:
    """Alerts Vault could not record, held back in this process for the window: while Vault is
    down (or refuses the health write) each worker alerts at most once per cause and window,
    not on every run. Thread-safe."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def alert(self, name: str, cause: str, *, window_seconds: float) -> AlertNotice | None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get((name, cause))
            if last is not None and now - last < window_seconds:
                return None
            self._last[(name, cause)] = now
        return "alert"
