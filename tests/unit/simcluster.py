"""A simulated v1 cluster: the daemon's own Core per node over a fake network, in fake time.

Each node is heartbeat.core.joint.Core, the joint the daemon runs (codec, auth, membership
and failover engine), with its jobs carried out by a fake runner that does what the stock
scripts do (harc + rc.d, mach_down, req_resource, hb_standby, ResourceManager), changing a
per-node set of held groups. The network delivers every transmitted datagram to every
other live node it is connected to, after a random delay and in order, unless it is lost.
Everything runs from one seeded random source, so a failing schedule replays exactly.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Callable

from heartbeat.config.authkeys import parse_authkeys
from heartbeat.config.configcheck import ClusterConfig
from heartbeat.config.groupkeys import listkeys
from heartbeat.config.hacf import HaCf, parse_hacf
from heartbeat.config.haresources import HaResources, parse_haresources
from heartbeat.config.pyhbcf import PyHbCf
from heartbeat.core.auth import Authenticator
from heartbeat.core.codec import decode, encode
from heartbeat.core.failover import Command, Failover, Job, JobLog, JobSend
from heartbeat.core.healing import HEAL_FIELD
from heartbeat.core.joint import Core, Hooks
from heartbeat.core.message import Message
from tests.unit.test_daemon import FakeClock, RecordingLog

LINK = "eth0"
# how long a command takes: starting a group (directly or from an rc.d script) is slow,
# req_resource only checks and sends
COMMAND_SECONDS = {"ResourceManager": 0.5, "harc": 0.5, "req_resource": 0.1, "IPaddr": 0.1}
STOP_SECONDS = 1.0            # from the end of the shutdown to the process exit (SHUTDOWN_LINGER_S)
STOCK_RCD = frozenset({"status", "ip-request", "ip-request-resp", "hb_takeover"})   # ask_resources never runs
TAKEOVER_MAP = {"all": "all", "local": "foreign", "foreign": "local"}
KEYS = "auth 1\n1 sha1 simulated-cluster\n"
LOADAVG = "0.00 0.00 0.00 1/1 1"
PID = 1000


def cluster_config(nodes: list[str], mode: str) -> HaCf:
    text = (f"keepalive 1\ndeadtime 5\nwarntime 3\ninitdead 10\nbcast {LINK}\n"
            f"auto_failback {mode}\n" + "".join(f"node {n}\n" for n in nodes))
    return parse_hacf(text, "/etc/ha.d/ha.cf")


def cluster_resources(nodes: list[str], groups_per_node: int = 1) -> HaResources:
    text = "".join(f"{n} g{n}{i} IPaddr::{address(n, i)}/24 Marker::m{n}{i}\n"
                   for n in nodes for i in range(groups_per_node))
    return parse_haresources(text, "/etc/ha.d/haresources")


def address(node: str, index: int) -> str:
    """Each group's floating address: unique per node name and index."""
    return f"192.0.2.{100 + (sum(map(ord, node)) * 7 + index) % 100}"


