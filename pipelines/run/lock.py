"""One run at a time: an exclusive lock on the build folder, held for the whole run."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

LOCK_FILE = ".servicereview.lock"


class LockedError(RuntimeError):
    """Another run holds the lock."""


@contextmanager
def run_lock(build: Path):
    """Hold an exclusive lock for the whole run; a second run fails at once (exit 3)."""
    build = Path(build)
    build.mkdir(parents=True, exist_ok=True)
    path = build / LOCK_FILE
    handle = open(path, "a+")  # noqa: SIM115 - held until the context ends
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise LockedError(f"another servicereview run holds {path} ({holder})") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}")
    handle.flush()
    try:
        yield
    finally:
        handle.truncate(0)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
