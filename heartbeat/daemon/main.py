"""The `heartbeat` command: options, daemonizing, and the event loop around the core.

The core (heartbeat.core.joint.Core: codec, auth, membership and the failover engine
joined) is pure; `Shell` gives it its I/O with asyncio: media, the FIFO, the API socket,
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
import resource
import select
import shutil
import signal
import sys
import time
from dataclasses import dataclass, replace
from collections.abc import Mapping, Sequence
from typing import Any, Callable

from heartbeat import COMPAT_VERSION, VERSION_STRING
from heartbeat.daemon import announce, statefiles
from heartbeat.config import configcheck
from heartbeat.resources import ownprograms
from heartbeat.daemon.apiserver import ApiHandler, ApiLimits, ApiServer, authorization_table, start_api_server
from heartbeat.daemon.command import EXIT_OK, Paths, kill, running_pid, status
from heartbeat.config.authkeys import load_authkeys
from heartbeat.config.configcheck import ClusterConfig
from heartbeat.config.errors import ConfigError, flatten
from heartbeat.config.hacf import DIRECTIVES, Respawn, load_hacf
from heartbeat.core.failover import Command, Failover, Job, JobLog, JobSend
from heartbeat.core.joint import Core, CoreView, Hooks
from heartbeat.core.respawn import RespawnPolicy, Verdict
from heartbeat.daemon.fifo import FifoInput, create_fifo
from heartbeat.daemon.filemodes import DAEMON_UMASK, tighten
from heartbeat.daemon.log import DaemonLog, LogSettings
from heartbeat.logformat import DEFAULT_STYLE, STYLE_214, STYLE_306, file_format_is_syslog
from heartbeat.daemon.media import MediumError, open_media
from heartbeat.core.message import Message
from heartbeat.daemon.monitorjobs import PAUSE_DIR, MonitorJobs
from heartbeat.core.monitoring import units
from heartbeat.daemon.realtime import make_realtime
from heartbeat.config.pyhbcf import FILE_NAME as PYHBCF_NAME, load_pyhbcf

EXIT_GENERIC = 1
EXIT_USAGE = 2
EXIT_NOT_CONFIGURED = 6    # LSB "program is not configured"
EXIT_MEDIA = 1             # a medium could not be opened
OPTIONS = "dDkMrRsvWlC:Vfc"
# A child client runs in a process group of its own, as the original's do, so that
# stopping it reaches whatever it started. Python 3.9 (EL9) has no process_group=;
# setpgrp in the child, after the change of user, makes the same group.
OWN_PROCESS_GROUP: dict[str, Any] = {"process_group": 0} if sys.version_info >= (3, 11) else {"preexec_fn": os.setpgrp}
DETACH_WAIT_S = 30.0       # the parent of a daemonizing start waits this long for the pid file
RSCTMP_MODE = 0o1777 & ~0o022
SHUTDOWN_LINGER_S = 1.0

# where everything is when nobody says otherwise (tests pass their own)
DEFAULT_PATHS = Paths()

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


# -- the real clock -------------------------------------------------------------------------
class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


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
        them without an interpreter start (heartbeat.resources.ownprograms); None for other programs."""
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            return ownprograms.start(list(argv), env, stdin=null)
        finally:
            os.close(null)


# -- respawned client children (ha.cf respawn) -----------------------------------------------
CHILD_STOP_WAIT_S = 30.0   # at shutdown, a child gets this long to go after SIGTERM, then SIGKILL


@dataclass
class ClientChild:
    spec: Respawn
    uid: int
    gid: int
    policy: RespawnPolicy
    proc: asyncio.subprocess.Process | None = None

    @property
    def command(self) -> str:
        return " ".join(self.spec.argv)


