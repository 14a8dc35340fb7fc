"""When a ha.cf `respawn` client is started again: the policy, apart from the processes.

The daemon's shell (heartbeat.daemon.main.ClientChildren) starts the program, waits for
it and signals it; this state machine, one per client, fed the time by an injected clock,
says what follows an exit: start it again (after a pause when it died quickly), or give
up because it asked for that (exit status DONT_RESPAWN) or keeps dying quickly, or nothing
because the daemon is stopping its clients.
"""

from __future__ import annotations

import enum
from typing import Callable

RESPAWN_SHORT_S = 30.0     # a child that dies sooner than this after its start died "quickly"
RESPAWN_SHORT_LIMIT = 10   # more quick deaths in a row than this: stop respawning it
DONT_RESPAWN = 100         # a child exiting with this status asks not to be restarted


class Verdict(enum.Enum):
    RESTART = "restart"
    ASKED_NOT_TO = "asked not to"     # exited with DONT_RESPAWN
    TOO_FAST = "too fast"             # more than RESPAWN_SHORT_LIMIT quick deaths in a row
    STOPPING = "stopping"             # the daemon stops its clients: nothing is said or done


class RespawnPolicy:
    """One client's restarts. `pause_s` comes before a start after a quick death: it limits
    what a crash loop costs."""

    def __init__(self, clock: Callable[[], float], *, pause_s: float = 1.0) -> None:
        self._clock = clock
        self._pause_s = pause_s
        self._started_at = 0.0
        self.quick_deaths = 0
        self.stopping = False

    def pause(self) -> float | None:
        """How long to wait before the next start; None: start at once."""
        return self._pause_s if self.quick_deaths > 0 else None

    def started(self) -> bool:
        """The program is about to start; False when it must not, the daemon being stopping."""
        if self.stopping:
            return False
        self._started_at = self._clock()
        return True

    def exited(self, rc: int) -> Verdict:
        """The program ended with status `rc` (negative: killed by signal -rc)."""
        if self.stopping:
            return Verdict.STOPPING
        if rc == DONT_RESPAWN:
            return Verdict.ASKED_NOT_TO
        quick = self._clock() - self._started_at < RESPAWN_SHORT_S
        self.quick_deaths = self.quick_deaths + 1 if quick else 0
        if self.quick_deaths > RESPAWN_SHORT_LIMIT:
            self.quick_deaths = 0       # given up; a start from elsewhere would count afresh
            return Verdict.TOO_FAST
        return Verdict.RESTART

    def stop(self) -> None:
        """Shutdown: no start and no restart from now on."""
        self.stopping = True
