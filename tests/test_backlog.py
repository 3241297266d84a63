"""The backlog the fleet-mode batches share: every name handed out once, whoever asks."""

from __future__ import annotations

import threading
from collections import Counter

from switchboard.refresh import Backlog


def test_threads_sharing_a_backlog_take_each_name_exactly_once() -> None:
    names = [f"credential-{index}" for index in range(2000)]
    backlog = Backlog(names)
    taken: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(len(taken))

    def work(mine: list[str]) -> None:
        start.wait()
        mine.extend(backlog)

    threads = [threading.Thread(target=work, args=(mine,)) for mine in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = Counter(name for mine in taken for name in mine)
    assert sorted(counts) == sorted(names) and set(counts.values()) == {1}
    assert len(backlog) == 0 and list(backlog) == []


def test_a_worker_that_is_done_early_takes_what_another_has_not_reached() -> None:
    backlog = Backlog(["a", "b", "c", "d"])
    slow, fast = iter(backlog), iter(backlog)
    assert next(slow) == "a"  # still busy with its first
    assert list(fast) == ["b", "c", "d"]
    assert list(slow) == [] and repr(backlog) == "Backlog(0 left)"
