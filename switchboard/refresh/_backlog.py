"""Due credentials handed out one at a time to the workers refreshing them."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator

__all__ = ["Backlog"]


class Backlog:
    """The names still to refresh, shared by several workers (threads); each name is handed
    out once.

    Every iteration over the backlog takes from the same queue, so a worker that finishes early
    takes the next name instead of idling while another still has a fixed share to go (a run's
    last credentials would otherwise wait on the slowest share).
    """

    def __init__(self, names: Iterable[str]) -> None:
        self._names = deque(names)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many names are still to be handed out."""
        with self._lock:
            return len(self._names)

    def __iter__(self) -> Iterator[str]:
        while True:
            with self._lock:
                if not self._names:
                    return
                name = self._names.popleft()
            yield name

    def __repr__(self) -> str:
        return f"Backlog({len(self)} left)"