class ClientChildren:
    """The `respawn` programs: started at comm-up, restarted when they die, stopped first at shutdown."""

    def __init__(self, specs: Sequence[Respawn], log: DaemonLog, environment: Callable[[], Mapping[str, str]],
                 *, pause_s: float = 1.0) -> None:
        self._log = log
        self._environment = environment
        self.children = [self._child(spec, pause_s) for spec in specs]
        for child in self.children:
            if child.spec.failfast:
                log.warn(f"failfast client {child.command} is respawned instead: pyheartbeat never reboots the node")
        self.stopping = False
        self._tasks: set[asyncio.Task] = set()

    @staticmethod
    def _child(spec: Respawn, pause_s: float) -> ClientChild:
        account = pwd.getpwnam(spec.user)
        return ClientChild(spec, account.pw_uid, account.pw_gid, RespawnPolicy(time.monotonic, pause_s=pause_s))

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
        pause = child.policy.pause()
        if pause is not None:
            await asyncio.sleep(pause)
        if not child.policy.started():
            return
        # only root can become the configured user; anyone else runs children as itself
        identity: dict[str, Any] = {}
        if os.geteuid() == 0:
            identity = dict(user=child.uid, group=child.gid, extra_groups=os.getgrouplist(child.spec.user, child.gid))
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
        verdict = child.policy.exited(rc)
        if verdict is Verdict.STOPPING:
            return
        if rc > 0:
            self._log.error(f"Client {child.command} exited with return code {rc}.")
        elif rc < 0:
            self._log.error(f"Client {child.command} (pid={pid}) killed by signal {-rc}.")
        if verdict is Verdict.TOO_FAST:
            self._log.error(f'Client {child.command} "respawning too fast"')
        elif verdict is Verdict.RESTART:
            self._log.error(f'Respawning client "{child.command}":')
            self._spawn(child)

    async def stop_all(self) -> None:
        """Last configured first, each gone before the next is signalled."""
        self.stopping = True
        for child in self.children:
            child.policy.stop()
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
                         uuid=uuid, generation=generation, clock=SystemClock(), engine=engine, pid=os.getpid(),
                         loadavg=loadavg)
        self.jobs = JobRunner(self.core, lambda: script_environment(self.config, self.debug))
        self.clients = ClientChildren(config.hacf.respawn, log, lambda: script_environment(self.config, self.debug))
        self.monitor = self._resource_monitor()

    def _resource_monitor(self) -> MonitorJobs | None:
        """pyheartbeat.cf's monitors; without any (or with -M) nothing of it exists."""
        engine = self.core.engine
        if engine is None:
            return None
        monitored = units(self.config.pyhbcf, self.config.haresources, self.config.local_node)
        if not monitored:
            return None
        return MonitorJobs(monitored, self.log, environment=lambda: script_environment(self.config, self.debug),
                           holding=functools.partial(self._holding, engine),
                           send=lambda msg: self._enter("resource monitor", lambda: self.core.send(msg)),
                           pause_dir=os.path.join(self.paths.state_dir, PAUSE_DIR))

    def _holding(self, engine: Failover) -> str | None:
        return None if self.core.shutting_down else engine.holding

    async def _stop_monitor(self) -> None:
        if self.monitor is not None:
            await self.monitor.stop()

    def _engine(self) -> Failover:
        rcd = os.path.join(self.config.ha_dir, "rc.d")
        scripts = frozenset(os.listdir(rcd)) if os.path.isdir(rcd) else frozenset()
        refresh_ms = self.config.pyhbcf.arp_refresh_ms
        return Failover(self.config.hacf, self.config.haresources, self.config.local_node,
                        rcd_scripts=scripts, noarchbin=self.paths.noarchbin, ha_dir=self.config.ha_dir,
                        wall=time.time, pid=os.getpid(),
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
        deadline = self.core.next_deadline()
        if self._timer is not None:
            if self._timer.when() == deadline and not self._timer.cancelled():
                # most inputs leave the next deadline where it was (our own heartbeat's):
                # no new timer for each (issue 10's idle CPU)
                return
            self._timer.cancel()
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
    for _path, warning in config.warnings:
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


def main(argv: Sequence[str] | None = None, *, paths: Paths = DEFAULT_PATHS) -> int:
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
