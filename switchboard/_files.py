"""Files only this user may read, replaced atomically and durably (the journal, identities)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PARTIAL_SUFFIX", "write_private"]

PARTIAL_SUFFIX = ".partial"
"""The name ``write_private`` writes before renaming over the real file."""


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: created 0600 before anything is written, fsync'd, renamed
    over ``path``, and the directory fsync'd so the rename survives a crash."""
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    partial.unlink(missing_ok=True)  # a fresh file, so the mode is ours
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    partial.replace(path)
    directory_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)
