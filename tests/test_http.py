"""``parse_retry_after``: the one Retry-After parser of the LivePerson and token clients."""

from __future__ import annotations

import pytest

from switchboard._http import MAX_RETRY_AFTER_SECONDS, parse_retry_after


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("3", 3.0),
        (" 7 ", 7.0),
        ("-1", 0.0),
        ("99999999", MAX_RETRY_AFTER_SECONDS),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds
