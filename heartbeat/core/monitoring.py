"""Resource monitoring (pyheartbeat.cf `monitor` lines): when to check, what a failure means.

The sans-I/O core of the monitor. It is fed the time, which monitored units may run
(their group is held here, nothing moves, no maintenance pause) and the results of the
jobs it asked for; it answers with actions: run a check, restart resources, give the
group up, log a line. The asyncio shell (``heartbeat.daemon.monitorjobs``) runs the jobs.

Rules:

* A unit is checked every ``interval`` after its previous check or restart ended, the
  first time one interval after it became active (its group was just started).
* A failed check restarts what failed (a resource; in a group the failed resource and
  every one after it; everything after a failed command) while fewer than ``restarts``
  restarts began within the last ``window``; otherwise the unit gives up once: on_fail
  ``standby`` hands the group's set (local or foreign, as hb_standby names them) to the
  peer, ``log`` only says so. A restart that fails with no restart left gives up at once.
* A given-up unit is still checked, quietly: passing a check ends the episode.
* Leaving the active set (the group moves or leaves, a pause) discards the answer of
  a job in flight; the failure history (restart times) is kept across it, so a group that
  comes back broken does not get a fresh budget within the same window.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Union
from collections.abc import Iterable, Sequence

from heartbeat.config.haresources import HaResources
from heartbeat.core.membership import Log
from heartbeat.config.pyhbcf import Monitor, OnFail, PyHbCf, group_of


class State(enum.Enum):
    IDLE = "idle"               # the group is not held here, or is moving
    PAUSED = "paused"           # maintenance: not checked, not restarted
    PENDING = "pending"         # active, not checked since it became active or was restarted
    OK = "ok"
    FAILED = "failed"           # the last check or restart failed; restarts are left
    RESTARTING = "restarting"
    GAVE_UP = "gave_up"         # restarts used up; checked quietly until it passes


@dataclass(frozen=True)
class Unit:
    """A monitor resolved against haresources and this node."""
    monitor: Monitor
    resources: tuple[str, ...]   # checked, in start order: the resource, or the whole group
    group_key: str
    rsc_class: str               # "local" or "foreign": the set hb_standby would name for it

    @property
    def name(self) -> str:
        return self.monitor.name


def units(cf: PyHbCf, res: HaResources, local_node: str) -> tuple[Unit, ...]:
    """The monitors of a checked configuration (configcheck.check_monitors found no error)."""
    out = []
    for m in cf.monitors:
        g = group_of(m, res)
        resources = tuple(r.token for r in g.resources) if m.group else (m.target,)
        out.append(Unit(m, resources, g.key, "local" if g.node == local_node else "foreign"))
    return tuple(out)


# -- actions -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunCheck:
    unit: Unit
    job: int


@dataclass(frozen=True)
class RunRestart:
    unit: Unit
    job: int
    resources: tuple[str, ...]   # stopped last to first, then started first to last


@dataclass(frozen=True)
class Standby:
    """Hand the unit's set to the peer (the shell sends what hb_standby sends)."""
    unit: Unit
    rsc_hold: str


Action = Union[RunCheck, RunRestart, Standby, Log]


@dataclass(frozen=True)
class Status:
    """One row of `cl_status rscmonitor`."""
    name: str
    target: str
    state: State
    failures: int                # failed checks since the last passed one
    restarts: int                # restarts begun within the window
    last_check: float | None     # wall time the last check ended
    last_result: str             # "ok", or why it failed


@dataclass
class _Track:
    unit: Unit
    state: State = State.IDLE
    due: float | None = None
    busy: bool = False            # a job of this unit runs (wanted or not)
    wanted: int | None = None     # the job whose answer counts
    failures: int = 0
    restarts: deque = field(default_factory=deque)   # start times of restarts
    last_check: float | None = None
    last_result: str = ""


