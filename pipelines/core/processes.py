"""Child processes that never outlive the process that started them.

A batch's worker processes, their Jupyter kernels and the browser that prints PDFs must
not keep writing after the run that owns the lock is gone (`kill -9` of `servicereview
run` included). On Linux the kernel delivers SIGKILL to a child when its parent dies
(PR_SET_PDEATHSIG); everywhere a watchdog thread also checks the parent once a second.
Jupyter kernels poll their parent themselves (ipykernel's parent poller).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Make this process die as soon as `parent_pid` (its parent) is gone."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), daemon=True, name="watch-parent").start()


def parent_alive(parent_pid: int) -> bool:
    """True while this process's parent is still `parent_pid`."""
    return os.getppid() == parent_pid


def _watch(parent_pid: int) -> None:
    while parent_alive(parent_pid):
        time.sleep(1.0)
    os._exit(1)
