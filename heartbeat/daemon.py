"""The `heartbeat` command: options, daemonizing, and the event loop joining core and shell.

`Core` is the joint of the pure parts: it decodes datagrams (codec + auth), feeds
membership and the failover engine, and carries out their actions through the
callbacks it is given (send a packet, start a job, shutdown done). It takes the
time from an injected clock, so two cores can be run against each other in tests.

`Shell` gives the core its I/O with asyncio: media, the FIFO, the API socket,
timers, signals and the job runner (the engine's jobs: resource-management scripts
as subprocesses, started when the engine hands them out).

`main` is the command line of spec config-and-resources.md §11, plus `-c [HA_DIR]`
(validate a configuration tree, list every error).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import getopt
import math
import os
import pwd
import random
import resource
import select
import shutil
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Protocol, Sequence

from heartbeat import COMPAT_VERSION, VERSION_STRING, announce, configcheck, ownprograms, statefiles
from heartbeat.apiserver import ApiHandler, ApiLimits, ApiServer, authorization_table, start_api_server
from heartbeat.auth import Authenticator
from heartbeat.command import EXIT_OK, Paths, kill, running_pid, status
from heartbeat.authkeys import load_authkeys
from heartbeat.codec import WireError, decode, encode
from heartbeat.configcheck import ClusterConfig
from heartbeat.errors import ConfigError, flatten
from heartbeat.hacf import DIRECTIVES, Respawn, load_hacf
from heartbeat.failover import (Announce, Command, Failover, Job, JobLog, JobSend, RestartAfterPartition, Run, Send,
                                ShutdownReady)
from heartbeat.fifo import FifoInput, create_fifo
from heartbeat.filemodes import DAEMON_UMASK, tighten
from heartbeat.log import (DEFAULT_STYLE, STYLE_214, STYLE_306, DaemonLog, LogSettings, RateLimit, facility_number,
                           file_format_is_syslog)
from heartbeat.media import MediumError, open_media
from heartbeat.membership import (CommUp, Deliver, LinkStatus, Log, Membership, NodeStatus, PartitionReturn,
                                  Transmit)
from heartbeat.message import Message
from heartbeat.monitorjobs import PAUSE_DIR, MonitorJobs
from heartbeat.monitoring import Status, units
from heartbeat.realtime import make_realtime
from heartbeat.stall import StallWatch
from heartbeat.pyhbcf import FILE_NAME as PYHBCF_NAME, load_pyhbcf

EXIT_GENERIC = 1
EXIT_USAGE = 2
EXIT_NOT_CONFIGURED = 6    # LSB "program is not configured"
EXIT_MEDIA = 1             # a medium could not be opened
OPTIONS = "dDkMrRsvWlC:Vfc"
# A child client runs in a process group of its own, as the original's do, so that
# stopping it reaches whatever it started. Python 3.9 (EL9) has no process_group=;
# setpgrp in the child, after the change of user, makes the same group.
OWN_PROCESS_GROUP: dict = {"process_group": 0} if sys.version_info >= (3, 11) else {"preexec_fn": os.setpgrp}
DETACH_WAIT_S = 30.0       # the parent of a daemonizing start waits this long for the pid file
RSCTMP_MODE = 0o1777 & ~0o022
SHUTDOWN_LINGER_S = 1.0
RESTART_DT_EXTRA_MS = 30000   # advertised on top of deadtime while restarting in place
# A flood of bad packets or of inputs that meet a bug must not flood the log:
# so many reports a minute, each of a packet at most so many lines.
REPORTS_PER_MINUTE = 10
BADPACK_LINES = 20


# -- options ----------------------------------------------------------------------
class UsageError(Exception):
    pass


@dataclass(frozen=True)
class Options:
    debug: int = 0
    foreground: bool = False
    kill: bool = False
    status: bool = False
    reload: bool = False
    version: bool = False
    defaults: bool = False
    wiki: bool = False
    check: bool = False
    manage_resources: bool = True
    restarting: bool = False      # -R: our own exec after a restart in place
    held: str | None = None       # -C: the holdings that restart kept
    realtime: bool = True         # -l turns ha.cf's realtime off
    args: tuple[str, ...] = ()    # operands: -c's HA_DIR; ignored otherwise, as by the original


def usage(cmd: str) -> str:
    return (f"\nUsage: {cmd} [-dDkMrRsvWlVf] [-C Current-resource-state]\n"
            "\t-C only valid with -R\n\t-r is mutually exclusive with -R")


def parse_options(argv: Sequence[str]) -> Options:
    """getopt as the original; UsageError carries glibc getopt's complaint (empty for rule breaks)."""
    try:
        opts, args = getopt.getopt(list(argv), OPTIONS)
    except getopt.GetoptError as e:
        problem = "option requires an argument" if "requires argument" in e.msg else "invalid option"
        raise UsageError(f"{problem} -- '{e.opt}'") from None
    letters = [o for o, _ in opts]
    if "-C" in letters and "-R" not in letters:
        raise UsageError("")
    if "-r" in letters and "-R" in letters:
        raise UsageError("")
    if "-v" in letters:
        raise UsageError("option -v (dump the configuration) is not supported by pyheartbeat")
    return Options(debug=letters.count("-d"), foreground="-f" in letters, kill="-k" in letters,
                   status="-s" in letters, reload="-r" in letters, version="-V" in letters,
                   defaults="-D" in letters, wiki="-W" in letters,
                   check="-c" in letters,
                   manage_resources="-M" not in letters, restarting="-R" in letters,
                   held=next((value for o, value in reversed(opts) if o == "-C"), None), args=tuple(args),
                   realtime="-l" not in letters)


# -- the defaults table (-D, -D -W) -------------------------------------------------------------
# What `heartbeat -D` says of each directive with a default, as 3.0.6 prints it;
# the defaults themselves come from the parser's table.
DIRECTIVE_DESCRIPTIONS: Mapping[str, str] = {
    "cluster": "the name of cluster",
    "hopfudge": "# of hops above cluster size",
    "keepalive": "keepalive time",
    "deadtime": "node deadtime",
    "baud": "baud rate",
    "auto_failback": "auto failback",
    "hbgenmethod": "protocol generation computation method",
    "realtime": "enable realtime behavior?",
    "msgfmt": "message format in the wire",
    "conn_logd_time": "the interval to reconnect to logd",
    "log_badpack": "warn about bad packets",
    "syslogmsgfmt": "log to files in syslog format",
    "coredumps": "enable Linux-HA core dumps",
    "pacemaker": "enable Pacemaker resource management",
    "autojoin": "set automatic join mode/style",
    "uuidfrom": "set the source for uuid",
    "compression": "set compression module",
    "compression_threshold": "set compression threshold",
    "traditional_compression": "set traditional_compression",
    "max_rexmit_delay": "set the maximum rexmit delay time",
    "record_config_changes": "record changes to the cib (valid only with: pacemaker on)",
    "record_pengine_inputs": "record the input used by the policy engine (valid only with: pacemaker on)",
    "enable_config_writes": "write configuration changes to disk (valid only with: pacemaker on)",
    "memreserve": "number of kbytes to preallocate in heartbeat",
}


def defaults_table(wiki: bool) -> str:
    rows = [(name, d.default, DIRECTIVE_DESCRIPTIONS[name]) for name, d in DIRECTIVES.items()
            if d.default is not None]
    if not wiki:
        lines = [f"{'Directive':<25}{'Default':<10}Description", "-" * 80]
        lines += [f"{name:<25}{default:<10}{text}" for name, default, text in rows]
        return "\n".join(lines) + "\n"
    lines = ["##Put this output in the ha.cf/DefaultValues page",
             "The [wiki:ha.cf ha.cf] directives with default values are shown below"
             " - along with a brief description.",
             f"This was produced by {{{{{{heartbeat -DW}}}}}} ''# (version {COMPAT_VERSION})''", "",
             "||''Directive''||''Default''||''Description''||"]
    for name, default, text in rows:
        page = "".join(word.capitalize() for word in name.split("_")) + "Directive"
        lines.append(f"||[wiki:ha.cf/{page} {name}]||{default}||{text}||")
    return "\n".join(lines) + "\n"


# -- the script environment (spec §9) --------------------------------------------------
def script_environment(config: ClusterConfig, debug: int,
                       base: Mapping[str, str] | None = None) -> dict[str, str]:
    """What every program the daemon runs inherits, before per-job additions."""
    hacf = config.hacf
    env = dict(os.environ if base is None else base)
    # 3.0.6's compiled-in directory ends in a slash, 2.1.4's does not; scripts print paths built on it
    ha_dir = config.ha_dir.rstrip("/") + ("/" if config.pyhbcf.log_style == STYLE_306 else "")
    env.update(HA_DIR=ha_dir, HA_FUNCS=f"{ha_dir}/shellfuncs", HA_DATEFMT="%Y/%m/%d_%T\t",
               HA_LOGFILE=hacf.logfile or "", HA_DEBUGLOG=hacf.debugfile or "",
               HA_CURHOST=config.local_node, OCF_ROOT="/usr/lib/ocf")
    if "logfacility" in hacf.lines:
        env["HA_LOGFACILITY"] = hacf.logfacility or "none"
    else:
        env.pop("HA_LOGFACILITY", None)
    if debug > 0:
        env["HA_debug"] = str(debug)
    else:
        env.pop("HA_debug", None)
    if config.pyhbcf.log_style == STYLE_214 or not hacf.syslogmsgfmt:
        env["PYHB_LOGSTYLE"] = STYLE_214
    for name, value in hacf.env:
        env[f"HA_{name}"] = value
    return env


def loadavg() -> str:
    """/proc/loadavg as the original puts it in `ld`."""
    try:
        # once per heartbeat: a bare read, not a text file object (issue 10's idle CPU)
        fd = os.open("/proc/loadavg", os.O_RDONLY)
        try:
            return os.read(fd, 256).decode("ascii", "replace").strip()
        finally:
            os.close(fd)
    except OSError:
        return "0.00 0.00 0.00 0/0 0"


# -- the core --------------------------------------------------------------------------
class Clock(Protocol):
    def monotonic(self) -> float: ...
    def time(self) -> float: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


@dataclass
class Hooks:
    """What the core asks of its shell."""
    transmit: Callable[[bytes, Message], None]
    start_job: Callable[[Job], None] = lambda job: None
    comm_up: Callable[[], None] = lambda: None
    shutdown_ready: Callable[[], None] = lambda: None
    announce: Callable[[tuple[str, ...]], None] = lambda addresses: None
    refresh_arp: Callable[[tuple[str, ...]], None] = lambda addresses: None   # arp_refresh


