"""v1 resource ownership (haresources mode): who runs which resource group, and when.

A sans-I/O state machine after heartbeat 3.0.6's `hb_resource.c` (spec
config-and-resources §8.1, §14; wire-protocol §9). The daemon feeds it the
cluster's events; it answers with messages to send, log lines, and jobs (the
resource scripts) to run. Time comes in as `now` (monotonic seconds).

Two modes: legacy (`auto_failback legacy`: own groups are asked for with
`ip-request`) and nice_failback (`auto_failback on|off`: the `starting` /
`resource` / `ask_resources` handshakes). The protocol knows two nodes only:
"local" groups are this node's, "foreign" ones everybody else's, and the other
side's holdings are one variable, as in the original. An engine started by a
restart in place (`heartbeat -R -C held`) is told what it holds (`restarted`)
and acquires nothing that still runs.

Job scheduling follows the original exactly, because log and takeover order
depend on it: rc.d notifications wait in one FIFO queue until no
resource-management job is running, while req_our_resources, standby and
shutdown jobs start at once, possibly beside a running notification.

The handshake, standby and shutdown move as their tables in failoverstates.py say.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Callable, Union

from heartbeat.core import healing
from heartbeat.config.hacf import AutoFailback, HaCf
from heartbeat.config.groupkeys import allkeys, listkeys, otherkeys, ourkeys
from heartbeat.config.haresources import HaResources, ResourceGroup
from heartbeat.core.failoverstates import (HANDSHAKE, SHUTDOWN, STANDBY, HandshakeEvent, Shutdown, ShutdownEvent,
                                           Standby, StandbyEvent, State, standby_event)
from heartbeat.core.membership import ACTIVE, DEAD, Log, parse_hex
from heartbeat.core.message import STRING, Message

# -- holdings: bit sets, as on the wire -------------------------------------------------------
NONE, LOCAL, FOREIGN, ALL = 0, 1, 2, 3
HOLDINGS = ("none", "local", "foreign", "all")

RQSTDELAY = 10.0                 # s in RSCRCVD before taking our own groups anyway
STANDBY_REPLY_TIMEOUT = 10.0     # s a standby requester waits for `other`
STANDBY_RSC_TIMEOUT = 3600.0     # s the rest of a standby exchange may take
AUTO_FAILBACK_RETRY = 1.0
EMERGENCY_SHUTDOWN = 3600.0      # s after a shutdown began, stop waiting for the release
# s a delayed shutdown waits for the other node's transition while nothing runs here:
# its end is only learnt from its `resource isstable=1`, which a lost or misordered
# packet can keep from us for good; our shutdone makes it take our groups anyway
SHUTDOWN_FLUX_WAIT = 30.0

INITMSG = "Initial resource acquisition complete"

# message types with a handler of their own: they never reach rc.d
_HANDLED = frozenset({"starting", "resource", "ask_resources", "shutdone", "addnode", "delnode",
                      "setweight", "setsite", "query-cstatus", "respond-cstatus"})


# The protocol's field names are lower case; the scripts' own settings (HA_DIR,
# HA_FUNCS, HA_NOARCHBIN, HA_DEBUGLOG...) are upper case, and HA_debug is the daemon's.
_SCRIPT_FIELD = re.compile(r"[a-z_][a-z0-9_]*")


def _script_field(name: str, value: str) -> bool:
    """Whether a received field may become ``HA_<name>`` in an rc.d script's environment."""
    return _SCRIPT_FIELD.fullmatch(name) is not None and name != "debug" and "\x00" not in value


# -- actions -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Send:
    msg: Message


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]


@dataclass(frozen=True)
class JobLog:
    """A line the job logs as the daemon's child (`heartbeat: [child] ...`)."""
    level: str
    text: str


@dataclass(frozen=True)
class JobSend:
    msg: Message


Step = Union[Command, JobLog, JobSend]


@dataclass(frozen=True)
class Job:
    id: int
    name: str
    env: Mapping[str, str]
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Run:
    job: Job


@dataclass(frozen=True)
class ShutdownReady:
    """Resources released and `shutdone` looped back: the daemon may finish its shutdown."""


@dataclass(frozen=True)
class Announce:
    """Re-announce addresses this node keeps (gratuitous ARP), outside the job queue."""
    addresses: tuple[str, ...]
    refresh: bool = False     # pyheartbeat.cf's periodic arp_refresh, not a heal or a stall


@dataclass(frozen=True)
class RestartAfterPartition:
    """The peer answered no heal report: give everything up and restart, as the original."""


Action = Union[Send, Log, Run, ShutdownReady, Announce, RestartAfterPartition]


def _update(full: bool, current: int, update: int) -> int:
    """A `resource` report: `rtype=full` replaces, otherwise OR-ed in, `none` resets."""
    if full or update == NONE:
        return update
    return update | current


def _mirror(holdings: int) -> int:
    """The same groups seen from the other node."""
    return {LOCAL: FOREIGN, FOREIGN: LOCAL}.get(holdings, holdings)


