"""The joint of the pure parts: codec, auth, membership and the failover engine as one node.

`Core` decodes datagrams (codec + auth), feeds membership and the failover engine, and
carries out their actions through the hooks it is given (send a packet, start a job,
shutdown done). It takes the time from an injected clock and its pid, load average and
randomness from its caller, so the daemon's shell (heartbeat.daemon.main) and the tests'
simulated clusters (tests/unit/simcluster.py) run this same code.

`CoreView` is the API's view of it (heartbeat.daemon.apiserver.ApiView).
"""

from __future__ import annotations

import functools
import random
from collections import deque
from dataclasses import dataclass
from collections.abc import Sequence
from typing import Callable, Protocol

from heartbeat import VERSION_STRING
from heartbeat.config.configcheck import ClusterConfig
from heartbeat.core.auth import Authenticator
from heartbeat.core.codec import WireError, decode, encode
from heartbeat.core.failover import Announce, Failover, Job, RestartAfterPartition, Run, Send, ShutdownReady
from heartbeat.core.membership import (CommUp, Deliver, LinkStatus, Log, Membership, NodeStatus, PartitionReturn,
                                       Transmit)
from heartbeat.core.message import Message
from heartbeat.core.monitoring import Status
from heartbeat.core.stall import StallWatch
from heartbeat.logformat import RateLimit, facility_number

RESTART_DT_EXTRA_MS = 30000   # advertised on top of deadtime while restarting in place
# datagrams we signed that the authenticator keeps, for our own broadcasts and ping
# echoes read back within the same wake-up (heartbeat.core.auth.Authenticator)
REMEMBERED_DATAGRAMS = 8
# A flood of bad packets or of inputs that meet a bug must not flood the log:
# so many reports a minute, each of a packet at most so many lines.
REPORTS_PER_MINUTE = 10
BADPACK_LINES = 20


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def time(self) -> float: ...


class CoreLog(Protocol):
    """What the core writes its lines to (heartbeat.daemon.log.DaemonLog in the daemon)."""
    def log(self, level: str, text: str) -> None: ...
    def debug(self, text: str) -> None: ...
    def info(self, text: str) -> None: ...
    def warn(self, text: str) -> None: ...
    def error(self, text: str) -> None: ...


class Monitors(Protocol):
    """The resource monitors' states (heartbeat.daemon.monitorjobs.MonitorJobs in the daemon)."""
    def status(self) -> Sequence[Status]: ...


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

    def __init__(self, config: ClusterConfig, log: CoreLog, hooks: Hooks, *, uuid: bytes,
                 generation: int, clock: Clock, engine: Failover | None, pid: int, loadavg: Callable[[], str],
                 rng: random.Random | None = None) -> None:
        self.config = config
        self.log = log
        self.hooks = hooks
        self.clock = clock
        self.engine = engine
        self.pid = pid
        self.auth = Authenticator(config.authkeys, remember=REMEMBERED_DATAGRAMS)
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
        engine = self.engine
        if engine is not None:
            self._guard("timer", lambda: self._carry_out(engine.tick(now)))

    def job_done(self, job_id: int, rc: int) -> None:
        engine = self.engine
        if engine is not None:
            self._guard("job end", lambda: self._carry_out(engine.job_done(self.clock.monotonic(), job_id, rc)))

    def shutdown(self) -> None:
        """SIGTERM: the engine gives resources up first; a second request changes nothing."""
        if self.shutting_down:
            return
        self.shutting_down = True
        if self.engine is None:
            # without resource management there is nothing to give up, but peers
            # still learn at once that we leave rather than after deadtime
            self.log.info(f"Heartbeat shutdown in progress. ({self.pid})")
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
        self.auth.use(self.config.authkeys)

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
            self._guard(f"sending {msg.type}", functools.partial(self._send_now, msg))

    def _send_now(self, msg: Message) -> None:
        self._carry_out(self.membership.send(self.clock.monotonic(), self.clock.time(), msg))

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
        engine = self.engine
        if engine is not None:
            table.update({Deliver: lambda a: self._deliver(engine, a),
                          NodeStatus: lambda a: self._node_status(engine, a),
                          LinkStatus: lambda a: self._link_status(engine, a)})
        return table

    def _partition_return(self, action: PartitionReturn) -> None:
        # the engine settles with the peer who keeps what (heartbeat/core/healing.py)
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

    def _deliver(self, engine: Failover, action: Deliver) -> None:
        self._carry_out(engine.receive(self.clock.monotonic(), action.msg))

    def _node_status(self, engine: Failover, action: NodeStatus) -> None:
        # the engine follows other nodes; our own status is what comm_up reports
        if action.node != self.config.local_node:
            self._carry_out(engine.node_status(self.clock.monotonic(), action.node, action.new, action.msg))

    def _link_status(self, engine: Failover, action: LinkStatus) -> None:
        self._carry_out(engine.link_status(self.clock.monotonic(), action.node, action.link, action.status))

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
    """The API's view (heartbeat.daemon.apiserver.ApiView) of membership and the engine."""

    def __init__(self, core: Core, monitor: Monitors | None = None) -> None:
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