class Core:
    """Codec, membership and failover engine joined; every input carries out its actions."""

    def __init__(self, config: ClusterConfig, log: DaemonLog, hooks: Hooks, *, uuid: bytes,
                 generation: int, clock: Clock, engine: Failover | None,
                 rng: random.Random | None = None, loadavg: Callable[[], str] = loadavg) -> None:
        self.config = config
        self.log = log
        self.hooks = hooks
        self.clock = clock
        self.engine = engine
        self.auth = Authenticator(config.authkeys)
        self.membership = Membership(config.hacf, config.local_node, uuid, generation,
                                     rng=rng or random.Random(), loadavg=loadavg)
        self.shutting_down = False
        self.stopped = False
        self.restart = False       # after the shutdown, start again (a healed partition)
        self.keep_resources = False   # ... by a restart in place, nothing given up
        self.comm_is_up = False
        self._outbox: deque[Message] = deque()
        self._depth = 0
        self._handlers = self._handler_table()
        self._bad_packets = RateLimit(REPORTS_PER_MINUTE, 60.0, clock.monotonic)
        self._faults = RateLimit(REPORTS_PER_MINUTE, 60.0, clock.monotonic)
        self._stall = StallWatch(config.hacf.deadtime_ms / 1000)

    # -- inputs ------------------------------------------------------------------
    def start(self) -> None:
        self._carry_out(self.membership.start(self.clock.monotonic(), self.clock.time()))

    def packet(self, link: str, data: bytes) -> None:
        """A datagram from medium `link`: undecodable or unauthentic ones are dropped and logged."""
        self._check_stall()
        try:
            msg = decode(data, self.auth)
        except WireError as e:
            self._bad_packet(link, e)
            return
        self._guard(f"packet from {link}", lambda: self._carry_out(
            self.membership.receive(self.clock.monotonic(), self.clock.time(), link, msg)))

    def _bad_packet(self, link: str, e: WireError) -> None:
        held_back = self._bad_packets.allow()
        if held_back is None:
            return
        if held_back:
            self.log.warn(f"{held_back} bad packets dropped without a word")
        if self.config.hacf.log_badpack:
            for level, text in e.log[:BADPACK_LINES]:
                self.log.log(level, text)
            if len(e.log) > BADPACK_LINES:
                self.log.log(e.log[0][0], f"... and {len(e.log) - BADPACK_LINES} more lines about this packet")
        self.log.debug(f"dropped a packet from {link}: {e}")

    def _guard(self, what: str, step: Callable[[], object]) -> None:
        """Run one input's or one action's handling: a bug met there is logged and costs
        that input only, never the timers nor the rest of a batch."""
        try:
            step()
        except Exception as e:
            self._fault(what, e)

    def _fault(self, what: str, e: Exception) -> None:
        held_back = self._faults.allow()
        if held_back is None:
            return
        if held_back:
            self.log.error(f"{held_back} more failures not logged")
        self.log.error(f"{what}: {type(e).__name__}: {e}")

    def send(self, msg: Message) -> None:
        """A message for the cluster (FIFO, engine, jobs): stamped, looped back to us, transmitted."""
        self._outbox.append(msg)
        self._carry_out(())

    def tick(self) -> None:
        self._check_stall()
        now = self.clock.monotonic()
        self._guard("timer", lambda: self._carry_out(self.membership.tick(now, self.clock.time())))
        if self.engine is not None:
            self._guard("timer", lambda: self._carry_out(self.engine.tick(now)))

    def job_done(self, job_id: int, rc: int) -> None:
        if self.engine is not None:
            self._guard("job end", lambda: self._carry_out(self.engine.job_done(self.clock.monotonic(), job_id, rc)))

    def shutdown(self) -> None:
        """SIGTERM: the engine gives resources up first; a second request changes nothing."""
        if self.shutting_down:
            return
        self.shutting_down = True
        if self.engine is None:
            # without resource management there is nothing to give up, but peers
            # still learn at once that we leave rather than after deadtime
            self.log.info(f"Heartbeat shutdown in progress. ({os.getpid()})")
            self.send(Message.of(t="shutdone", st="dead"))
            self._finish()
        else:
            self._carry_out(self.engine.shutdown(self.clock.monotonic()))

    def restart_in_place(self) -> bool:
        """SIGHUP with a changed ha.cf: leave keeping every resource, to come back with `-R`.

        False while communication is not up: as in the original, the restart waits for it."""
        if self.shutting_down:
            return False
        self.shutting_down = self.restart = self.keep_resources = True
        if not self.comm_is_up:
            self.log.warn("Shutdown delayed until Communication is up.")
            return False
        return True

    def stay_awaited(self) -> None:
        """Before the exec: peers are told to wait longer for us, so that none takes over."""
        self._carry_out(self.membership.extend_deadtime(self.clock.monotonic(), self.clock.time(),
                                                        RESTART_DT_EXTRA_MS))

    def restarted(self, held: str | None) -> None:
        """Just exec'd by a restart in place: the engine learns what still runs."""
        if self.engine is not None:
            self._carry_out(self.engine.restarted(self.clock.monotonic(), held))

    def _check_stall(self) -> None:
        """Before an input is handled: after a stall, peers are not blamed for our silence and
        the engine checks with the peer what it still owns."""
        now = self.clock.monotonic()
        gap = self._stall.observe(now)
        if gap is None:
            return
        self.membership.resume_after_stall(now)
        if self.engine is None:
            self.log.warn(f"heartbeat did not run for {gap:.1f} s, longer than deadtime.")
        else:
            self._carry_out(self.engine.stalled(now, gap))

    def reload_authkeys(self) -> None:
        self.auth = Authenticator(self.config.authkeys)

    def next_deadline(self) -> float:
        try:
            deadline = self.membership.next_deadline()
            if self.engine is not None:
                theirs = self.engine.next_deadline()
                if theirs is not None:
                    deadline = min(deadline, theirs)
            return deadline
        except Exception as e:
            # whatever went wrong, the heartbeat goes on: tick again a keepalive from now
            self._fault("timers", e)
            return self.clock.monotonic() + self.membership.keepalive_ms / 1000

    # -- actions -----------------------------------------------------------------
    def _carry_out(self, actions) -> None:
        """Membership's and the engine's actions, in order; engine events only with an engine.

        A message sent while a batch is carried out waits for the batch's end: the
        batch's own transmissions were stamped first and must reach the wire first,
        or peers see every sequence gap as a lost packet.
        """
        self._depth += 1
        try:
            for action in actions:
                handler = self._handlers.get(type(action))
                if handler is not None:
                    self._guard(type(action).__name__, functools.partial(handler, action))
        finally:
            self._depth -= 1
        while self._depth == 0 and self._outbox:
            msg = self._outbox.popleft()
            self._guard(f"sending {msg.type}", lambda: self._carry_out(
                self.membership.send(self.clock.monotonic(), self.clock.time(), msg)))

    def _handler_table(self) -> dict[type, Callable]:
        table: dict[type, Callable] = {
            Transmit: lambda a: self._transmit(a.msg),
            Log: self._log,       # membership's and the engine's alike
            CommUp: self._comm_up,
            Send: lambda a: self.send(a.msg),
            Run: lambda a: self.hooks.start_job(a.job),
            ShutdownReady: lambda a: self._finish(),
            PartitionReturn: self._partition_return,
            Announce: lambda a: (self.hooks.refresh_arp if a.refresh else self.hooks.announce)(a.addresses),
            RestartAfterPartition: lambda a: self._restart_after_partition(),
        }
        if self.engine is not None:
            table.update({Deliver: self._deliver, NodeStatus: self._node_status, LinkStatus: self._link_status})
        return table

    def _partition_return(self, action: PartitionReturn) -> None:
        # the engine settles with the peer who keeps what (heartbeat/healing.py)
        if self.engine is not None and not self.shutting_down:
            self._carry_out(self.engine.partition_healed(self.clock.monotonic(), action.node))
        else:
            self._restart_after_partition()

    def _restart_after_partition(self) -> None:
        # v1 cannot merge two sides that both ran resources: give everything up
        # and start afresh, as the original does
        if not self.shutting_down:
            self.restart = True
            self.shutdown()

    def _log(self, action) -> None:
        self.log.log(action.level, action.text)

    def _comm_up(self, action: CommUp) -> None:
        self.comm_is_up = True
        self.hooks.comm_up()
        if self.engine is None or self.keep_resources:
            return
        m = self.membership
        statuses = {n: m.node_status(n) for n in m.node_names() if m.node_type(n) == "normal"}
        self._carry_out(self.engine.comm_up(self.clock.monotonic(), statuses))

    def _deliver(self, action: Deliver) -> None:
        self._carry_out(self.engine.receive(self.clock.monotonic(), action.msg))

    def _node_status(self, action: NodeStatus) -> None:
        # the engine follows other nodes; our own status is what comm_up reports
        if action.node != self.config.local_node:
            self._carry_out(self.engine.node_status(self.clock.monotonic(), action.node, action.new, action.msg))

    def _link_status(self, action: LinkStatus) -> None:
        self._carry_out(self.engine.link_status(self.clock.monotonic(), action.node, action.link, action.status))

    def _finish(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.hooks.shutdown_ready()

    def _transmit(self, msg: Message) -> None:
        try:
            packet = encode(msg, self.auth, msgfmt=self.config.hacf.msgfmt)
        except ValueError as e:
            self.log.error(f"cannot send a {msg.type} message: {e}")
            return
        self.hooks.transmit(packet, msg)


class CoreView:
    """The API's view (heartbeat.apiserver.ApiView) of membership and the engine."""

    def __init__(self, core: Core, monitor: MonitorJobs | None = None) -> None:
        self._core = core
        self._monitor = monitor
        hacf = core.config.hacf
        self.local_node = core.config.local_node
        self.deadtime_ms = hacf.deadtime_ms
        self.keepalive_ms = hacf.keepalive_ms
        self.logfacility = facility_number(hacf.logfacility)
        self.version = VERSION_STRING

    @property
    def _m(self) -> Membership:
        return self._core.membership

    def node_names(self) -> Sequence[str]:
        return self._m.node_names()

    def node_type(self, node: str) -> str | None:
        return self._m.node_type(node) if self._m.has_node(node) else None

    def node_status(self, node: str) -> str | None:
        return self._m.node_status(node) if self._m.has_node(node) else None

    def link_names(self, node: str) -> Sequence[str]:
        return self._m.link_names(node) if self._m.has_node(node) else ()

    def link_status(self, node: str, link: str) -> str | None:
        if not self._m.has_node(node) or link not in self._m.link_names(node):
            return None
        return self._m.link_status(node, link)

    def node_uuid(self, node: str) -> bytes | None:
        return self._m.node_uuid(node) if self._m.has_node(node) else None

    def node_name_by_uuid(self, uuid: bytes) -> str | None:
        return next((n for n in self._m.node_names() if self._m.node_uuid(n) == uuid), None)

    def holding(self) -> str | None:
        engine = self._core.engine
        return None if engine is None else engine.holding

    def parameter(self, name: str) -> str | None:
        if name == "hbversion":
            return self.version
        return self._core.config.hacf.recorded.get(name)

    def monitors(self) -> Sequence[Status]:
        return () if self._monitor is None else self._monitor.status()


# -- the job runner ----------------------------------------------------------------------
class JobRunner:
    """Runs the engine's jobs: Command steps as subprocesses with the script environment."""

    def __init__(self, core: Core, environment: Callable[[], Mapping[str, str]]) -> None:
        self._core = core
        self._environment = environment
        self.tasks: set[asyncio.Task] = set()

    def start(self, job: Job) -> None:
        task = asyncio.get_running_loop().create_task(self.run(job))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self, job: Job) -> int:
        rc = 0
        for step in job.steps:
            if isinstance(step, Command):
                rc = await self._command(step.argv, {**self._environment(), **job.env})
            elif isinstance(step, JobLog):
                self._core.log.log(step.level, step.text)
            elif isinstance(step, JobSend):
                self._core.send(step.msg)
        self._core.job_done(job.id, rc)
        return rc

    async def _command(self, argv: tuple[str, ...], env: Mapping[str, str]) -> int:
        pid = self._start_own(argv, env)
        if pid is not None:
            return await asyncio.get_running_loop().run_in_executor(None, ownprograms.wait, pid)
        try:
            proc = await asyncio.create_subprocess_exec(*argv, env=dict(env), stdin=asyncio.subprocess.DEVNULL)
        except OSError as e:
            self._core.log.error(f"Cannot run {argv[0]}: {e.strerror}")
            return 127
        return await proc.wait()


    @staticmethod
    def _start_own(argv: tuple[str, ...], env: Mapping[str, str]) -> int | None:
        """harc, ResourceManager and req_resource are ours: a forked child of the daemon runs
        them without an interpreter start (heartbeat.ownprograms); None for other programs."""
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            return ownprograms.start(list(argv), env, stdin=null)
        finally:
            os.close(null)


