"""Noticing that this process did not run: SIGSTOP, a VM pause, a starved machine.

The daemon's timer fires at least once per keepalive (its own heartbeat), so two inputs
further apart on the monotonic clock than deadtime mean the process was stopped for
longer than its peers wait for it: they may have declared it dead and taken its groups.
"""

from __future__ import annotations


class StallWatch:
    def __init__(self, limit_s: float) -> None:
        self._limit = limit_s
        self._last: float | None = None

    def observe(self, now: float) -> float | None:
        """The gap since the previous input when it exceeds the limit, else None."""
        last, self._last = self._last, now
        if last is not None and now - last > self._limit:
            return now - last
        return None
