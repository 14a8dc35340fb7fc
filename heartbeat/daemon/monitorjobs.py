"""The asyncio shell of resource monitoring: runs the checks and restarts the core asks for.

Every job is a subprocess in a session of its own, run without a shell, bounded by its
timeout: at the timeout its whole process group is killed and the job fails. Jobs run
as tasks beside the daemon's, so a hanging check delays neither heartbeats nor the
engine's resource jobs. The core is ticked once a second (and when a check is due) with
what may run: a unit is active while the engine is stable, holds the unit's set (local
or foreign) and is not shutting down, and no pause file names it.

A check is the resource script's ``status``, found as ResourceManager finds it
(``resource.d``, then the init directory) and read as ResourceManager reads it (the
text says running), or the admin's command (exit status 0 is healthy). A restart runs
``stop`` on the resources last to first, then ``start`` first to last.

Maintenance: a file ``<state dir>/monitor-pause/<name>`` pauses monitor <name>, a file
``all`` there pauses every monitor (docs/resource-monitoring.md).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Callable
from collections.abc import Mapping, Sequence

from heartbeat.daemon.log import DaemonLog
from heartbeat.core.membership import Log
from heartbeat.core.message import Message
from heartbeat.config.pyhbcf import PAUSE_ALL
from heartbeat.core.monitoring import Action, ResourceMonitor, RunCheck, RunRestart, Standby, Status, Unit
from heartbeat.resources.resourcemanager import args_of, canonical, running_from_text, script_of
from heartbeat.resources.scriptenv import child_environ, with_defaults

POLL_S = 1.0                 # how soon a transition's end or a pause file is noticed
STATUS_OUTPUT_MAX = 65536    # bytes of a status output read; the rest is drained unread
REASON_MAX = 120             # characters of a status text quoted in a log line
PAUSE_DIR = "monitor-pause"  # under the state directory, /var/lib/heartbeat


class MonitorJobs:
    def __init__(self, units: Sequence[Unit], log: DaemonLog, *, environment: Callable[[], Mapping[str, str]],
                 holding: Callable[[], str | None], send: Callable[[Message], None], pause_dir: str) -> None:
        self.core = ResourceMonitor(units)
        self._units = tuple(units)
        self._log = log
        self._environment = environment
        self._holding = holding
        self._send = send
        self.pause_dir = pause_dir
        self._loop_task: asyncio.Task | None = None
        self._checks: set[asyncio.Task] = set()
        self._restarts: set[asyncio.Task] = set()
        self._stopping = False

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """No new job; checks are killed; a restart in flight is let end (it is bounded)
        so that it never races the engine's release of the group."""
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
        for task in self._checks:
            task.cancel()
        await asyncio.gather(*self._checks, *self._restarts, return_exceptions=True)

    def status(self) -> tuple[Status, ...]:
        return self.core.status(time.monotonic())

    # -- the core's clock and inputs -------------------------------------------------------
    async def _run(self) -> None:
        while True:
            self._guarded("tick", self._tick)
            deadline = self.core.next_deadline()
            wait = POLL_S if deadline is None else min(POLL_S, deadline - time.monotonic())
            await asyncio.sleep(max(0.0, wait))

    def _tick(self) -> None:
        self._carry_out(self.core.tick(time.monotonic(), self._active(), self._paused()))

    def _active(self) -> list[str]:
        held = self._holding()
        if held not in ("local", "foreign", "all"):
            return []
        return [u.name for u in self._units if held in ("all", u.rsc_class)]

    def _paused(self) -> list[str]:
        try:
            names = os.listdir(self.pause_dir)
        except OSError:
            return []
        if PAUSE_ALL in names:
            return [u.name for u in self._units]
        return names

    def _guarded(self, what: str, step: Callable[[], None]) -> None:
        # a bug met here is logged; monitoring and the daemon go on
        try:
            step()
        except Exception as e:
            self._log.error(f"resource monitor {what}: {type(e).__name__}: {e}")

    def _carry_out(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Log):
                self._log.log(action.level, action.text)
            elif isinstance(action, RunCheck):
                self._spawn(self._checks, self._check(action))
            elif isinstance(action, RunRestart):
                self._spawn(self._restarts, self._restart(action))
            elif isinstance(action, Standby):
                self._standby(action)

    def _standby(self, action: Standby) -> None:
        # a restart that ended after shutdown began, or while resources move, hands nothing over
        if self._stopping or self._holding() not in ("local", "foreign", "all"):
            self._log.info(f"No standby for {action.unit.monitor.target}: heartbeat is stopping "
                           "or resources are moving.")
            return
        # what hb_standby logs and sends: the engine runs the handshake
        self._log.info(f"Going standby [{action.rsc_hold}].")
        self._send(Message.of(t="ask_resources", rsc_hold=action.rsc_hold, info="me"))

    @staticmethod
    def _spawn(tasks: set[asyncio.Task], coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    # -- jobs ------------------------------------------------------------------------------
    async def _check(self, action: RunCheck) -> None:
        timeout = action.unit.monitor.timeout_ms / 1000.0
        try:
            failed, reason = await asyncio.wait_for(self._probe(action.unit), timeout)
        except asyncio.TimeoutError:
            failed, reason = 0, f"timed out after {timeout:g}s"
        except OSError as e:
            failed, reason = 0, f"cannot run: {e.strerror}"
        name = action.unit.name
        self._guarded("check", lambda: self._carry_out(
            self.core.check_done(time.monotonic(), time.time(), name, action.job, failed, reason)))

    async def _probe(self, unit: Unit) -> tuple[int | None, str]:
        env = self._script_env()
        command = unit.monitor.command
        if command is not None:
            rc, _ = await _run(command, env, capture=False)
            return (None, "ok") if rc == 0 else (0, f"{command[0]} exited with status {rc}")
        for index, token in enumerate(unit.resources):
            path = _script_path(token, env)
            if path is None:
                return index, f"no resource script {script_of(canonical(token))}"
            _rc, text = await _run([path, *args_of(token).split(), "status"], env, capture=True)
            if not running_from_text(text):
                said = " ".join(text.split())[:REASON_MAX]
                return index, f"status says [{said}]" if said else "status says nothing"
        return None, "ok"

    async def _restart(self, action: RunRestart) -> None:
        timeout = action.unit.monitor.restart_timeout_ms / 1000.0
        try:
            ok, reason = await asyncio.wait_for(self._stop_start(action.resources), timeout)
        except asyncio.TimeoutError:
            ok, reason = False, f"timed out after {timeout:g}s"
        except OSError as e:
            ok, reason = False, f"cannot run: {e.strerror}"
        name = action.unit.name
        self._guarded("restart", lambda: self._carry_out(
            self.core.restart_done(time.monotonic(), name, action.job, ok, reason)))

    async def _stop_start(self, resources: Sequence[str]) -> tuple[bool, str]:
        env = self._script_env()
        steps = [(token, "stop") for token in reversed(resources)] + [(token, "start") for token in resources]
        for token, op in steps:
            path = _script_path(token, env)
            if path is None:
                return False, f"no resource script {script_of(canonical(token))}"
            argv = [path, *args_of(token).split(), op]
            self._log.info(f"Running {' '.join(argv)}")
            rc, _ = await _run(argv, env, capture=False)
            if rc != 0:
                return False, f"{' '.join(argv)} returned {rc}"
        return True, ""

    def _script_env(self) -> dict[str, str]:
        """What ResourceManager gives the scripts it runs."""
        base = self._environment()
        return child_environ(with_defaults(base, fixed_ha_dir=True), base)


def _script_path(token: str, env: Mapping[str, str]) -> str | None:
    script = script_of(canonical(token))
    ha_dir = (env.get("HA_DIR") or "/etc/ha.d").rstrip("/")
    for directory in (env.get("HA_RESOURCEDIR") or f"{ha_dir}/resource.d", env.get("INITDIR") or "/etc/init.d"):
        path = os.path.join(directory, script)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


async def _run(argv: Sequence[str], env: Mapping[str, str], *, capture: bool) -> tuple[int, str]:
    """Exit status (128+N for signal N, as sh says) and, with ``capture``, the start of stdout.

    Cancelled (at a timeout, or when the daemon stops), the job's process group is killed."""
    proc = await asyncio.create_subprocess_exec(
        *argv, env=dict(env), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE if capture else asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
    try:
        text = await _read_bounded(proc.stdout) if proc.stdout is not None else b""
        rc = await proc.wait()
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        await asyncio.shield(proc.wait())
        raise
    return (128 - rc if rc < 0 else rc), text.decode("utf-8", "replace")


async def _read_bounded(stream: asyncio.StreamReader) -> bytes:
    kept = b""
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            return kept
        kept = (kept + chunk)[:STATUS_OUTPUT_MAX]