# -- respawned client children (ha.cf respawn) -----------------------------------------------
RESPAWN_SHORT_S = 30.0     # a child that dies sooner than this after its start died "quickly"
RESPAWN_SHORT_LIMIT = 10   # more quick deaths in a row than this: stop respawning it
DONT_RESPAWN = 100         # a child exiting with this status asks not to be restarted
CHILD_STOP_WAIT_S = 30.0   # at shutdown, a child gets this long to go after SIGTERM, then SIGKILL


@dataclass
class ClientChild:
    spec: Respawn
    uid: int
    gid: int
    proc: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    quick_deaths: int = 0

    @property
    def command(self) -> str:
        return " ".join(self.spec.argv)


class ClientChildren:
    """The `respawn` programs: started at comm-up, restarted when they die, stopped first at shutdown."""

    def __init__(self, specs: Sequence[Respawn], log: DaemonLog, environment: Callable[[], Mapping[str, str]],
                 *, pause_s: float = 1.0) -> None:
        self._log = log
        self._environment = environment
        self._pause_s = pause_s            # before a restart after a quick death: limits a crash loop's cost
        self.children = [self._child(spec) for spec in specs]
        for child in self.children:
            if child.spec.failfast:
                log.warn(f"failfast client {child.command} is respawned instead: pyheartbeat never reboots the node")
        self.stopping = False
        self._tasks: set[asyncio.Task] = set()

    @staticmethod
    def _child(spec: Respawn) -> ClientChild:
        account = pwd.getpwnam(spec.user)
        return ClientChild(spec, account.pw_uid, account.pw_gid)

    def start_all(self) -> None:
        for child in self.children:
            self._spawn(child)

    def _spawn(self, child: ClientChild) -> None:
        task = asyncio.get_running_loop().create_task(self._run(child))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, child: ClientChild) -> None:
        self._log.info(f'Starting child client "{child.command}" ({child.uid},{child.gid})')
        path = child.spec.argv[0]
        if not os.access(path, os.X_OK):
            reason = errno.EACCES if os.path.exists(path) else errno.ENOENT
            self._log.error(f"Cannot exec {child.command}: {os.strerror(reason)}")
            return
        if child.quick_deaths > 0:
            await asyncio.sleep(self._pause_s)
        if self.stopping:
            return
        child.started_at = time.monotonic()
        # only root can become the configured user; anyone else runs children as itself
        identity = (dict(user=child.uid, group=child.gid, extra_groups=os.getgrouplist(child.spec.user, child.gid))
                    if os.geteuid() == 0 else {})
        try:
            # like the original: through sh, in a process group of its own
            child.proc = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", f"exec {child.command}", env=dict(self._environment()),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL, **OWN_PROCESS_GROUP, **identity)
        except OSError as e:
            self._log.error(f"Cannot setup child process {child.command}: {e.strerror}")
            return
        self._log.info(f'Starting "{child.command}" as uid {child.uid}  gid {child.gid} (pid {child.proc.pid})')
        rc = await child.proc.wait()
        pid, child.proc = child.proc.pid, None
        self._died(child, pid, rc)

    def _died(self, child: ClientChild, pid: int, rc: int) -> None:
        if self.stopping:
            return
        if rc > 0:
            self._log.error(f"Client {child.command} exited with return code {rc}.")
        elif rc < 0:
            self._log.error(f"Client {child.command} (pid={pid}) killed by signal {-rc}.")
        if rc == DONT_RESPAWN:
            return
        quick = time.monotonic() - child.started_at < RESPAWN_SHORT_S
        child.quick_deaths = child.quick_deaths + 1 if quick else 0
        if child.quick_deaths > RESPAWN_SHORT_LIMIT:
            self._log.error(f'Client {child.command} "respawning too fast"')
            child.quick_deaths = 0
            return
        self._log.error(f'Respawning client "{child.command}":')
        self._spawn(child)

    async def stop_all(self) -> None:
        """Last configured first, each gone before the next is signalled."""
        self.stopping = True
        for child in reversed(self.children):
            proc = child.proc
            if proc is None:
                self._log.info(f"client [{child.command}] is not running.")
                continue
            self._log.info(f"killing {child.command} process group {proc.pid} with signal {signal.SIGTERM}")
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(proc.wait()), CHILD_STOP_WAIT_S)
            except asyncio.TimeoutError:
                _signal_group(proc.pid, signal.SIGKILL)
                await proc.wait()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