class Failover:
    def __init__(self, config: HaCf, resources: HaResources, local: str, *,
                 rcd_scripts: frozenset[str],
                 noarchbin: str = "/usr/share/heartbeat",
                 ha_dir: str = "/etc/ha.d",
                 wall: Callable[[], float],
                 pid: int,
                 arp_refresh_s: float | None = None) -> None:
        self._local = local
        self._rcd = rcd_scripts
        self._noarchbin = noarchbin
        self._rm = f"{noarchbin}/ResourceManager"
        self._harc = f"{ha_dir}/harc"
        self._resource_dir = f"{ha_dir}/resource.d"
        self._deadtime = config.deadtime_ms / 1000
        self._wall = wall
        self._pid = pid
        self._nice = config.auto_failback.nice_failback
        self._auto = config.auto_failback is AutoFailback.ON
        self._logd = "yes" if config.use_logd else "no"
        self._pings = frozenset(config.ping_nodes)
        # the lines ResourceManager searches (resourcemanager.read_lines gives the same)
        self._lines = [g.text + " " for g in resources.groups]
        # what an ip-request may name: it reaches ResourceManager through rc.d
        self._tokens = frozenset(r.token for g in resources.groups for r in g.resources)
        self._groups = resources.groups

        self._statuses: dict[str, str] = {n: "init" for n in config.nodes}
        self._statuses[local] = "up"
        self._heard: set[str] = set()               # anypacketsyet
        self._gave_up: set[str] = set()             # sent shutdone: known to hold nothing (legacy)
        self._pending_dead: list[str] = []          # declared dead before comm-up
        self._comm_up = False
        self._restarted = False                     # re-exec'd by a restart in place (-R)

        self._i_hold = NONE
        self._other_holds = NONE
        self._other_is_stable = False
        self._state = State.INIT
        self._standby = Standby.NOT
        self._standby_running: float | None = None
        self._standby_rsctype = ALL
        self._needs_failback = False
        self._failback_due: float | None = None
        self._takeover_in_progress = False
        self._local_done = False
        self._foreign_done = False
        self._announced = False
        self._local_takeover_time: float | None = None

        self._shutdown = Shutdown.RUNNING
        self._emergency_due: float | None = None
        self._flux_due: float | None = None
        self._last_report: dict[str, tuple[int, int]] = {}     # (hg, seq) of the newest applied
        self._finished = False

        # a healed partition or a stall being settled with the peer (healing.py)
        self._heal_peer: str | None = None
        self._heal_due: float | None = None
        self._heal_announced = NONE
        self._heal_reburial: str | None = None
        self._heal_settled: str | None = None       # the peer of the last settled episode
        self._owe_steady_report = False             # a heal report said isstable=0
        self._took_foreign = False                  # legacy keeps no holdings: took a dead peer's groups

        # pyheartbeat.cf's arp_refresh: None, no timer at all
        self._refresh_every = arp_refresh_s
        self._refresh_due: float | None = None

        self._queue: deque[Message] = deque()
        self._running: dict[int, str] = {}
        self._next_id = 1
        self._now = 0.0
        self._out: list[Action] = []

    # -- queries -------------------------------------------------------------------------------
    @property
    def _shutdown_in_progress(self) -> bool:
        return self._shutdown is not Shutdown.RUNNING

    @property
    def _needs_shutdown(self) -> bool:
        """Asked to shut down, waiting for the cluster to be stable before giving everything up."""
        return self._shutdown is Shutdown.DELAYED

    @property
    def holding(self) -> str:
        """`cl_status rscstatus`: what we hold, or `transition` while anything moves."""
        return HOLDINGS[self._i_hold] if self._isstable() else "transition"

    @property
    def held(self) -> str | None:
        """The `-C` a restart in place hands on: nice_failback's holdings even mid-transition.

        Legacy hands on nothing, as the original, whose legacy mode keeps no holdings."""
        return HOLDINGS[self._i_hold] if self._nice else None

    def next_deadline(self) -> float | None:
        times = [self._standby_running, self._failback_due, self._emergency_due, self._heal_due,
                 self._refresh_due, self._flux_due if self._needs_shutdown and not self._running else None]
        if self._nice and HANDSHAKE.accepts(self._state, HandshakeEvent.RQSTDELAY):
            times.append(self._local_takeover_time)
        due = [t for t in times if t is not None]
        return min(due) if due else None

    # -- events --------------------------------------------------------------------------------
    def restarted(self, now: float, held: str | None) -> list[Action]:
        """Right after a restart in place (`heartbeat -R [-C held]`), before comm-up.

        The groups the previous incarnation ran are still running: nice_failback takes
        `held` as its holdings and reports them in the handshake, legacy does not ask for
        its groups at comm-up. `held` comes only from a nice_failback predecessor, so a
        legacy engine given one follows a mode change; like the original it then asks
        for its groups once more if they were held (req_resource leaves running ones be).
        """
        self._begin(now)
        self._restarted = True
        if held is not None:
            self._i_hold = self._encode(held)
        if self._nice:
            if held is None:
                self._i_hold = LOCAL
                self._send_held(True)
                self._log("info", "restart: assuming HB_LOCAL_RSC")
        elif held is not None:
            if self._i_hold & LOCAL:
                self._log("info", "restart: acquiring local resources.")
                self._req_our_resources(False)
            else:
                self._log("info", "restart:  local resources already acquired.")
        return self._end()

    def comm_up(self, now: float, statuses: Mapping[str, str]) -> list[Action]:
        self._begin(now)
        self._statuses.update(statuses)
        self._comm_up = True
        if self._shutdown_in_progress:
            # Asked to stop while starting: nothing was acquired, so release and go. The
            # real 3.0.6 logs the delay warning here too, then gives up at once, and runs
            # no takeover for nodes found dead meanwhile (lab, shutdown within initdead).
            self._emergency_due = now + EMERGENCY_SHUTDOWN
            self._log("WARN", "Shutdown delayed until current resource activity finishes.")
            self._giveup_resources()
            return self._end()
        if self._count(DEAD) == 0:
            self._foreign_done = True
        if self._nice:
            self._send(Message.of(t="starting"))
            # Restarted, our groups already run: the real 3.0.6 then answers the peer's
            # holdings as a stable node, one `resource isstable=1` and no request (lab).
            self._state = HANDSHAKE.after(self._state, HandshakeEvent.COMM_UP_RESTARTED if self._restarted
                                          else HandshakeEvent.COMM_UP)
        elif not self._restarted:
            self._req_our_resources(False)
        # Nodes found dead during initdead are recovered only now: the real daemon logs
        # their STONITH and takeover lines after comm-up's (spec §14.4 A).
        dead, self._pending_dead = self._pending_dead, []
        for node in dead:
            self._recover_dead(node)
        return self._end()

    def node_status(self, now: float, node: str, status: str, msg: Message | None) -> list[Action]:
        self._begin(now)
        if node in self._statuses:
            self._statuses[node] = status
        if status != DEAD and node == self._heal_reburial:
            self._heal_reburial = None
        if msg is not None:
            self._heard.add(node)
            self._queue_notify(msg)
        elif status == DEAD:
            if node == self._heal_reburial:
                # membership buries a returning node once more before its status update (as the
                # original does): it is back, there is nothing to take over
                self._heal_reburial = None
                return self._end()
            if node == self._heal_peer:
                self._heal_closed(f"{node} died before it answered: the usual takeover follows.")
            if node == self._heal_settled:
                self._heal_settled = None
            if self._comm_up:
                self._recover_dead(node)
            else:
                self._pending_dead.append(node)
        return self._end()

    def link_status(self, now: float, node: str, link: str, status: str) -> list[Action]:
        self._begin(now)
        self._queue_notify(Message.of(t="ifstat", node=node, ifname=link, st=status))
        return self._end()

    def receive(self, now: float, msg: Message) -> list[Action]:
        self._begin(now)
        self._check_standby_timer()
        mtype = msg.type or ""
        src = msg.get("src", "")          # membership delivers nothing without one
        ours = src == self._local
        if not ours:
            self._heard.add(src)
        if mtype == "shutdone":
            self._on_shutdone(msg, src, ours)
        elif self._comm_up:     # the original registers its resource handlers at comm-up only
            self._on_resource_message(mtype, msg, src, ours)
        if self._comm_up and not ours:
            self._heal_heard(src, msg)
        return self._end()

    def _on_resource_message(self, mtype: str, msg: Message, src: str, ours: bool) -> None:
        """A message once communication is up: resource reports and requests are acted on;
        ip-requests and what we do not handle go to the clients."""
        if mtype in ("starting", "resource"):
            if ours or self._fresh_report(src, msg):
                self._process_resources(mtype, msg, ours)
        elif mtype == "ask_resources":
            self._ask_for_resources(msg)
        elif mtype == "ip-request":
            if not ours and self._names_a_resource(msg, src):
                self._queue_notify(msg)
        elif mtype == "ip-request-resp":
            if not self._shutdown_in_progress and self._names_a_resource(msg, src):
                self._queue_notify(msg)
        elif mtype not in _HANDLED:
            self._queue_notify(msg)

    def _names_a_resource(self, msg: Message, src: str) -> bool:
        """Whether the key of an ip-request(-resp) is a resource written in haresources.

        The original hands any key to ResourceManager, which found a shell there
        (issue 8); both nodes read the same haresources, so a peer never needs another."""
        key = msg.get("ipaddr")
        if isinstance(key, str) and key in self._tokens:
            return True
        shown = (key if isinstance(key, str) else "").encode("unicode_escape").decode("ascii")
        self._log("WARN", f"{msg.type} from {src} names [{shown}], no resource of haresources: ignored")
        return False

    def job_done(self, now: float, job_id: int, rc: int) -> list[Action]:
        self._begin(now)
        name = self._running.pop(job_id, None)
        if name is None:
            return self._end()
        if name.startswith("req_our_resources") and self._nice:
            # the original's child reports holdings from shared memory as it exits
            self._send_held(True, "req_our_resources()")
        if name in ("req_our_resources", "ip-request-resp"):
            self._local_done = True
            self._announce(name)
        elif not self._nice and name == "status" and self._count(DEAD) > 0:
            self._foreign_done = True
            self._announce(name)
        self._start_next()
        self._shutdown_if_needed()
        return self._end()

    def shutdown(self, now: float) -> list[Action]:
        self._begin(now)
        if self._shutdown_in_progress:
            return self._end()
        self._shutdown = SHUTDOWN.after(self._shutdown, ShutdownEvent.ASK)
        if not self._comm_up:
            self._log("WARN", "Shutdown delayed until Communication is up.")
            return self._end()
        self._emergency_due = now + EMERGENCY_SHUTDOWN
        self._giveup_resources()
        return self._end()

    def tick(self, now: float) -> list[Action]:
        self._begin(now)
        self._check_standby_timer()
        if (self._nice and HANDSHAKE.accepts(self._state, HandshakeEvent.RQSTDELAY)
                and self._due(self._local_takeover_time)):
            self._state = HANDSHAKE.after(self._state, HandshakeEvent.RQSTDELAY)
            self._req_our_resources(False)
            self._log("info", "local resource transition completed.")
            self._send_held(True)
            self._audit()
        if self._due(self._failback_due):
            self._failback_due = None
            self._auto_failback()
        if self._needs_shutdown and self._due(self._flux_due) and not self._running:
            self._log("WARN", "Shutdown: the other node's resource transition did not end; "
                              "giving up all HA resources anyway.")
            self._giveup_resources(force=True)
        if self._due(self._heal_due):
            self._heal_timeout()
        if self._refresh_every is not None:
            self._refresh_arp()
        if self._due(self._emergency_due) and not self._finished:
            self._emergency_shutdown()
        return self._end()

    def _due(self, deadline: float | None) -> bool:
        return deadline is not None and self._now >= deadline

    def _emergency_shutdown(self) -> None:
        """EMERGENCY_SHUTDOWN after the request: stop waiting for the release."""
        self._emergency_due = None
        self._log("ERROR", "Emergency Shutdown: Attempting to kill everything ourselves")
        if self._needs_shutdown:
            # the original exits here still running its groups: give them up first,
            # shutdone's loopback ends the shutdown
            self._giveup_resources(force=True)
        else:
            self._finished = True
            self._out.append(ShutdownReady())

    # -- plumbing -------------------------------------------------------------------------------
    def _begin(self, now: float) -> None:
        self._now = now
        self._out = []

    def _end(self) -> list[Action]:
        if self._owe_steady_report and self._steady_here() and not self._shutdown_in_progress:
            self._owe_steady_report = False
            self._send_held(True)
        out, self._out = self._out, []
        return out

    def _log(self, level: str, text: str) -> None:
        self._out.append(Log(level, text))

    def _send(self, msg: Message) -> None:
        self._out.append(Send(msg))

    def _count(self, status: str) -> int:
        return sum(1 for s in self._statuses.values() if s == status)

    def _encode(self, text: str) -> int:
        if text in HOLDINGS:
            return HOLDINGS.index(text)
        self._log("ERROR", f"encode_resources: bad resource type [{text}]")
        return NONE

    def _announce(self, reason: str) -> None:
        if self._announced or not (self._local_done and self._foreign_done):
            return
        self._announced = True
        self._log("info", f"{INITMSG} ({reason})")

    def _isstable(self) -> bool:
        if not self._nice:
            return not self._running
        if self._shutdown_in_progress and self._state is State.INIT:
            return True
        return self._other_is_stable and self._steady_here()

    def _steady_here(self) -> bool:
        """Nothing moves on this node, whatever the peer does: what a heal report's isstable
        says. Were it the cluster's stability (_isstable), two nodes that each heard the other
        in flux would each report isstable=0 for good and never settle."""
        if not self._nice:
            return not self._running
        return (not self._takeover_in_progress and self._standby is Standby.NOT
                and self._standby_running is None and not self._running
                and self._state in (State.STABLE, State.SHUTDOWN, State.INIT))

    def _heal_send(self, holdings: int, kind: str) -> None:
        steady = self._steady_here()
        # a peer told isstable=0 waits for a 1: it is owed once nothing moves here (_end)
        self._owe_steady_report = self._nice and not steady
        self._send(healing.heal_report(HOLDINGS[holdings], steady, kind))

    def _held_message(self, stable: bool, comment: str | None) -> Message:
        msg = Message.of(t="resource", rsc_hold=HOLDINGS[self._i_hold], rtype="full",
                         isstable="1" if stable else "0")
        if comment is not None:
            msg.append("info", comment)
        return msg

    def _send_held(self, stable: bool, comment: str | None = None) -> None:
        if self._nice:
            self._send(self._held_message(stable, comment))

    def _standby_message(self, info: Standby) -> Message:
        return Message.of(t="ask_resources", rsc_hold=HOLDINGS[self._standby_rsctype],
                          info=info.name.lower())

    # -- jobs ----------------------------------------------------------------------------------
    def _run(self, name: str, env: Mapping[str, str], steps: list[Step]) -> None:
        job = Job(self._next_id, name, {**env, "HA_LOGD": self._logd}, tuple(steps))
        self._next_id += 1
        self._running[job.id] = name
        self._out.append(Run(job))

    def _queue_notify(self, msg: Message, *, at_once: bool = False) -> None:
        """Queue an rc.d notification; ``at_once`` starts it beside whatever runs."""
        mtype = msg.type
        if mtype is None or mtype.lower() not in self._rcd:
            return
        if at_once:
            self._notify_world(msg)
            return
        self._queue.append(msg)
        self._start_next()

    def _start_next(self) -> None:
        if self._running:
            return
        if not self._queue:
            self._shutdown_if_needed()
            return
        self._notify_world(self._queue.popleft())

    def _notify_world(self, msg: Message) -> None:
        """`harc <type>` with every string field as HA_<name> (later duplicates win, like setenv)."""
        command = (msg.type or "").lower()
        env = {f"HA_{f.name}": f.value for f in msg
               if f.type == STRING and isinstance(f.value, str) and _script_field(f.name, f.value)}
        env["HA_OSTATUS"] = self._statuses[self._local]
        if self._nice:
            env["HA_NICEFAILBACK"] = "yes"
        self._run(command, env, [Command((self._harc, command))])

    def _req_our_resources(self, anyway: bool) -> None:
        if self._shutdown_in_progress:
            return
        if self._nice:
            if ((self._other_holds & FOREIGN or self._i_hold & LOCAL) and not anyway
                    and self._standby is Standby.NOT):
                self._log("info", "Local Resource acquisition completed. (none)")
                return
            self._i_hold |= LOCAL
        upcount = self._count(ACTIVE) + (self._statuses[self._local] != ACTIVE)
        env = {}
        if upcount < 2:
            env["HA_DONTASK"] = "yes"
        if self._nice:
            env["HA_NICEFAILBACK"] = "yes"
        keys = listkeys(self._lines, self._local)
        steps: list[Step] = [Command((f"{self._noarchbin}/req_resource", key)) for key in keys]
        if keys:
            steps.append(JobLog("info", "Local Resource acquisition completed."))
        else:
            steps.append(JobLog("info", f"No local resources [{self._rm} listkeys {self._local}] to acquire."))
        self._run("req_our_resources" if upcount < 2 else "req_our_resources(ask)", env, steps)

    def _go_standby(self, who: Standby, resourceset: int) -> None:
        if who is Standby.ME:
            self._other_is_stable = False
            self._i_hold &= ~resourceset
            self._send_held(False, "standby")
            action, command, done = "give up", "givegroup", "release"
        else:
            action, command, done = "acquire", "takegroup", "acquisition"
        acting = resourceset if who is Standby.ME else _mirror(resourceset)
        if acting == NONE:
            self._run("go_standby", {}, [JobLog("ERROR", f"no resources to {action}")])
            return
        if acting == LOCAL:
            lines = ourkeys(self._lines, self._local)
        elif acting == FOREIGN:
            lines = otherkeys(self._lines, self._local)
        else:
            lines = allkeys(self._lines)
        name = HOLDINGS[acting]
        steps: list[Step] = [JobLog("info", f"{action} {name} HA resources (standby).")]
        # the original hands each line to system(): the shell splits it into words
        steps += [Command((self._rm, command, *line.split())) for line in lines]
        steps.append(JobLog("info", f"{name} HA resource {done} completed (standby)."))
        steps.append(JobSend(self._standby_message(Standby.DONE)))
        self._run("go_standby", {}, steps)

    def _shutdown_if_needed(self) -> None:
        if self._needs_shutdown:
            self._giveup_resources()

    def _giveup_resources(self, force: bool = False) -> None:
        if not force and not self._isstable():
            delayed = SHUTDOWN.after(self._shutdown, ShutdownEvent.IN_FLUX)
            if delayed is not self._shutdown:
                self._log("WARN", "Shutdown delayed until current resource activity finishes.")
                self._flux_due = self._now + SHUTDOWN_FLUX_WAIT
            self._shutdown = delayed
            return
        self._shutdown = SHUTDOWN.after(self._shutdown, ShutdownEvent.GIVE_UP)
        self._flux_due = None
        self._i_hold = NONE
        self._state = HANDSHAKE.after(self._state, HandshakeEvent.GIVE_UP)
        self._send_held(False, "shutdown")
        self._log("info", f"Heartbeat shutdown in progress. ({self._pid})")
        steps: list[Step] = [JobLog("info", "Giving up all HA resources.")]
        steps += [Command((self._rm, "givegroup", key)) for key in allkeys(self._lines)]
        steps.append(JobLog("info", "All HA resources relinquished."))
        steps.append(JobSend(Message.of(t="shutdone", st=DEAD)))
        self._run("hb_giveup_resources", {}, steps)

    # -- node death -----------------------------------------------------------------------------
    def _dead_status(self, node: str) -> Message:
        msg = Message.of(t="status", seq="1", ts=f"{int(self._wall()):x}", src=node, st=DEAD)
        if node in self._pings:
            msg.append("info", "ping")
        return msg

    def _recover_dead(self, node: str) -> None:
        if node not in self._pings and STANDBY.accepts(self._standby, StandbyEvent.PEER_DIED):
            self._log("info", "Cancelling pending standby operation")
            self._standby = STANDBY.after(self._standby, StandbyEvent.PEER_DIED)
            self._standby_running = None
            if not self._other_is_stable and self._i_hold == ALL:
                self._other_is_stable = True
            self._shutdown_if_needed()
        if node in self._pings:
            self._takeover_from(node)
            return
        if self._shutdown_in_progress:
            # releasing, or waiting to release, everything: a delayed shutdown goes on by itself
            return
        self._needs_failback = True
        need_stonith = True
        if node in self._heard:
            if self._nice:
                need_stonith = self._other_holds != NONE
            else:
                need_stonith = node not in self._gave_up
        if need_stonith:
            self._send(Message.of(t="stonith", node=node, result="n_stnth"))
            self._log("WARN", "No STONITH device configured.")
            self._log("WARN", "Shared disks are not protected.")
            self._takeover_from(node)
            return
        self._log("info", f"Dead node {node} gave up resources.")
        self._send(Message.of(t="stonith", node=node, result="unneeded"))
        if not self._nice:
            self._takeover_from(node)
            return
        if self._i_hold == ALL:
            self._other_is_stable = True
            return
        if not self._i_hold & LOCAL:
            self._req_our_resources(True)
        if not self._i_hold & FOREIGN:
            self._takeover_from(node)

    def _takeover_from(self, node: str) -> None:
        ping = node in self._pings
        if self._shutdown_in_progress:
            self._log("info", "Resource takeover cancelled - shutdown in progress.")
            self._shutdown_if_needed()
            return
        if not ping:
            self._log("info", f"Resources being acquired from {node}.")
        # A dead node's groups must not wait behind a job that may take minutes (a
        # release retrying its stops); later notifications still wait for this one.
        self._queue_notify(self._dead_status(node), at_once=True)
        if not ping:
            self._took_foreign = True
            if self._nice:
                self._i_hold |= FOREIGN
                self._other_holds = NONE
                self._other_is_stable = True
                self._takeover_in_progress = True
            self._req_our_resources(True)
        self._heard.add(node)

    # -- nice_failback handshake ----------------------------------------------------------------
    def _fresh_report(self, src: str, msg: Message) -> bool:
        """False for a `starting`/`resource` older than the newest one applied from `src`.

        A report lost and retransmitted arrives after newer ones; applied then, a stale
        `isstable=0` marked the other node unstable for good, and nothing ever settled."""
        gen, seq = (parse_hex(v if isinstance(v, str) else None) for v in (msg.get("hg"), msg.get("seq")))
        if gen is None or seq is None:
            return True
        last = self._last_report.get(src)
        if last is not None and (gen, seq) < last:
            self._log("debug", f"ignored a {msg.type} report from {src} older than the last one applied")
            return False
        self._last_report[src] = (gen, seq)
        return True

    def _on_shutdone(self, msg: Message, src: str, ours: bool) -> None:
        if self._comm_up:
            self._process_resources("shutdone", msg, ours)
        if ours:
            if not self._finished:
                self._finished = True
                self._out.append(ShutdownReady())
            return
        self._gave_up.add(src)
        self._other_is_stable = False
        self._other_holds = NONE
        self._log("info", f"Received shutdown notice from '{src}'.")
        self._takeover_from(src)

    def _process_resources(self, mtype: str, msg: Message, ours: bool) -> None:
        self._shutdown_if_needed()
        if not self._nice:
            return
        state = self._state
        # Handlers exist from comm-up on, when the state is STARTING or later: the original's
        # complaints about messages in state INIT cannot happen here.
        new: State | None = state           # our own `starting` looped back changes nothing
        if mtype == "starting" and not ours:
            new = self._on_peer_starting(state)
        elif mtype == "resource":
            new = self._on_report(msg, ours, state)
        elif mtype == "shutdone":
            new = self._on_shutdone_report(ours, state)
        if new is None:
            return
        # `new` follows from the state this message found, whatever ran meanwhile: a delayed
        # shutdown given up above (a peer turned stable) is back in STABLE until our own
        # shutdown report loops back (issue 12 moved the moves into tables, no behaviour).
        self._state = new
        if new is State.RSCRCVD and self._local_takeover_time is None:
            self._local_takeover_time = self._now + RQSTDELAY
        self._audit()
        self._shutdown_if_needed()

    def _on_peer_starting(self, state: State) -> State:
        """The peer (re)starts: it is in flux, and learns what we hold."""
        new = HANDSHAKE.after(state, HandshakeEvent.PEER_STARTING)
        if new is not state:
            self._foreign_done = True
            self._announce("HB_R_BOTHSTARTING")
        self._other_is_stable = False
        if self._takeover_in_progress:
            self._log("WARN", "T_STARTING received during takeover.")
        self._send_held(state is State.STABLE)
        return new

    def _on_report(self, msg: Message, ours: bool, state: State) -> State | None:
        """A `resource` report, ours or the peer's; None when it names no holdings."""
        text = msg.get("rsc_hold")
        if not isinstance(text, str):
            self._log("ERROR", "resource message without rsc_hold field.")
            return None
        holdings = self._encode(text)
        full = msg.get("rtype") == "full"
        new = HANDSHAKE.after(state, HandshakeEvent.REPORT)
        if new is not state and not self._auto:
            self._foreign_done = True
            self._announce("T_RESOURCES")
        if not ours:
            return self._their_holdings(msg, holdings, full, state, new)
        return self._our_holdings(msg, holdings, full, new)

    def _on_shutdone_report(self, ours: bool, state: State) -> State:
        """A peer that shut down holds nothing: we take what we lack; our own ends our holdings."""
        if ours:
            self._i_hold = NONE
            return HANDSHAKE.after(state, HandshakeEvent.OWN_SHUTDONE)
        self._other_is_stable = True
        self._other_holds = NONE
        if self._i_hold != ALL and not self._shutdown_in_progress:
            # takes the complement's mirror: the original's set inversion, kept
            self._standby = STANDBY.after(self._standby, StandbyEvent.PEER_SHUTDONE)
            self._go_standby(Standby.OTHER, {FOREIGN: LOCAL, LOCAL: FOREIGN}.get(self._i_hold, ALL))
        return state

    def _their_holdings(self, msg: Message, holdings: int, full: bool, state: State,
                        new: State) -> State:
        self._other_holds = _update(full, self._other_holds, holdings)
        stable = msg.get("isstable")
        if stable == "1":
            if not self._other_is_stable:
                self._log("info", "remote resource transition completed.")
                self._other_is_stable = True
                self._send_held(state is State.STABLE)
                self._auto_failback()
        elif stable is not None:
            self._other_is_stable = False
        if HANDSHAKE.accepts(new, HandshakeEvent.PEER_STABLE) and self._other_is_stable:
            self._log("info", "remote resource transition completed.")
            self._req_our_resources(False)
            new = HANDSHAKE.after(new, HandshakeEvent.PEER_STABLE)
            self._send_held(True)
            self._auto_failback()
            self._foreign_done = True
            if not self._auto and self._other_holds & FOREIGN:
                self._local_done = True
            self._announce("T_RESOURCES(them)")
        return new

    def _our_holdings(self, msg: Message, holdings: int, full: bool, new: State) -> State:
        self._i_hold = _update(full, self._i_hold, holdings)
        if self._i_hold & LOCAL:
            self._local_done = True
            self._announce("T_RESOURCES(us)")
        comment = msg.get("info")
        if comment == "mach_down":
            self._log("info", "mach_down takeover complete.")
            self._takeover_in_progress = False
            self._i_hold |= FOREIGN
            self._needs_failback = True
            self._other_is_stable = True
            self._foreign_done = True
            self._announce("mach_down")
        elif comment == "shutdown":
            new = HANDSHAKE.after(new, HandshakeEvent.OWN_SHUTDOWN_REPORT)
        return new

    def _audit(self) -> None:
        if self._i_hold & LOCAL and self._other_holds & FOREIGN:
            self._log("ERROR", "Both machines own our resources!")
        if self._other_holds & LOCAL and self._i_hold & FOREIGN:
            self._log("ERROR", "Both machines own foreign resources!")
        if self._isstable() and not self._shutdown_in_progress and self._state is not State.SHUTDOWN:
            if not self._i_hold & LOCAL and not self._other_holds & FOREIGN:
                self._log("ERROR", "No one owns our local resources!")
            if not self._other_holds & LOCAL and not self._i_hold & FOREIGN:
                self._log("ERROR", "No one owns foreign resources!")

    # -- auto-failback and standby ----------------------------------------------------------------
    def _auto_failback(self) -> None:
        if (self._shutdown_in_progress or not self._i_hold & FOREIGN
                or not self._needs_failback or not self._auto):
            self._needs_failback = False
            self._shutdown_if_needed()
            return
        if (self._standby is not Standby.NOT or not self._other_is_stable
                or self._state is not State.STABLE):
            self._log("debug", "Auto failback delayed.")
            if self._failback_due is None:
                self._failback_due = self._now + AUTO_FAILBACK_RETRY
            return
        self._standby_rsctype = FOREIGN
        self._send(self._standby_message(Standby.ME))
        self._needs_failback = False

    def _check_standby_timer(self) -> None:
        if self._standby_running is not None and self._now >= self._standby_running:
            self._standby_running = None
            self._other_is_stable = True
            self._standby = STANDBY.after(self._standby, StandbyEvent.TIMEOUT)
            self._log("WARN", "No reply to standby request.  Standby request cancelled.")
            self._shutdown_if_needed()

    def _ask_for_resources(self, msg: Message) -> None:
        if not self._nice:
            self._log("info", "Standby mode only implemented when nice_failback on")
            return
        if self._state is State.SHUTDOWN:
            return
        request = self._standby_request(msg)
        if request is None:
            return
        info, src, rtype = request
        if self._standby_busy(info, src):
            return
        before = self._standby
        if before is Standby.NOT and not self._standby_may_begin(info, src):
            return
        ours = src == self._local
        # the original tells `done` from the rest without regard to case, but in DONE
        kind = info if before is Standby.DONE else info.lower()
        self._standby_bookkeeping(before, kind, ours, rtype)
        event = standby_event(kind, ours)
        if event is None or not STANDBY.accepts(before, event):
            self._log("ERROR", f"Ignored standby message '{info}' from {src} in state {int(before)}")
        else:
            self._standby = STANDBY.after(before, event)
            step = _STANDBY_STEPS.get((before, event))
            if step is not None:        # none for our own `other` looping back: nothing to do
                step(self, src, rtype)
        self._shutdown_if_needed()

    def _standby_request(self, msg: Message) -> tuple[str, str, int] | None:
        """An ask_resources' info, sender and groups (all when it names none); None if malformed."""
        info, src, text = msg.get("info"), msg.get("src"), msg.get("rsc_hold")
        rtype = ALL if not isinstance(text, str) else self._encode(text)
        if not isinstance(info, str) or not isinstance(src, str):
            self._log("ERROR", "Received standby message without info/from")
            return None
        return info, src, rtype

    def _standby_busy(self, info: str, src: str) -> bool:
        """A new `me` while the standby timer runs waits for the exchange under way to end."""
        running = self._standby_running
        if running is None or self._now >= running or info.lower() != "me":
            return False
        left = int(-(-(running - self._now) // 1))
        self._log("WARN", f"Standby in progress- new request from {src} ignored [{left} seconds left]")
        return True

    def _standby_may_begin(self, info: str, src: str) -> bool:
        """A standby begins only between two stable nodes."""
        if not self._other_is_stable:
            self._log("WARN", f"standby message [{info}] from {src} ignored.  Other side is in flux.")
            return False
        if self._state is not State.STABLE:
            self._log("WARN", f"standby message [{info}] from {src} ignored.  local resources in flux.")
            return False
        return True

    def _standby_bookkeeping(self, state: Standby, kind: str, ours: bool, rtype: int) -> None:
        """What an ask_resources sets in `state` even when the table lists no move for it."""
        if state is not Standby.ME or not ours:
            self._standby_rsctype = rtype
        if (state is Standby.ME and not ours) or (state is Standby.OTHER and kind == "done"):
            self._standby_running = self._now + STANDBY_RSC_TIMEOUT

    def _standby_begun_here(self, src: str, rtype: int) -> None:
        """Our own `me` looped back: wait for the peer's `other`."""
        self._other_is_stable = False
        self._log("info", f"{src} wants to go standby [{HOLDINGS[rtype]}]")
        self._standby_running = self._now + STANDBY_REPLY_TIMEOUT

    def _standby_begun_there(self, src: str, rtype: int) -> None:
        """The peer's `me`: answer `other`, then wait for its groups to be given up."""
        self._other_is_stable = False
        self._log("info", f"{src} wants to go standby [{HOLDINGS[rtype]}]")
        self._send(self._standby_message(Standby.OTHER))
        self._standby_running = self._now + STANDBY_RSC_TIMEOUT

    def _standby_give(self, src: str, rtype: int) -> None:
        """The peer can take the groups we asked to give: give them up."""
        self._log("info", f"standby: {src} can take our {HOLDINGS[rtype]} resources")
        self._go_standby(Standby.ME, rtype)

    def _standby_given_up(self, src: str, rtype: int) -> None:
        """Our own `done`: the groups are given up here."""
        self._log("info", f"Local standby process completed [{HOLDINGS[rtype]}].")
        self._i_hold &= ~self._standby_rsctype
        self._standby_running = self._now + STANDBY_RSC_TIMEOUT

    def _standby_take(self, src: str, rtype: int) -> None:
        """The requester gave its groups up: take them."""
        self._log("info", f"standby: acquire [{HOLDINGS[rtype]}] resources from {src}")
        self._go_standby(Standby.OTHER, self._standby_rsctype)

    def _standby_taken(self, src: str, rtype: int) -> None:
        """Our own `done` as the taker: the exchange is over and we hold the groups."""
        self._standby_running = None
        self._log("info", f"Standby resource acquisition done [{HOLDINGS[rtype]}].")
        if self._auto:
            self._local_done = True
            self._announce("auto_failback")
        self._i_hold |= _mirror(rtype)
        self._send_held(True)

    def _standby_handed_over(self, src: str, rtype: int) -> None:
        """The taker's `done`: the exchange is over."""
        self._standby_running = None
        self._log("info", f"Other node completed standby takeover of {HOLDINGS[rtype]} resources.")
        self._send_held(True)


    # -- healed partitions and stalls: pyheartbeat's own (rule and reasons: healing.py) ----------
    def partition_healed(self, now: float, node: str) -> list[Action]:
        """Membership heard `node` again after declaring it dead: both may run the same groups."""
        self._begin(now)
        if not self._can_heal(node):
            self._out.append(RestartAfterPartition())
            return self._end()
        self._heal_reburial = node
        if self._heal_settled == node:
            return self._end()      # its ask came before its status: settled already
        self._log("info", f"Partition with {node} healed. A resource group both nodes ran stays on its "
                          f"home node (haresources): {self._local} keeps its own groups and gives "
                          f"{node}'s back once {node} confirms that it runs them.")
        self._heal_ask(node)
        # the home node keeps its own groups whatever the peer does: say so on the wire now
        self._reannounce(self._heal_holdings() & LOCAL)
        return self._end()

    def stalled(self, now: float, seconds: float) -> list[Action]:
        """This process did not run for `seconds`, longer than deadtime (SIGSTOP, VM pause)."""
        self._begin(now)
        peer = next((n for n in self._statuses if n != self._local and n not in self._pings), None)
        if peer is None or not self._can_heal(peer):
            return self._end()
        self._log("WARN", f"{self._local} did not run for {seconds:.1f} s, longer than deadtime: "
                          f"{peer} may have taken our resource groups over. Asking {peer} before "
                          f"announcing our addresses again.")
        self._heal_ask(peer)
        return self._end()

    def _can_heal(self, node: str) -> bool:
        return (self._comm_up and node not in self._pings and not self._shutdown_in_progress
                and not self._needs_shutdown and self._standby is Standby.NOT)

    def _heal_holdings(self) -> int:
        return self._i_hold if self._nice else LOCAL | (FOREIGN if self._took_foreign else NONE)

    def _heal_ask(self, peer: str) -> None:
        self._heal_announced = NONE
        self._heal_settled = None
        self._heal_peer = peer
        # ours answers within a round trip (a retransmission with loss); an original peer
        # answers nothing but starts giving everything up within seconds (lab: 2 s)
        self._heal_due = self._now + self._deadtime
        self._heal_send(self._heal_holdings(), healing.ASK)

    def _heal_closed(self, text: str) -> None:
        self._log("info", text)
        self._heal_peer = None
        self._heal_due = None

    def _heal_heard(self, src: str, msg: Message) -> None:
        """Every message from another node, after its usual handling."""
        kind = healing.heal_kind(msg)
        if kind is not None:
            self._heal_report(src, msg, kind)
            return
        if src != self._heal_peer:
            return
        # An original peer after the heal: it gives everything up, then restarts. Our
        # announcement must reach the clients before its addresses go, not after.
        if (msg.type == "resource" and msg.get("info") == "shutdown") or msg.type == "shutdone":
            self._reannounce(self._heal_holdings() & ~self._heal_announced)
            self._heal_closed(f"{src} gives all its resource groups up: {self._local} keeps everything it runs.")

    def _heal_report(self, src: str, msg: Message, kind: str) -> None:
        theirs = self._heal_theirs(src, msg, kind)
        if theirs is None:
            return
        mine = self._heal_holdings()
        release = mine & FOREIGN & theirs
        if src != self._heal_peer and src == self._heal_settled and not release:
            # its ask crossed our reply: it only needs our holdings
            self._heal_send(mine, healing.REPLY)
            self._heal_reclaim()
            return
        mine = self._heal_share(src, mine, theirs, release)
        if self._heal_peer is None:
            self._heal_announced = NONE
        self._reannounce(mine & ~self._heal_announced)
        if kind == healing.ASK:
            # after the release above: our own report loops back and sets our holdings
            self._heal_send(mine, healing.REPLY)
        # every group both ran is now where the rule puts it; one the peer does not run stays
        # here, and with auto_failback on it goes home as after any takeover: asked for
        # only after our report of this settlement (sent with this event's actions, _end),
        # or the peer still sees us in flux and ignores the standby request for good
        self._needs_failback = bool(mine & FOREIGN)
        if self._needs_failback and self._failback_due is None:
            self._failback_due = self._now + AUTO_FAILBACK_RETRY
        self._heal_settled = src
        self._heal_closed(f"Partition with {src} settled: {self._local} runs "
                          f"{healing.names(self._my_groups(mine))}.")
        self._heal_reclaim()

    def _heal_theirs(self, src: str, msg: Message, kind: str) -> int | None:
        """What a heal report says ``src`` runs, seen from here; None for a report that
        settles nothing (a late reply) or that names no valid holdings (logged)."""
        if not self._can_heal(src) or (kind == healing.REPLY and src != self._heal_peer):
            return None     # a reply to an ask whose answer we already had: settled
        text = msg.get("rsc_hold")
        if not isinstance(text, str) or text not in HOLDINGS:
            self._log("ERROR", f"heal report from {src} without a valid rsc_hold: ignored.")
            return None
        return _mirror(HOLDINGS.index(text))

    def _heal_share(self, src: str, mine: int, theirs: int, release: int) -> int:
        """Our own groups stay here; the peer's go back to it if it runs them (``release``),
        else we keep them. Returns what we hold afterwards."""
        foreign = self._my_groups(FOREIGN)
        if mine & LOCAL:
            self._log("info", f"{self._local} keeps its own resource groups ({healing.names(self._my_groups(LOCAL))}): "
                              f"this is their home node.")
        if mine & LOCAL and theirs & LOCAL:
            self._log("info", f"{src} ran {self._local}'s groups too and gives them back.")
        if release:
            self._log("info", f"{src} runs its own groups ({healing.names(foreign)}): {self._local} "
                              f"gives its copies back, addresses first.")
            self._heal_release(foreign)
            return mine & ~FOREIGN
        if mine & FOREIGN:
            self._log("info", f"{src} does not run its own groups ({healing.names(foreign)}): "
                              f"{self._local} keeps them.")
        return mine

    def _heal_reclaim(self) -> None:
        """Legacy keeps no holdings, so its heal reports claim its own groups even while its
        ip-request for them is unanswered (lost, or dropped while the peer held us dead), and
        the peer gives its copies back on that word, to nobody. Asking again costs a check
        when they run (req_resource) and otherwise gets them from the peer."""
        if not self._nice:
            self._req_our_resources(False)

    def _heal_timeout(self) -> None:
        peer = self._heal_peer
        self._heal_due = None
        if self._heal_holdings() & FOREIGN:
            # both may still run the peer's groups and it follows no rule we know of
            self._heal_closed(f"No heal report from {peer}: giving everything up and restarting, "
                              f"as heartbeat does after a partition.")
            self._out.append(RestartAfterPartition())
            return
        self._reannounce(self._heal_holdings() & ~self._heal_announced)
        self._heal_closed(f"No heal report from {peer}: {self._local} runs only its own groups and keeps them.")

    # -- arp_refresh: pyheartbeat's own (pyheartbeat.cf) ---------------------------------------
    def _refresh_arp(self) -> None:
        """Every interval, a gratuitous ARP for the addresses of the groups we hold, so that
        switches and hosts whose ARP entries expire keep reaching us. Skipped while any group
        moves: a takeover's agents announce by themselves, and a group being released must
        not be announced from here. Its first call (the first tick) starts the timer."""
        every = self._refresh_every
        assert every is not None
        if self._refresh_due is None:
            self._refresh_due = self._now + every
            self._log("info", f"gratuitous ARP refresh every {every:g} s")
            return
        if self._now < self._refresh_due:
            return
        # on the schedule; after a stall, from now rather than a burst of missed refreshes
        self._refresh_due += every
        if self._refresh_due <= self._now:
            self._refresh_due = self._now + every
        if not self._nothing_moves():
            return
        addresses = healing.addresses(self._my_groups(self._heal_holdings()))
        if addresses:
            self._log("debug", f"gratuitous ARP refresh: {' '.join(addresses)}")
            self._out.append(Announce(addresses, refresh=True))

    def _nothing_moves(self) -> bool:
        """No group is being taken over, released or settled after a heal, and none is about to be."""
        return (self._comm_up and self._isstable() and not self._running and not self._queue
                and self._standby is Standby.NOT and self._standby_running is None
                and self._heal_peer is None and not self._shutdown_in_progress and not self._needs_shutdown
                and not self._takeover_in_progress)

    def _my_groups(self, holdings: int) -> list[ResourceGroup]:
        local = self._local.lower()
        return [g for g in self._groups
                if (g.node == local and holdings & LOCAL) or (g.node != local and holdings & FOREIGN)]

    def _reannounce(self, holdings: int) -> None:
        groups = self._my_groups(holdings)
        addresses = healing.addresses(groups)
        self._heal_announced |= holdings
        if addresses:
            self._log("info", f"{self._local} keeps {healing.names(groups)}: announcing "
                              f"{' '.join(addresses)} (gratuitous ARP).")
            self._out.append(Announce(addresses))

    def _heal_release(self, groups: list[ResourceGroup]) -> None:
        """Stop answering for the addresses first, then give the groups up as usual."""
        self._i_hold &= ~FOREIGN
        self._took_foreign = False
        steps: list[Step] = [JobLog("info", f"Giving back {healing.names(groups)} after a partition.")]
        for group in groups:
            steps += [Command((f"{self._resource_dir}/{r.script}", *r.args, "stop")) for r in group.resources
                      if healing.address_of(r.script, r.args) is not None]
        steps += [Command((self._rm, "givegroup", group.key)) for group in groups]
        steps.append(JobLog("info", f"Gave back {healing.names(groups)}."))
        if self._nice:
            steps.append(JobSend(self._held_message(True, "heal")))
        self._run("heal_release", {}, steps)


# the work of each move the standby table lists for an ask_resources
_STANDBY_STEPS: dict[tuple[Standby, StandbyEvent], Callable[[Failover, str, int], None]] = {
    (Standby.NOT, StandbyEvent.ME_OURS): Failover._standby_begun_here,
    (Standby.NOT, StandbyEvent.ME_THEIRS): Failover._standby_begun_there,
    (Standby.ME, StandbyEvent.OTHER_THEIRS): Failover._standby_give,
    (Standby.ME, StandbyEvent.DONE_OURS): Failover._standby_given_up,
    (Standby.OTHER, StandbyEvent.DONE_THEIRS): Failover._standby_take,
    (Standby.DONE, StandbyEvent.DONE_OURS): Failover._standby_taken,
    (Standby.DONE, StandbyEvent.DONE_THEIRS): Failover._standby_handed_over,
}
