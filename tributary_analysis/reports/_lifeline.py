"""Die with the parent: a report worker or kernel never outlives the process that started it.

After ``kill -9`` of ``tributary report run`` nothing can clean up, so each child arranges its
own end when it starts:

* ``prctl(PR_SET_PDEATHSIG, sig)`` (Linux, through :mod:`ctypes`): the kernel sends ``sig``
  the moment the parent exits;
* a watchdog thread that polls ``getppid()`` and acts when it changes — for systems without
  ``prctl``, and because the death signal follows the parent *thread*, not the process;
* a check right after both are armed: a parent that died before the child got here has
  already handed it to a reaper, and the child leaves at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import threading
import time
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
#: environment variable through which a parent names itself to the child it starts
PARENT_ENV = "TRIBUTARY_LIFELINE_PARENT"


def _prctl_death_signal(sig: int) -> bool:
    """Arm the parent-death signal; False where Linux ``prctl`` is not available."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return False
    prctl = getattr(libc, "prctl", None)
    if prctl is None:
        return False
    return int(prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0


def die_with_parent(on_gone: Callable[[], None], *, sig: int = signal.SIGTERM,
                    expected_parent: int | None = None, interval: float = 0.5) -> None:
    """Arrange that ``on_gone`` runs (and the process ends) when the parent goes away.

    Parameters
    ----------
    on_gone : callable
        Kills what this process started and exits (``os._exit``); called from the signal
        handler or the watchdog thread.
    sig : int
        The parent-death signal; its handler is set to call ``on_gone``.
    expected_parent : int, optional
        The parent's pid as the parent said it (``$TRIBUTARY_LIFELINE_PARENT``); when the
        current parent differs, the real parent already died.
    interval : float
        Watchdog polling period in seconds.
    """
    signal.signal(sig, lambda signum, frame: on_gone())
    _prctl_death_signal(sig)
    parent = os.getppid()
    if expected_parent is None:
        raw = os.environ.get(PARENT_ENV, "")
        expected_parent = int(raw) if raw.isdigit() else None
    if expected_parent is not None and parent != expected_parent:
        on_gone()
        return

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                on_gone()
                return

    threading.Thread(target=watch, name="tributary-lifeline", daemon=True).start()
