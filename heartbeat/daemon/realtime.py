"""Realtime scheduling for the daemon (ha.cf `realtime`, `rtprio`; `heartbeat -l` turns it off).

The original runs every process SCHED_RR at priority 1 (lab-findings), so that no CPU-bound
process delays a heartbeat into a false failover. Ours does the same with
SCHED_RESET_ON_FORK: resource scripts, send_arp and respawned clients start with normal
scheduling, as the original resets its children; a script that spins cannot starve the
sender. The original also locks itself into memory; a Python heap grows while it runs,
and with mlockall(MCL_FUTURE) an allocation past RLIMIT_MEMLOCK would fail in the
middle of an event, so ours does not.
"""

from __future__ import annotations

import os
from typing import Callable

DEFAULT_PRIORITY = 1


def make_realtime(enabled: bool, priority: int | None, log: Callable[[str, str], None], *,
                  setscheduler: Callable[..., None] | None = None) -> bool:
    """True when the scheduling was changed; every refusal is logged and harmless."""
    if not enabled:
        log("info", f"Request to set pid {os.getpid()} to realtime ignored.")
        return False
    setscheduler = setscheduler or os.sched_setscheduler
    wanted = DEFAULT_PRIORITY if priority is None else priority
    prio = min(max(wanted, os.sched_get_priority_min(os.SCHED_RR)), os.sched_get_priority_max(os.SCHED_RR))
    try:
        setscheduler(0, os.SCHED_RR | os.SCHED_RESET_ON_FORK, os.sched_param(prio))
    except OSError as e:
        log("WARN", f"Cannot set realtime priority {prio}: {e.strerror}")
        return False
    return True