class ResourceMonitor:
    def __init__(self, monitored: Sequence[Unit]) -> None:
        self._tracks = {u.name: _Track(u) for u in monitored}
        self._next_job = 1
        self._out: list[Action] = []

    # -- queries ---------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        due = [t.due for t in self._tracks.values() if t.due is not None and not t.busy]
        return min(due) if due else None

    def status(self, now: float) -> tuple[Status, ...]:
        return tuple(Status(t.unit.name, t.unit.monitor.target, t.state, t.failures,
                            self._recent_restarts(t, now), t.last_check, t.last_result)
                     for t in self._tracks.values())

    # -- events ----------------------------------------------------------------------------
    def tick(self, now: float, active: Iterable[str], paused: Iterable[str]) -> list[Action]:
        """``active``: units whose group is held here and stable; ``paused``: names under a
        maintenance pause. Starts the checks that are due."""
        active, paused = frozenset(active), frozenset(paused)
        for t in self._tracks.values():
            if t.unit.name not in active:
                self._leave(t, State.IDLE)
            elif t.unit.name in paused:
                if t.state is not State.PAUSED:
                    self._log("info", f"Resource monitoring of {self._label(t)} paused (maintenance).")
                self._leave(t, State.PAUSED)
            else:
                if t.state is State.PAUSED:
                    self._log("info", f"Resource monitoring of {self._label(t)} resumed.")
                if t.state in (State.IDLE, State.PAUSED):
                    t.state = State.PENDING
                    t.due = now + t.unit.monitor.interval_ms / 1000.0
                if t.due is not None and now >= t.due and not t.busy:
                    t.due = None
                    self._start(t, RunCheck(t.unit, self._job(t)))
        return self._end()

    def check_done(self, now: float, wall: float, name: str, job: int, failed: int | None,
                   reason: str) -> list[Action]:
        """A check ended: ``failed`` is None when it passed, else the index of the first
        resource that failed (0 for a failed command); ``reason`` says why."""
        t = self._tracks[name]
        t.busy = False
        if job != t.wanted:
            return self._end()
        t.wanted = None
        t.last_check = wall
        m = t.unit.monitor
        interval = m.interval_ms / 1000.0
        if failed is None:
            if t.failures:
                self._log("info", f"{_sentence(self._label(t))} passed its monitor check again.")
            t.state, t.failures, t.last_result, t.due = State.OK, 0, "ok", now + interval
            return self._end()
        t.failures += 1
        t.last_result = reason
        what = self._what(t, failed)
        if t.state is State.GAVE_UP:
            self._log("debug", f"{what} still fails its monitor check: {reason}")
            t.due = now + interval
            return self._end()
        self._log("WARN", f"{what} failed its monitor check: {reason} (failure {t.failures})")
        used = self._recent_restarts(t, now)
        if used < m.restarts:
            t.restarts.append(now)
            t.state = State.RESTARTING
            restart = t.unit.resources[failed if m.command is None else 0:]
            self._log("info", f"Restarting {self._list(restart)} (restart {used + 1} of {m.restarts} "
                              f"within {_seconds(m.window_ms)})")
            self._start(t, RunRestart(t.unit, self._job(t), restart))
        else:
            self._give_up(t, now)
        return self._end()

    def restart_done(self, now: float, name: str, job: int, ok: bool, reason: str) -> list[Action]:
        t = self._tracks[name]
        t.busy = False
        if job != t.wanted:
            self._log("info", f"Restart of {self._label(t)} ended after its monitoring stopped: "
                              f"{'done' if ok else reason}")
            return self._end()
        t.wanted = None
        m = t.unit.monitor
        if ok:
            self._log("info", f"{_sentence(self._label(t))} restarted.")
            t.state, t.due = State.PENDING, now + m.interval_ms / 1000.0
            return self._end()
        t.last_result = reason
        self._log("ERROR", f"Restart of {self._label(t)} failed: {reason}")
        if self._recent_restarts(t, now) < m.restarts:
            t.state, t.due = State.FAILED, now + m.interval_ms / 1000.0
        else:
            self._give_up(t, now)
        return self._end()

    # -- plumbing --------------------------------------------------------------------------
    def _end(self) -> list[Action]:
        out, self._out = self._out, []
        return out

    def _log(self, level: str, text: str) -> None:
        self._out.append(Log(level, text))

    def _job(self, t: _Track) -> int:
        job, self._next_job = self._next_job, self._next_job + 1
        t.wanted = job
        return job

    def _start(self, t: _Track, action: Action) -> None:
        t.busy = True
        self._out.append(action)

    def _leave(self, t: _Track, state: State) -> None:
        t.state, t.due, t.wanted, t.failures = state, None, None, 0

    def _recent_restarts(self, t: _Track, now: float) -> int:
        window = t.unit.monitor.window_ms / 1000.0
        while t.restarts and t.restarts[0] <= now - window:
            t.restarts.popleft()
        return len(t.restarts)

    def _give_up(self, t: _Track, now: float) -> None:
        m = t.unit.monitor
        t.state, t.due = State.GAVE_UP, now + m.interval_ms / 1000.0
        spent = f"{m.restarts} restarts within {_seconds(m.window_ms)} used up"
        if m.on_fail is OnFail.STANDBY:
            self._log("ERROR", f"{_sentence(self._label(t))}: {spent}: giving group "
                               f"{t.unit.group_key} to the other node.")
            self._out.append(Standby(t.unit, t.unit.rsc_class))
        else:
            self._log("ERROR", f"{_sentence(self._label(t))}: {spent}: left as it is (on_fail log).")

    @staticmethod
    def _label(t: _Track) -> str:
        kind = "resource group" if t.unit.monitor.group else "resource"
        return f"{kind} {t.unit.monitor.target}"

    @staticmethod
    def _list(resources: Sequence[str]) -> str:
        return ("resource " if len(resources) == 1 else "resources ") + " ".join(resources)

    def _what(self, t: _Track, failed: int) -> str:
        if t.unit.monitor.command is not None:
            return _sentence(self._label(t))
        return f"Resource {t.unit.resources[failed]}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _seconds(ms: int) -> str:
    return f"{ms / 1000:g}s"
