"""Counters of short-lived processes, kept in a node_exporter textfile (``*.prom``).

The refresh flows run as one process per flow run, so no process lives long enough to be
scraped; Prometheus' answer for batch jobs is the node_exporter textfile collector, which serves
every ``*.prom`` file of a directory. Each run adds its counts to what the file already holds,
so the counters grow across runs and processes as Prometheus expects of a counter. Several
workers on one host may finish at once: an exclusive ``flock`` on a sibling ``.prom.lock`` file
(which node_exporter ignores) spans the read, the merge and the write, and the write replaces
the file atomically (a temporary file in the same directory, then ``os.replace``) so a scrape
never reads half a file. Only counters are kept: a gauge of one run means nothing to the next.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from switchboard.metrics._refresh import RefreshMetrics

__all__ = ["CounterValues", "TextfileExport", "counter_values", "merge_textfile"]

Labels = tuple[tuple[str, str], ...]
CounterValues = dict[str, tuple[str, dict[Labels, float]]]
"""Counter family name (without ``_total``): its help text and each label set's value."""


def counter_values(families: Iterable[Metric]) -> CounterValues:
    """The ``_total`` samples of the counter families (``_created`` ones would not add up)."""
    found: CounterValues = {}
    for family in families:
        if family.type != "counter":
            continue
        _, values = found.setdefault(family.name, (family.documentation, {}))
        for sample in family.samples:
            if sample.name == f"{family.name}_total":
                key = tuple(sorted(sample.labels.items()))
                values[key] = values.get(key, 0.0) + sample.value
    return found


class _Fixed(Collector):
    """Serves given counter values, so ``generate_latest`` writes the text format."""

    def __init__(self, counters: CounterValues) -> None:
        self._counters = counters

    def collect(self) -> Iterator[Metric]:
        for name, (documentation, values) in sorted(self._counters.items()):
            family = Metric(name, documentation, "counter")
            for labels, value in sorted(values.items()):
                family.add_sample(f"{name}_total", dict(labels), value)
            yield family


def _read(path: Path) -> CounterValues:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        return counter_values(
            list(text_string_to_metric_families(text))
        )  # list(): it parses lazily
    except ValueError as exc:  # not written by us: leave it for the operator to look at
        raise ValueError(
            f"{path}: not a Prometheus text file ({exc}); move it away and the next run starts "
            "its counters again"
        ) from None


def _write(path: Path, counters: CounterValues) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(counters))
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(generate_latest(registry))
        os.chmod(temporary, 0o644)  # counts and error class names only; node_exporter reads it
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


LOCK_WAIT_SECONDS = 10.0
"""How long a run waits for another writer's lock before it gives up its counts: a stuck
holder (a frozen process, a network file system) must not hang the refresh schedule."""


def merge_textfile(
    path: Path, increments: CounterValues, *, wait_seconds: float = LOCK_WAIT_SECONDS
) -> None:
    """Add ``increments`` to the counters in ``path`` (a new file if there is none), under an
    exclusive lock on ``<path>.lock`` so concurrent writers on this host each add theirs.

    ``TimeoutError`` when the lock stays taken for ``wait_seconds``. The lock is opened read-only
    (``flock`` needs no more), so workers running as other users can share it.
    """
    lock = os.open(f"{path}.lock", os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"{path}.lock stayed locked for {wait_seconds:.0f} s"
                    ) from None
                time.sleep(0.05)
        merged = _read(path)
        for name, (documentation, values) in increments.items():
            _, held = merged.setdefault(name, (documentation, {}))
            for labels, value in values.items():
                held[labels] = held.get(labels, 0.0) + value
        _write(path, merged)
    finally:
        os.close(lock)  # releases the flock


class TextfileExport:
    """A ``RefreshMetrics`` whose counts ``flush`` adds to a textfile.

    Each flush adds only what was counted since the previous one, so a process that runs several
    flows (a test session, a flow and its subflow) counts each refresh once.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.metrics = RefreshMetrics()
        self._written: CounterValues = {}
        self._guard = threading.Lock()

    def flush(self) -> None:
        """Add the counts since the last flush to the file (and write it even with none new,
        so its modification time, ``node_textfile_mtime_seconds``, says when a run last ended)."""
        with self._guard:
            now = counter_values(self.metrics.registry.collect())
            merge_textfile(self.path, _minus(now, self._written))
            self._written = now


def _minus(now: CounterValues, before: CounterValues) -> CounterValues:
    increments: CounterValues = {}
    for name, (documentation, values) in now.items():
        _, earlier = before.get(name, (documentation, {}))
        increments[name] = (
            documentation,
            {labels: value - earlier.get(labels, 0.0) for labels, value in values.items()},
        )
    return increments