# -- the shell ------------------------------------------------------------------------------
class Shell:
    """The running daemon: the core's I/O, timers and signals on an asyncio loop."""

    def __init__(self, config: ClusterConfig, log: DaemonLog, options: Options, paths: Paths, *,
                 uuid: bytes, generation: int, open_media=open_media) -> None:
        self.config = config
        self.log = log
        self.options = options
        self.paths = paths
        self.debug = config.hacf.debug + options.debug
        self._open_media = open_media
        self.media: list = []
        self.api: ApiServer | None = None
        self.fifo: FifoInput | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._done = asyncio.Event()
        self._mtimes = self._config_mtimes()
        engine = self._engine() if options.manage_resources else None
        self.core = Core(config, log, Hooks(self._transmit, self._start_job, self._comm_up, self._done.set,
                                                 self._announce, self._refresh_arp),
                         uuid=uuid, generation=generation, clock=SystemClock(), engine=engine)
        self.jobs = JobRunner(self.core, lambda: script_environment(self.config, self.debug))
        self.clients = ClientChildren(config.hacf.respawn, log, lambda: script_environment(self.config, self.debug))
        self.monitor = self._resource_monitor()

    def _resource_monitor(self) -> MonitorJobs | None:
        """pyheartbeat.cf's monitors; without any (or with -M) nothing of it exists."""
        engine = self.core.engine
        monitored = () if engine is None else units(self.config.pyhbcf, self.config.haresources,
                                                       self.config.local_node)
        if not monitored:
            return None
        return MonitorJobs(monitored, self.log, environment=lambda: script_environment(self.config, self.debug),
                           holding=lambda: None if self.core.shutting_down else engine.holding,
                           send=lambda msg: self._enter("resource monitor", lambda: self.core.send(msg)),
                           pause_dir=os.path.join(self.paths.state_dir, PAUSE_DIR))

    async def _stop_monitor(self) -> None:
        if self.monitor is not None:
            await self.monitor.stop()

    def _engine(self) -> Failover:
        rcd = os.path.join(self.config.ha_dir, "rc.d")
        scripts = frozenset(os.listdir(rcd)) if os.path.isdir(rcd) else frozenset()
        refresh_ms = self.config.pyhbcf.arp_refresh_ms
        return Failover(self.config.hacf, self.config.haresources, self.config.local_node,
                        rcd_scripts=scripts, noarchbin=self.paths.noarchbin, ha_dir=self.config.ha_dir,
                        arp_refresh_s=None if refresh_ms is None else refresh_ms / 1000)

    def _config_mtimes(self) -> tuple[float | None, float | None]:
        def mtime(name: str) -> float | None:
            try:
                return os.stat(os.path.join(self.config.ha_dir, name)).st_mtime
            except OSError:
                return None
        return mtime("ha.cf"), mtime("authkeys")

    async def run(self) -> bool:
        """Until shutdown; False when the media could not be opened (they logged why)."""
        loop = asyncio.get_running_loop()
        for level, text in create_fifo(self.paths.fifo):
            self.log.log(level, text)
        self.fifo = FifoInput(self._fifo_message, self.log, self.paths.fifo)
        self.fifo.start()
        try:
            self.media = await self._open_media(self.config.hacf, self.core.auth, self.log, self._packet)
        except MediumError:
            self.fifo.close()
            return False
        for sig, handler in ((signal.SIGTERM, self._sigterm), (signal.SIGHUP, self._sighup),
                             (signal.SIGUSR1, lambda: self._set_debug(self.debug + 1)),
                             (signal.SIGUSR2, lambda: self._set_debug(self.debug - 1))):
            loop.add_signal_handler(sig, handler)
        self.core.start()
        if self.options.restarting:
            self._enter("restart", lambda: self.core.restarted(self.options.held))
        self._reschedule()
        if self.monitor is not None:
            self.monitor.start()
        await self._done.wait()
        # like the original, stay a moment for peers' retransmission requests of our last words
        await asyncio.sleep(SHUTDOWN_LINGER_S)
        await self._close()
        self.log.info(f"{self.config.local_node} Heartbeat shutdown complete.")
        return True

    async def _close(self) -> None:
        await self._stop_monitor()
        if not self.clients.stopping:      # a restart after a partition skips _shutdown
            await self.clients.stop_all()
        for medium in self.media:
            medium.close()
        if self.fifo is not None:
            self.fifo.close()
        await asyncio.gather(*self.jobs.tasks, return_exceptions=True)
        if self._timer is not None:
            self._timer.cancel()
        if self.api is not None:
            await self.api.close()

    # core entry points, each followed by a new timer deadline
    def _enter(self, what: str, step: Callable[[], None]) -> None:
        # A bug met on one input is logged and the node stays in the cluster:
        # asyncio would otherwise report it on a stderr that is /dev/null.
        try:
            step()
        except Exception as e:
            self.log.error(f"{what}: {type(e).__name__}: {e}")
        self._reschedule()

    def _packet(self, link: str, data: bytes) -> None:
        self._enter(f"packet from {link}", lambda: self.core.packet(link, data))

    def _fifo_message(self, msg: Message) -> None:
        self._enter("FIFO message", lambda: self.core.send(msg))

    def _tick(self) -> None:
        self._timer = None
        self._enter("timer", self.core.tick)

    def _sigterm(self) -> None:
        asyncio.get_running_loop().create_task(self._shutdown())

    async def _shutdown(self) -> None:
        # the original stops its client children before it gives resources up
        if not self.clients.stopping:
            await self._stop_monitor()   # a restart in flight ends before the release begins
            await self.clients.stop_all()
            self._enter("shutdown", self.core.shutdown)

    def _reschedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        deadline = self.core.next_deadline()
        if math.isfinite(deadline):
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(max(deadline, loop.time()), self._tick)

    # hooks
    def _transmit(self, packet: bytes, msg: Message) -> None:
        for medium in self.media:
            medium.send(packet, msg)

    def _start_job(self, job: Job) -> None:
        self.jobs.start(job)

    def _announce(self, addresses: tuple[str, ...]) -> None:
        env = script_environment(self.config, self.debug)
        announce.announce(addresses, env, self.log.log, spawn=self._spawn_detached)

    def _refresh_arp(self, addresses: tuple[str, ...]) -> None:
        # the daemon's own pair only: a send_arp burst is for an address that moves
        announce.announce(addresses, os.environ, self.log.log, spawn=None)

    def _spawn_detached(self, argv: list[str], **kwargs) -> None:
        async def run() -> None:
            try:
                proc = await asyncio.create_subprocess_exec(*argv, **kwargs)
            except OSError as e:
                self.log.error(f"Cannot run {argv[0]}: {e.strerror}")
                return
            await proc.wait()
        task = asyncio.get_running_loop().create_task(run())
        self.jobs.tasks.add(task)
        task.add_done_callback(self.jobs.tasks.discard)

    def _comm_up(self) -> None:
        asyncio.get_running_loop().create_task(self._start_api())

    async def _start_api(self) -> None:
        handler = ApiHandler(CoreView(self.core, self.monitor), authorization_table(self.config.hacf.apiauth))
        try:
            os.makedirs(self.paths.run_dir, exist_ok=True)
            limits = ApiLimits.for_descriptors(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
            self.api = await start_api_server(self.paths.api_socket, handler, msgfmt=self.config.hacf.msgfmt,
                                              on_error=self.log.error, limits=limits)
        except OSError as e:
            self.log.error(f"Cannot open API socket {self.paths.api_socket}: {e.strerror}")
        # clients come up once they can sign on, as the original starts them
        if not self.core.shutting_down:
            self.clients.start_all()
        elif self.core.keep_resources:
            await self._leave_keeping_resources()

    # signals
    def _set_debug(self, level: int) -> None:
        self.debug = max(0, level)
        self.log.set_debug(self.debug)
        self.log.info(f"debug now set to {self.debug} [pid {os.getpid()}]")

    def _sighup(self) -> None:
        path = os.path.join(self.config.ha_dir, "ha.cf")
        try:
            hacf_mtime = os.stat(path).st_mtime
        except OSError as e:
            self.log.error(f"Cannot stat {path}: {e.strerror}")
            return
        if hacf_mtime != self._mtimes[0]:
            asyncio.get_running_loop().create_task(self._restart_in_place())
            return
        keys_mtime = self._config_mtimes()[1]
        if keys_mtime == self._mtimes[1]:
            self.log.info("Configuration unchanged.")
        elif self._reread_authkeys():
            self._mtimes = (self._mtimes[0], keys_mtime)

    async def _restart_in_place(self) -> None:
        if self.core.restart_in_place():
            await self._leave_keeping_resources()

    async def _leave_keeping_resources(self) -> None:
        # the original's quick shutdown: clients go, nothing is given up, no shutdone
        await self.clients.stop_all()
        self._enter("restart", self.core.stay_awaited)
        self._done.set()

    def _reread_authkeys(self) -> bool:
        self.log.info("Rereading authentication file.")
        try:
            keys = load_authkeys(os.path.join(self.config.ha_dir, "authkeys"))
        except ConfigError as e:
            for error in flatten(e):
                self.log.error(str(error))
            return False
        self.config = replace(self.config, authkeys=keys)
        self.core.config = self.config
        self.core.reload_authkeys()
        return True


# -- commands -------------------------------------------------------------------------------
def _early_log(cmd: str) -> DaemonLog:
    """Before ha.cf is read, lines go to stderr only, in 3.0.6's format."""
    return DaemonLog(LogSettings(host=os.uname().nodename, entity=cmd))


def _load(paths: Paths, log: DaemonLog) -> ClusterConfig | None:
    try:
        return configcheck.load_config(paths.ha_dir)
    except ConfigError as e:
        for error in flatten(e):
            log.error(str(error))
        return None


def _startup_log(cmd: str, paths: Paths, options: Options) -> DaemonLog | None:
    """The configured log when ha.cf itself is sound: errors in the other files belong there too."""
    try:
        hacf = load_hacf(os.path.join(paths.ha_dir, "ha.cf"))
    except ConfigError:
        return None
    try:
        style = load_pyhbcf(os.path.join(paths.ha_dir, PYHBCF_NAME)).log_style
    except ConfigError:     # reported with the other files' errors, in the default style
        style = DEFAULT_STYLE
    return _daemon_log(cmd, hacf, hacf.debug + options.debug, style)


def reload(cmd: str, paths: Paths, pid: int, options: Options) -> int:
    # like 3.0.6, the reloader writes to the configured log as well as to stderr
    log = _startup_log(cmd, paths, options) or _early_log(cmd)
    config = _load(paths, log)
    if config is None:
        log.info(f"Config errors: Heartbeat pid {pid} NOT restarted")
        return EXIT_NOT_CONFIGURED
    _log_warnings(log, config)
    log.info(f"Signalling heartbeat pid {pid} to reread config files")
    os.kill(pid, signal.SIGHUP)
    return EXIT_OK


def _log_warnings(log: DaemonLog, config: ClusterConfig) -> None:
    for path, warning in config.warnings:
        log.log(warning.level, warning.text)


def _daemon_log(cmd: str, hacf, debug: int, style: str) -> DaemonLog:
    syslogfmt = file_format_is_syslog(style, hacf.syslogmsgfmt, "syslogmsgfmt" in hacf.lines)
    return DaemonLog(LogSettings(host=os.uname().nodename, entity=cmd, syslogfmt=syslogfmt,
                                 logfile=hacf.logfile, debugfile=hacf.debugfile, facility=hacf.logfacility,
                                 debug_level=debug, style=style))


def _detach() -> tuple[bool, int]:
    """Double fork: (True, fd) in the first parent, (False, fd) in the daemon.

    The parent waits on fd until the daemon closes its end, once the pid file is
    written, so that `heartbeat -s` right after a start already finds it."""
    ready_r, ready_w = os.pipe()
    if os.fork():
        os.close(ready_w)
        return True, ready_r
    os.close(ready_r)
    os.setsid()
    if os.fork():
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    return False, ready_w


def _wait_ready(fd: int) -> None:
    select.select([fd], [], [], DETACH_WAIT_S)
    os.close(fd)


def _prepare_rsctmp(path: str, log: DaemonLog) -> None:
    if os.path.lexists(path):
        shutil.rmtree(path, ignore_errors=True)
        if os.path.lexists(path):
            log.info(f"Removing {path} failed, recreating.")
    os.makedirs(path, exist_ok=True)
    os.chmod(path, RSCTMP_MODE)


def raise_descriptor_limit() -> int:
    """The soft RLIMIT_NOFILE raised to the hard one: the descriptors the API clients may
    not take (`ApiLimits.for_descriptors`) are the daemon's own. Returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (OSError, ValueError):
            pass
    return soft


def _secure_files(paths: Paths, hacf, warn: Callable[[str], None]) -> None:
    """Take group and other write off the directories and files the daemon trusts."""
    state = [os.path.join(paths.state_dir, name) for name in ("hb_generation", "hb_uuid", "hostcache")]
    for line in tighten([paths.state_dir, paths.run_dir, *state, paths.pidfile,
                         hacf.logfile or "", hacf.debugfile or ""]):
        warn(line)


def start(argv: Sequence[str], options: Options, paths: Paths) -> int:
    # what the daemon creates (run directory, logs, state files) must not depend on the
    # umask of whoever started it
    os.umask(DAEMON_UMASK)
    raise_descriptor_limit()
    cmd = os.path.basename(argv[0])
    early = _early_log(cmd)
    pid = running_pid(paths)
    if pid is not None and pid != os.getpid() and not options.restarting:   # our own pid: restarting by exec
        early.info(f"{cmd}: already running [pid {pid}].")
        return EXIT_OK
    log = _startup_log(cmd, paths, options) or early
    config = _load(paths, log)
    if config is None:
        if options.restarting:
            log.info("Config errors: Heartbeat NOT restarted")
            return EXIT_GENERIC
        log.error("Configuration error, heartbeat not started.")
        return EXIT_NOT_CONFIGURED
    if options.restarting and pid != os.getpid():
        # -R is only for the exec of a restart in place, which keeps the pid in the pid file
        if pid is None:
            print(f"ERROR: {cmd} is not running.", file=sys.stderr)
            return EXIT_NOT_CONFIGURED
        print(f"ERROR: Heartbeat already running [pid {pid}].", file=sys.stderr)
        return EXIT_GENERIC
    hacf = config.hacf
    log = _daemon_log(cmd, hacf, hacf.debug + options.debug, config.pyhbcf.log_style)
    _log_warnings(log, config)
    log.info("**************************")
    log.info(f"Configuration validated. Starting heartbeat {VERSION_STRING}")
    reader_pid = os.getpid()   # 3.0.6's ping media use the pid of the process that read ha.cf
    ready = None
    if options.restarting:
        log.detach_stderr()     # like the original's -R: already a daemon, no terminal to talk to
    elif not options.foreground:
        parent, ready = _detach()
        if parent:
            _wait_ready(ready)
            return EXIT_OK
        log.detach_stderr()
    statefiles.write_pid(os.getpid(), paths.pidfile)
    if ready is not None:
        os.close(ready)
    try:
        return _run(argv, config, log, options, paths, reader_pid)
    except Exception as e:  # the last word about a crash belongs in the log, not on a closed stderr
        log.crit(f"heartbeat: {type(e).__name__}: {e}")
        raise


def _run(argv: Sequence[str], config: ClusterConfig, log: DaemonLog, options: Options, paths: Paths,
         reader_pid: int) -> int:
    log.info(f"heartbeat: version {VERSION_STRING}")
    _secure_files(paths, config.hacf, log.warn)
    generation = statefiles.start_generation(time.time(), config.hacf.hbgenmethod,
                                             os.path.join(paths.state_dir, "hb_generation"))
    if generation.warning is not None:
        log.warn(generation.warning)
    log.info(f"Heartbeat generation: {generation.value}")
    uuid = statefiles.load_uuid(os.path.join(paths.state_dir, "hb_uuid"))
    if uuid.created:
        log.info(statefiles.NO_UUID_MESSAGE)
    _prepare_rsctmp(paths.rsctmp, log)
    make_realtime(config.hacf.realtime and options.realtime, config.hacf.rtprio, log.log)

    async def main() -> tuple[bool, Core]:
        shell = Shell(config, log, options, paths, uuid=uuid.value, generation=generation.value,
                      open_media=functools.partial(open_media, pid=reader_pid))
        return await shell.run(), shell.core

    ran, core = asyncio.run(main())
    if core.keep_resources:
        _restart_in_place_exec(argv, log, options, None if core.engine is None else core.engine.held)
    elif core.restart:
        _restart_exec(argv, log, options, config.hacf.deadtime_ms)
    return EXIT_OK if ran else EXIT_MEDIA


def _announce_restart(log: DaemonLog) -> None:
    log.info("Heartbeat restart triggered.")
    log.info("Restarting heartbeat.")
    log.info("Performing heartbeat restart exec.")


def _kept_options(options: Options) -> list[str]:
    """What an exec of ourselves keeps of the command line (the original drops even these)."""
    return ["-d"] * options.debug + ([] if options.manage_resources else ["-M"])


def _restart_exec(argv: Sequence[str], log: DaemonLog, options: Options, deadtime_ms: int,
                  sleep: Callable[[float], None] = time.sleep) -> None:
    """Start afresh in this process (same pid, so the pid file stays right), in the foreground.

    Like the original, first stay silent for longer than deadtime, so that every
    peer has declared us dead before we introduce ourselves again."""
    _announce_restart(log)
    sleep((deadtime_ms + 999) // 1000 + 1)
    os.execv(argv[0], [argv[0], "-f", *_kept_options(options)])


def _restart_in_place_exec(argv: Sequence[str], log: DaemonLog, options: Options, held: str | None) -> None:
    """Start again at once in this process with `-R`, and `-C held` after nice_failback.

    The original's sources log `Current resources: -R -C ...` here; the real 3.0.6
    writes no such line to its log (lab), so neither do we."""
    _announce_restart(log)
    current = ["-R", *(("-C", held) if held is not None else ())]
    os.execv(argv[0], [argv[0], *_kept_options(options), *current])


def main(argv: Sequence[str] | None = None, *, paths: Paths = Paths()) -> int:
    argv = list(sys.argv if argv is None else argv) or ["heartbeat"]
    cmd = os.path.basename(argv[0])
    try:
        options = parse_options(argv[1:])
    except UsageError as e:
        if str(e):
            print(f"{argv[0]}: {e}", file=sys.stderr)
        print(usage(cmd), file=sys.stderr)
        return EXIT_USAGE
    if options.check:
        return configcheck.main(list(options.args))
    if options.version:
        print(VERSION_STRING)
        return EXIT_OK
    if options.defaults:
        sys.stdout.write(defaults_table(options.wiki))
        return EXIT_OK
    if options.status:
        return status(cmd, paths)
    if options.kill:
        return kill(paths)
    if options.reload:
        pid = running_pid(paths)
        if pid is not None:
            return reload(cmd, paths, pid, options)
    return start(argv, options, paths)


if __name__ == "__main__":
    sys.exit(main())
