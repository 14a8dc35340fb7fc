"""A simulated v1 cluster: Membership + Failover per node over a fake network, in fake time.

Each node is what the daemon joins (membership.py and failover.py) with its jobs carried
out by a fake runner that does what the stock scripts do (harc + rc.d, mach_down,
req_resource, hb_standby, ResourceManager), changing a per-node set of held groups. The
network delivers every transmitted message to every other live node it is connected to,
after a random delay and in order, unless it is lost. Everything runs from one seeded random source,
so a failing schedule replays exactly.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Callable

from heartbeat.core.joint import RESTART_DT_EXTRA_MS
from heartbeat.core.failover import (Announce, Command, Failover, Job, JobLog, JobSend, Log, RestartAfterPartition, Run,
                                Send, ShutdownReady)
from heartbeat.config.groupkeys import listkeys
from heartbeat.config.hacf import HaCf, parse_hacf
from heartbeat.core.healing import HEAL_FIELD
from heartbeat.config.haresources import HaResources, parse_haresources
from heartbeat.core.membership import CommUp, Deliver, LinkStatus, Membership, NodeStatus, PartitionReturn, Transmit
from heartbeat.core.message import Message
from heartbeat.core.stall import StallWatch

LINK = "eth0"
# how long a command takes: starting a group (directly or from an rc.d script) is slow,
# req_resource only checks and sends
COMMAND_SECONDS = {"ResourceManager": 0.5, "harc": 0.5, "req_resource": 0.1, "IPaddr": 0.1}
STOP_SECONDS = 1.0            # from ShutdownReady to the process exit (the original's final phases)
STOCK_RCD = frozenset({"status", "ip-request", "ip-request-resp", "hb_takeover"})   # ask_resources never runs
TAKEOVER_MAP = {"all": "all", "local": "foreign", "foreign": "local"}


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


@dataclass
class SimNode:
    name: str
    membership: Membership
    engine: Failover
    held: set[str] = field(default_factory=set)
    jobs: dict[int, Job] = field(default_factory=dict)
    logs: list[tuple[str, str]] = field(default_factory=list)
    commands: list[tuple[str, ...]] = field(default_factory=list)    # every one run, in order
    announced: list[tuple[float, tuple[str, ...]]] = field(default_factory=list)   # gratuitous ARP
    addresses: set[str] = field(default_factory=set)      # configured on its interface
    stopped: bool = False
    restart: bool = False                 # restarting after a partition, as the original does
    frozen_until: float | None = None     # SIGSTOP: nothing runs, packets wait in the socket
    backlog: list[Message] = field(default_factory=list)
    stall: StallWatch | None = None
    job_steps: dict[int, int] = field(default_factory=dict)     # where a frozen job resumes


class Cluster:
    """Nodes, links and a clock; `run_until` advances everything in time order."""

    def __init__(self, nodes: list[str], mode: str = "on", *, seed: int = 0, loss: float = 0.0,
                 delay: tuple[float, float] = (0.001, 0.02), groups_per_node: int = 1,
                 originals: frozenset[str] = frozenset()) -> None:
        self.names = list(nodes)
        # nodes that behave like heartbeat 3.0.6 towards issue 9's additions: no heal reports
        # (the field is unknown to them), no stall detection, a restart after a partition
        self.originals = originals
        self.config = cluster_config(self.names, mode)
        self.resources = cluster_resources(self.names, groups_per_node)
        self.rng = random.Random(seed)
        self.loss = loss
        self.delay = delay
        self.now = 0.0
        self.nodes: dict[str, SimNode] = {}
        self.cut: set[frozenset[str]] = set()
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._generation = {n: 1 for n in self.names}
        self._last_arrival: dict[tuple[str, str], float] = {}
        self.wire: list[tuple[float, Message]] = []     # every transmission, retransmissions too

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

    # -- node life -------------------------------------------------------------------------------
    def start(self, name: str) -> None:
        node = self._boot(name, set())
        self._carry_out(node, node.membership.start(self.now, self._wall()))

    def restart_in_place(self, name: str) -> None:
        """SIGHUP after ha.cf changed: peers asked to wait, then the exec with `-R -C held`;
        the groups go on running."""
        old = self.nodes[name]
        held = old.engine.held
        self._carry_out(old, old.membership.extend_deadtime(self.now, self._wall(), RESTART_DT_EXTRA_MS))

        def reexec() -> None:
            self._exit(old)
            node = self._boot(name, set(old.held))
            self._carry_out(node, node.membership.start(self.now, self._wall()))
            self._carry_out(node, node.engine.restarted(self.now, held))
        self.at(STOP_SECONDS, reexec)

    def _boot(self, name: str, held: set[str]) -> SimNode:
        generation = self._generation[name]
        self._generation[name] += 1
        membership = Membership(self.config, name, name.encode().ljust(16, b"\0"), generation,
                                rng=random.Random(self.rng.random()), loadavg=lambda: "0.00 0.00 0.00 1/1 1")
        engine = Failover(self.config, self.resources, name, rcd_scripts=STOCK_RCD, wall=self._wall, pid=1000)
        node = self.nodes[name] = SimNode(name, membership, engine, held,
                                          stall=None if name in self.originals
                                          else StallWatch(self.config.deadtime_ms / 1000))
        node.addresses = {ip for key in held for ip in self.addresses_of(key)}
        return node

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
        # the daemon's order: the stall is noticed at the first input, then the packets are read
        self._awake(node)
        for msg in backlog:
            self._arrive(node, msg)
        for job in list(node.jobs.values()):
            self.at(0.0, self._stepper(node, job, node.job_steps.pop(job.id, 0)))

    def _awake(self, node: SimNode) -> None:
        """heartbeat/daemon/main.py Core._check_stall."""
        gap = None if node.stall is None else node.stall.observe(self.now)
        if gap is not None:
            node.membership.resume_after_stall(self.now)
            self._carry_out(node, node.engine.stalled(self.now, gap))

    def crash(self, name: str) -> None:
        """The machine dies: heartbeat and every resource it ran are gone."""
        node = self.nodes[name]
        node.stopped = True
        node.restart = False          # a pending restart after a partition dies with it
        node.held.clear()
        node.addresses.clear()
        node.jobs.clear()

    def stop(self, name: str) -> None:
        """`heartbeat -k`: resources released, then the process exits."""
        node = self.nodes[name]
        self._carry_out(node, node.engine.shutdown(self.now))

    def command(self, name: str, msg: Message) -> None:
        """A message an admin tool writes into the FIFO (hb_standby, hb_takeover)."""
        self._send(self.nodes[name], msg)

    # -- time ------------------------------------------------------------------------------------
    def at(self, delay: float, what: Callable[[], None]) -> None:
        heapq.heappush(self._events, (self.now + delay, next(self._order), what))

    def run_until(self, end: float, max_steps: int = 2_000_000) -> None:
        for _ in range(max_steps):
            ticker = min((n for n in self.nodes.values() if not n.stopped and n.frozen_until is None),
                         key=self._deadline, default=None)
            tick_at = math.inf if ticker is None else self._deadline(ticker)
            event_at = self._events[0][0] if self._events else math.inf
            if min(tick_at, event_at) > end:
                self.now = end
                return
            self.now = max(self.now, min(tick_at, event_at))
            if event_at <= tick_at:
                heapq.heappop(self._events)[2]()
            else:
                self._awake(ticker)
                self._carry_out(ticker, ticker.membership.tick(self.now, self._wall()))
                self._carry_out(ticker, ticker.engine.tick(self.now))
        raise AssertionError("simulation did not reach its end time")

    def _deadline(self, node: SimNode) -> float:
        engine = node.engine.next_deadline()
        return min(node.membership.next_deadline(), math.inf if engine is None else engine)

    def _wall(self) -> float:
        return 1_700_000_000 + self.now

    # -- the daemon's wiring: membership and engine joined as heartbeat/daemon/main.py Core joins them --
    def _carry_out(self, node: SimNode, actions) -> None:
        for a in actions:
            if node.stopped:
                return
            if isinstance(a, Transmit):
                self._transmit(node, a.msg)
            elif isinstance(a, Deliver):
                self._carry_out(node, node.engine.receive(self.now, a.msg))
            elif isinstance(a, NodeStatus):
                if a.node != node.name:
                    self._carry_out(node, node.engine.node_status(self.now, a.node, a.new, a.msg))
            elif isinstance(a, LinkStatus):
                self._carry_out(node, node.engine.link_status(self.now, a.node, a.link, a.status))
            elif isinstance(a, CommUp):
                m = node.membership
                statuses = {n: m.node_status(n) for n in m.node_names() if m.node_type(n) == "normal"}
                self._carry_out(node, node.engine.comm_up(self.now, statuses))
            elif isinstance(a, PartitionReturn) and node.name in self.originals:
                self._restart_after_partition(node)
            elif isinstance(a, PartitionReturn):
                self._carry_out(node, node.engine.partition_healed(self.now, a.node))
            elif isinstance(a, RestartAfterPartition):
                self._restart_after_partition(node)
            elif isinstance(a, Announce):
                node.announced.append((self.now, a.addresses))
            elif isinstance(a, Send):
                self._send(node, a.msg)
            elif isinstance(a, Run):
                node.jobs[a.job.id] = a.job
                self.at(0.0, self._stepper(node, a.job, 0))
            elif isinstance(a, ShutdownReady):
                self.at(STOP_SECONDS, lambda: self._exit(node))
                if node.restart:
                    # the original's exec, which waits deadtime + 1 s before it starts again
                    self.at(STOP_SECONDS + self.config.deadtime_ms / 1000 + 1, lambda: self._restart(node))
            elif isinstance(a, Log):
                node.logs.append((a.level, a.text))

    def _send(self, node: SimNode, msg: Message) -> None:
        # Carried out at once, nested: what the engine sends while our own copy is processed
        # reaches the wire before that copy, with the higher seq. The original does this too:
        # lab-findings §2b captured `resource` before `done`, and the peer logged
        # "1 lost packet(s)", "remote resource transition completed.", "No pkts missing",
        # "Other node completed standby takeover" in that order.
        if not node.stopped:
            self._carry_out(node, node.membership.send(self.now, self._wall(), msg))

    def _transmit(self, node: SimNode, msg: Message) -> None:
        self.wire.append((self.now, msg))
        for other in self.nodes.values():
            if other is node or not self.connected(node.name, other.name):
                continue
            if self.rng.random() < self.loss:
                continue
            # one wire: a later packet never overtakes an earlier one
            pair = (node.name, other.name)
            when = max(self.now + self.rng.uniform(*self.delay), self._last_arrival.get(pair, 0.0))
            self._last_arrival[pair] = when
            copy = msg.copy()
            self.at(when - self.now, lambda o=other, c=copy: self._arrive(o, c))

    def _restart(self, node: SimNode) -> None:
        # a machine that crashed meanwhile runs no exec
        if node.restart and self.nodes[node.name] is node:
            self.start(node.name)

    def _restart_after_partition(self, node: SimNode) -> None:
        if not node.restart:
            node.restart = True
            self._carry_out(node, node.engine.shutdown(self.now))

    def _arrive(self, node: SimNode, msg: Message) -> None:
        if node.frozen_until is not None:
            node.backlog.append(msg)
            return
        if node.name in self.originals:
            msg.remove(HEAL_FIELD)
        if not node.stopped:
            self._awake(node)
            self._carry_out(node, node.membership.receive(self.now, self._wall(), LINK, msg))

    def _exit(self, node: SimNode) -> None:
        node.stopped = True
        node.jobs.clear()

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
                self._carry_out(node, node.engine.job_done(self.now, job.id, 0))
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
                self._send(node, s.msg.copy())
            elif isinstance(s, JobLog):
                node.logs.append((s.level, f"[child] {s.text}"))
            following()
        return step

    def _script(self, node: SimNode, env, argv: tuple[str, ...]) -> None:
        node.commands.append(argv)
        stock_script(node, self.resources, env, argv, lambda msg: self._send(node, msg))


def addresses_of(resources: HaResources, key: str) -> set[str]:
    group = next(g for g in resources.groups if g.key == key)
    return {r.args[0].split("/")[0] for r in group.resources if r.script == "IPaddr"}


def stock_script(node, resources: HaResources, env, argv: tuple[str, ...], send: Callable[[Message], None]) -> None:
    """What one command of a job does with the stock scripts on `node` (a name, the groups it
    `held`, the `addresses` its interface carries): those change, messages go out by `send`.
    Shared with the receive fuzzer (test_receive_fuzz.py), which runs the daemon's Core."""
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