class ObservedCore(Core):
    """The shipped Core, with its guard's reports kept: each one is a bug met on an input
    (the guard logs it and goes on, as the daemon must; a test must not)."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.faults: list[str] = []

    def _fault(self, what: str, e: Exception) -> None:
        self.faults.append(f"{what}: {type(e).__name__}: {e}")
        super()._fault(what, e)


class OriginalCore(ObservedCore):
    """A node that behaves like heartbeat 3.0.6 towards issue 9's additions: it notices no
    stall and restarts after any partition (its heal reports are stripped on arrival)."""

    def _check_stall(self) -> None:
        pass

    def _partition_return(self, action) -> None:
        self._restart_after_partition()


@dataclass
class SimNode:
    name: str
    core: ObservedCore = field(init=False)
    held: set[str] = field(default_factory=set)
    jobs: dict[int, Job] = field(default_factory=dict)
    commands: list[tuple[str, ...]] = field(default_factory=list)    # every one run, in order
    announced: list[tuple[float, tuple[str, ...]]] = field(default_factory=list)   # gratuitous ARP
    addresses: set[str] = field(default_factory=set)      # configured on its interface
    stopped: bool = False
    crashed: bool = False
    frozen_until: float | None = None     # SIGSTOP: nothing runs, packets wait in the socket
    backlog: list[bytes] = field(default_factory=list)
    job_steps: dict[int, int] = field(default_factory=dict)     # where a frozen job resumes

    @property
    def engine(self) -> Failover:
        return self.core.engine

    @property
    def logs(self) -> list[tuple[str, str]]:
        return self.core.log.lines

    @property
    def restart(self) -> bool:
        """Restarting after a partition, as the original does (a crash ends that)."""
        return self.core.restart and not self.crashed


class Cluster:
    """Nodes, links and a clock; `run_until` advances everything in time order."""

    def __init__(self, nodes: list[str], mode: str = "on", *, seed: int = 0, loss: float = 0.0,
                 delay: tuple[float, float] = (0.001, 0.02), groups_per_node: int = 1,
                 originals: frozenset[str] = frozenset()) -> None:
        self.names = list(nodes)
        # nodes that behave like heartbeat 3.0.6 towards issue 9's additions (OriginalCore)
        self.originals = originals
        self.config = cluster_config(self.names, mode)
        self.resources = cluster_resources(self.names, groups_per_node)
        self.keys = parse_authkeys(KEYS, "/etc/ha.d/authkeys", 0o600)
        self.auth = Authenticator(self.keys)
        self.rng = random.Random(seed)
        self.loss = loss
        self.delay = delay
        self.clock = FakeClock()
        self.clock.now = 0.0
        self.nodes: dict[str, SimNode] = {}
        self.cores: list[ObservedCore] = []      # every one ever started, for their faults
        self.cut: set[frozenset[str]] = set()
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._generation = {n: 1 for n in self.names}
        self._last_arrival: dict[tuple[str, str], float] = {}
        self.wire: list[tuple[float, Message]] = []     # every transmission, retransmissions too

    @property
    def now(self) -> float:
        return self.clock.now

    @now.setter
    def now(self, value: float) -> None:
        self.clock.now = value

    # -- the world -------------------------------------------------------------------------------
    @property
    def groups(self) -> list[str]:
        return [g.key for g in self.resources.groups]

    def home(self, key: str) -> str:
        return next(g.node for g in self.resources.groups if g.key == key)

    def owners(self, key: str) -> list[str]:
        """Live machines running the group (a crashed machine runs nothing)."""
        return [n.name for n in self.nodes.values() if key in n.held]

    def alive(self) -> list[str]:
        return [name for name, n in self.nodes.items() if not n.stopped]

    def connected(self, a: str, b: str) -> bool:
        return frozenset((a, b)) not in self.cut

    def partition(self, *sides: list[str]) -> None:
        for x, y in itertools.combinations(sides, 2):
            self.cut |= {frozenset((a, b)) for a in x for b in y}

    def heal(self) -> None:
        self.cut.clear()

    def quiet(self) -> bool:
        """No node is moving resources: no job runs or waits, every engine reports a holding."""
        return all(not n.jobs and n.engine.holding != "transition"
                   for n in self.nodes.values() if not n.stopped)

    # -- node life: what heartbeat/daemon/main.py's Shell does around its Core ----------------------
    def start(self, name: str) -> None:
        self._boot(name, set()).core.start()

    def restart_in_place(self, name: str) -> None:
        """SIGHUP after ha.cf changed: peers asked to wait, then the exec with `-R -C held`;
        the groups go on running."""
        node = self.nodes[name]
        if node.core.restart_in_place():
            self._leave_keeping_resources(node)

    def _leave_keeping_resources(self, old: SimNode) -> None:
        old.core.stay_awaited()

        def reexec() -> None:
            self._exit(old)
            node = self._boot(old.name, set(old.held))
            node.core.start()
            node.core.restarted(old.engine.held)
        self.at(STOP_SECONDS, reexec)

    def _boot(self, name: str, held: set[str]) -> SimNode:
        generation = self._generation[name]
        self._generation[name] += 1
        node = self.nodes[name] = SimNode(name, held)
        config = ClusterConfig(self.config, self.keys, self.resources, name, "/etc/ha.d",
                               PyHbCf("/etc/ha.d/pyheartbeat.cf"))
        engine = Failover(self.config, self.resources, name, rcd_scripts=STOCK_RCD, wall=self.clock.time, pid=PID)
        announce = lambda addresses: node.announced.append((self.now, addresses))   # noqa: E731
        hooks = Hooks(transmit=lambda packet, msg: self._transmit(node, packet, msg),
                      start_job=lambda job: self._start_job(node, job),
                      comm_up=lambda: self._comm_up(node), shutdown_ready=lambda: self._shutdown_ready(node),
                      announce=announce, refresh_arp=announce)
        kind = OriginalCore if name in self.originals else ObservedCore
        node.core = kind(config, RecordingLog(), hooks, uuid=name.encode().ljust(16, b"\0"), generation=generation,
                         clock=self.clock, engine=engine, pid=PID, loadavg=lambda: LOADAVG,
                         rng=random.Random(self.rng.random()))
        self.cores.append(node.core)
        node.addresses = {ip for key in held for ip in self.addresses_of(key)}
        return node

    def _comm_up(self, node: SimNode) -> None:
        # a restart in place asked for before communication was up leaves now
        if node.core.shutting_down and node.core.keep_resources:
            self._leave_keeping_resources(node)

    def _shutdown_ready(self, node: SimNode) -> None:
        self.at(STOP_SECONDS, lambda: self._exit(node))
        if node.restart:
            # the daemon's exec after a partition, which waits deadtime + 1 s before it starts again
            self.at(STOP_SECONDS + self.config.deadtime_ms / 1000 + 1, lambda: self._restart(node))

    def addresses_of(self, key: str) -> set[str]:
        return addresses_of(self.resources, key)

    def answering(self, ip: str) -> list[str]:
        """Machines whose interface carries `ip`: the kernel answers ARP for it even while
        heartbeat is stopped."""
        return [n.name for n in self.nodes.values() if ip in n.addresses]

    def freeze(self, name: str, seconds: float) -> None:
        """SIGSTOP for `seconds`, then SIGCONT: the process does nothing meanwhile, its
        resources and addresses stay, packets wait in its socket."""
        node = self.nodes[name]
        node.frozen_until = self.now + seconds
        self.at(seconds, lambda: self._thaw(node))

    def _thaw(self, node: SimNode) -> None:
        node.frozen_until = None
        backlog, node.backlog = node.backlog, []
        # the daemon's order: the packets waiting in the socket are read before the overdue
        # timer fires; the first input notices the stall
        for packet in backlog:
            self._arrive(node, packet)
        if not node.stopped and node.core.next_deadline() <= self.now:
            node.core.tick()
        for job in list(node.jobs.values()):
            self.at(0.0, self._stepper(node, job, node.job_steps.pop(job.id, 0)))

    def crash(self, name: str) -> None:
        """The machine dies: heartbeat and every resource it ran are gone."""
        node = self.nodes[name]
        node.stopped = node.crashed = True
        node.held.clear()
        node.addresses.clear()
        node.jobs.clear()

    def stop(self, name: str) -> None:
        """`heartbeat -k`: resources released, then the process exits."""
        self.nodes[name].core.shutdown()

    def command(self, name: str, msg: Message) -> None:
        """A message an admin tool writes into the FIFO (hb_standby, hb_takeover)."""
        node = self.nodes[name]
        if not node.stopped:
            node.core.send(msg)

    # -- time ------------------------------------------------------------------------------------
    def at(self, delay: float, what: Callable[[], None]) -> None:
        heapq.heappush(self._events, (self.now + delay, next(self._order), what))

    def run_until(self, end: float, max_steps: int = 2_000_000) -> None:
        for _ in range(max_steps):
            ticker = min((n for n in self.nodes.values() if not n.stopped and n.frozen_until is None),
                         key=lambda n: n.core.next_deadline(), default=None)
            tick_at = math.inf if ticker is None else ticker.core.next_deadline()
            event_at = self._events[0][0] if self._events else math.inf
            if min(tick_at, event_at) > end:
                self.now = end
                break
            self.now = max(self.now, min(tick_at, event_at))
            if event_at <= tick_at:
                heapq.heappop(self._events)[2]()
            else:
                ticker.core.tick()
        else:
            raise AssertionError("simulation did not reach its end time")
        faults = [fault for core in self.cores for fault in core.faults]
        assert not faults, faults

    # -- the network -----------------------------------------------------------------------------
    def _transmit(self, node: SimNode, packet: bytes, msg: Message) -> None:
        self.wire.append((self.now, msg.copy()))
        for other in self.nodes.values():
            if other is node or not self.connected(node.name, other.name):
                continue
            if self.rng.random() < self.loss:
                continue
            # one wire: a later packet never overtakes an earlier one
            pair = (node.name, other.name)
            when = max(self.now + self.rng.uniform(*self.delay), self._last_arrival.get(pair, 0.0))
            self._last_arrival[pair] = when
            self.at(when - self.now, lambda o=other: self._arrive(o, packet))

    def _restart(self, node: SimNode) -> None:
        # a machine that crashed meanwhile runs no exec
        if node.restart and self.nodes[node.name] is node:
            self.start(node.name)

    def _arrive(self, node: SimNode, packet: bytes) -> None:
        if node.frozen_until is not None:
            node.backlog.append(packet)
            return
        if node.stopped:
            return
        if node.name in self.originals:
            packet = self._without_heal_report(packet)
        node.core.packet(LINK, packet)

    def _without_heal_report(self, packet: bytes) -> bytes:
        """What an original makes of a heal report: a field it does not know, so none."""
        msg = decode(packet, self.auth)
        if HEAL_FIELD not in msg:
            return packet
        msg.remove(HEAL_FIELD)
        msg.remove("auth")
        return encode(msg, self.auth)

    def _exit(self, node: SimNode) -> None:
        node.stopped = True
        node.jobs.clear()

    def _start_job(self, node: SimNode, job: Job) -> None:
        node.jobs[job.id] = job
        self.at(0.0, self._stepper(node, job, 0))

    # -- the fake job runner: the stock scripts' effects -------------------------------------------
    def _stepper(self, node: SimNode, job: Job, index: int) -> Callable[[], None]:
        def step() -> None:
            if node.stopped or job.id not in node.jobs:
                return
            if node.frozen_until is not None:
                node.job_steps[job.id] = index     # resumed by _thaw
                return
            if index == len(job.steps):
                del node.jobs[job.id]
                node.core.job_done(job.id, 0)
                return
            s = job.steps[index]
            following = self._stepper(node, job, index + 1)
            if isinstance(s, Command):
                def finish() -> None:        # a command's effects show when it ends
                    if not node.stopped and job.id in node.jobs:
                        self._script(node, job.env, s.argv)
                        following()
                self.at(COMMAND_SECONDS[s.argv[0].rsplit("/", 1)[-1]], finish)
                return
            if isinstance(s, JobSend):
                node.core.send(s.msg)
            elif isinstance(s, JobLog):
                node.logs.append((s.level, f"[child] {s.text}"))
            following()
        return step

    def _script(self, node: SimNode, env, argv: tuple[str, ...]) -> None:
        node.commands.append(argv)
        stock_script(node, self.resources, env, argv, node.core.send)


def addresses_of(resources: HaResources, key: str) -> set[str]:
    group = next(g for g in resources.groups if g.key == key)
    return {r.args[0].split("/")[0] for r in group.resources if r.script == "IPaddr"}


def stock_script(node, resources: HaResources, env, argv: tuple[str, ...], send: Callable[[Message], None]) -> None:
    """What one command of a job does with the stock scripts on `node` (a name, the groups it
    `held`, the `addresses` its interface carries): those change, messages go out by `send`.
    Shared with the receive fuzzer (test_receive_fuzz.py)."""
    program = argv[0].rsplit("/", 1)[-1]
    if program == "ResourceManager":
        (node.held.add if argv[1] == "takegroup" else node.held.discard)(argv[2])
        (node.addresses.update if argv[1] == "takegroup" else node.addresses.difference_update)(
            addresses_of(resources, argv[2]))
    elif program == "IPaddr" and argv[-1] == "stop":
        node.addresses.discard(argv[1].split("/")[0])
    elif program == "req_resource":
        _req_resource(node, env, argv[1], send)
    elif program == "harc":
        _rcd(node, resources, env, argv[1], send)
    else:
        raise AssertionError(f"unexpected command {argv}")


def _req_resource(node, env, key: str, send: Callable[[Message], None]) -> None:
    if key in node.held:
        return
    if env.get("HA_NICEFAILBACK") == "yes" or env.get("HA_DONTASK") == "yes":
        send(Message.of(t="ip-request-resp", dest=node.name, ipaddr=key, weown="yes", ok="OK"))
    else:
        send(Message.of(t="ip-request", ipaddr=key))


def _rcd(node, resources: HaResources, env, event: str, send: Callable[[Message], None]) -> None:
    src = env.get("HA_src")
    if event == "status":
        if env.get("HA_st") == "dead" and src != node.name and "ping" not in env.get("HA_info", ""):
            for key in listkeys([g.text + " " for g in resources.groups], src):
                node.held.add(key)
                node.addresses.update(addresses_of(resources, key))
            if env.get("HA_NICEFAILBACK") == "yes":
                send(Message.of(t="resource", rsc_hold="foreign", info="mach_down"))
    elif event == "ip-request":
        key = env.get("HA_ipaddr")
        # the stock rc.d script does nothing with a request it sent itself, or one naming no
        # group (a forged request can carry anything)
        if src == node.name or key is None:
            return
        weown = "yes" if key in node.held else "no"
        node.held.discard(key)
        node.addresses.difference_update(addresses_of(resources, key))
        send(Message.of(t="ip-request-resp", dest=src, ipaddr=key, weown=weown, ok="OK"))
    elif event == "ip-request-resp":
        if env.get("HA_dest") == node.name and env.get("HA_ok") == "OK" and "HA_ipaddr" in env:
            node.held.add(env["HA_ipaddr"])
            node.addresses.update(addresses_of(resources, env["HA_ipaddr"]))
    elif event == "hb_takeover":
        if src != node.name:
            kind = TAKEOVER_MAP.get(env.get("HA_rsc_hold", ""), "all")
            send(Message.of(t="ask_resources", rsc_hold=kind, info="me"))
