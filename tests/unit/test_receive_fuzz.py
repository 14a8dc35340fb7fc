"""Fuzzing the shipped receive path (issue 8): hostile datagrams into a node whose codec, auth,
membership and failover engine are joined by the daemon's own `Core`, beside a genuine peer.

Whatever arrives, the node sends a heartbeat every keepalive and meets no bug (no input is
reported by the Core's guard). Datagrams anyone can send (garbage, mutations and replays of
captured traffic, a key holder's messages with numbers wider than the original reads) move no
group: each runs on one node throughout, and a live node's own groups at home (the peer may
crash mid-script, its groups then go to node1). A key holder's arbitrary
messages can move groups by protocol (a forged `shutdone` is a takeover), so for those only
the heartbeat and the absence of bugs are checked.

The suite runs a few dozen examples; `FUZZ_EXAMPLES=20000 python3 -m pytest -q
tests/unit/test_receive_fuzz.py` is the campaign by hand.
"""

from __future__ import annotations

import os
import random
from collections import deque

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heartbeat.core.auth import Authenticator
from heartbeat.config.authkeys import parse_authkeys
from heartbeat.core.codec import WireError, decode, encode
from heartbeat.config.configcheck import ClusterConfig
from heartbeat.core.joint import Hooks
from heartbeat.core.failover import Command, Failover, Job, JobSend
from heartbeat.config.hacf import parse_hacf
from heartbeat.config.haresources import parse_haresources
from heartbeat.daemon.log import DaemonLog, LogSettings
from heartbeat.core.message import Message
from heartbeat.config.pyhbcf import PyHbCf
from tests.unit.simcluster import STOCK_RCD, ObservedCore, stock_script
from tests.unit.test_daemon import FakeClock

HA_CF = ("keepalive 1\ndeadtime 5\nwarntime 3\ninitdead 10\nbcast eth0\nauto_failback on\n"
         "node node1\nnode node2\n")
HARESOURCES = "node1 gnode1 Marker::m1\nnode2 gnode2 Marker::m2\n"
KEYS = "auth 1\n1 sha1 fuzzing-key\n"
STEP = 0.05
KEEPALIVE = 1.0
JOB_SECONDS = 0.5
SETTLE = 40.0
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))


class QuietLog(DaemonLog):
    def __init__(self) -> None:
        super().__init__(LogSettings(host="fuzz", stderr=False))
        self.lines = 0

    def log(self, level: str, text: str) -> None:
        self.lines += 1


class Machine:
    """One node: a Core with the real engine, and the stock scripts' effects on `held`."""

    def __init__(self, lab: Lab, name: str) -> None:
        self.name = name
        self.lab = lab
        self.held: set[str] = set()
        self.addresses: set[str] = set()
        self.jobs: list[tuple[float, Job]] = []
        self.crashed = False
        self.heartbeats: list[float] = []
        config = lab.config(name)
        engine = Failover(config.hacf, config.haresources, name, rcd_scripts=STOCK_RCD,
                          wall=lab.clock.time, pid=1000)
        hooks = Hooks(transmit=self.transmit,
                      start_job=lambda job: self.jobs.append((lab.clock.now + JOB_SECONDS, job)))
        self.core = ObservedCore(config, QuietLog(), hooks, uuid=name.encode().ljust(16, b"\0"), generation=7,
                                 clock=lab.clock, engine=engine, pid=1000, loadavg=lambda: "0.00 0.00 0.00 1/1 1",
                                 rng=random.Random(name))

    def transmit(self, packet: bytes, msg: Message) -> None:
        if msg.type == "status":
            self.heartbeats.append(self.lab.clock.now)
        self.lab.wire.append((self.name, packet))
        self.lab.captured.append(packet)

    def run_jobs(self) -> None:
        due = [(t, job) for t, job in self.jobs if t <= self.lab.clock.now]
        self.jobs = [(t, job) for t, job in self.jobs if t > self.lab.clock.now]
        for _, job in due:
            for step in job.steps:
                if isinstance(step, Command):
                    stock_script(self, self.lab.resources, job.env, step.argv, self.core.send)
                elif isinstance(step, JobSend):
                    self.core.send(step.msg)
            self.core.job_done(job.id, 0)


class Lab:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.hacf = parse_hacf(HA_CF, "/etc/ha.d/ha.cf")
        self.keys = parse_authkeys(KEYS, "/etc/ha.d/authkeys", 0o600)
        self.auth = Authenticator(self.keys)
        self.resources = parse_haresources(HARESOURCES, "/etc/ha.d/haresources")
        self.wire: deque[tuple[str, bytes]] = deque()
        self.captured: list[bytes] = []
        self.key_holder = False               # True: the inputs may be anything a key holder sends
        self.fresh_seq = 0x1000               # a key holder's numbers, ahead of everybody's
        self.machines = {name: Machine(self, name) for name in ("node1", "node2")}

    def config(self, name: str) -> ClusterConfig:
        return ClusterConfig(self.hacf, self.keys, self.resources, name, "/etc/ha.d",
                             PyHbCf("/etc/ha.d/pyheartbeat.cf"))

    def start(self) -> None:
        for m in self.machines.values():
            m.core.start()
        self.run(SETTLE)

    def live(self):
        return [m for m in self.machines.values() if not m.crashed]

    def inject(self, packet: bytes) -> None:
        self.machines["node1"].core.packet("eth0", packet)

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / STEP)):
            for _ in range(1000):
                if not self.wire:
                    break
                sender, packet = self.wire.popleft()
                if self.machines[sender].crashed:
                    continue
                for m in self.live():
                    m.core.packet("eth0", packet)
            for m in self.live():
                m.run_jobs()
            self.clock.now += STEP
            for m in self.live():
                if m.core.next_deadline() <= self.clock.now:
                    m.core.tick()
            self.check()

    def check(self) -> None:
        node1 = self.machines["node1"]
        if node1.core.stopped:
            # only a key holder can stop it (our own `shutdone`, a partition's return)
            assert self.key_holder, "node1 stopped"
            return
        beats = node1.heartbeats + [self.clock.now]
        gaps = [b - a for a, b in zip(beats, beats[1:])]
        assert max(gaps) <= KEEPALIVE + 2 * STEP + 1e-9, f"no heartbeat for {max(gaps):.2f} s"
        for m in self.machines.values():
            assert not m.core.faults, m.core.faults

    def owners(self) -> dict[str, list[str]]:
        return {g.key: [m.name for m in self.live() if g.key in m.held] for g in self.resources.groups}

    def check_groups(self) -> None:
        for key, running in self.owners().items():
            assert len(running) <= 1, f"{key} runs on {running}"

    def settled_at_home(self) -> None:
        owners = self.owners()
        assert all(owners.values()), f"a group runs nowhere: {owners}"
        for m in self.live():
            assert owners[f"g{m.name}"] == [m.name], owners
        self.check_groups()


# -- inputs ------------------------------------------------------------------------------------
NUMERIC = ("seq", "hg", "ts", "dt", "ackseq", "firstseq", "lastseq")
HUGE = st.one_of(st.integers(2**64, 2**1024).map(lambda n: format(n, "x")),
                 st.integers(2**31, 2**64).map(str),
                 st.just("9" * 5000), st.just("-" + "9" * 30),
                 st.text("0123456789abcdefx -+", min_size=17, max_size=40))
# Wider than the original reads seq, hg and ts (sscanf "%lx" into an unsigned long): over 16
# significant hex digits, however dressed. Only such a number makes a re-signed copy harmless:
# HUGE's other values may fit ("2147483648" is a fine hex seq), and a key holder's copy of a
# peer's status with a seq far ahead is accepted by protocol, after which that peer's genuine,
# lower numbers are dropped as old (wire-protocol §8.2, rule 7; the original does the same).
# The peer is then declared dead and its groups taken over while it still runs them: a key
# holder's lock-out, like a huge generation, not something anyone can do.
TOO_WIDE = st.tuples(st.sampled_from(("", " ", "0x", "000")),
                     st.one_of(st.integers(2**64, 2**1024).map(lambda n: format(n, "x")),
                               st.integers(2**64, 10**40).map(str), st.just("9" * 5000)),
                     st.sampled_from(("", "g", " 1"))).map("".join)
TYPES = ("status", "NS_st", "NS_rexmit", "NS_nak_rexmit", "NS_ackmsg", "reqnodes", "repnodes", "starting",
         "resource", "ask_resources", "shutdone", "ip-request", "ip-request-resp", "hb_takeover")
VALUES = st.one_of(st.sampled_from(("node1", "node2", "active", "dead", "up", "0", "1", "ff", "-1", "", "all",
                                    "local", "foreign", "none", "me", "other", "done", "gnode1", "gnode2")),
                   HUGE, st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12))


@st.composite
def anyones_input(draw):
    """What anyone on the LAN can send: (kind, argument) turned into bytes against the capture."""
    kind = draw(st.sampled_from(("garbage", "replay", "mutate", "oversize")))
    if kind == "garbage":
        prefix = draw(st.sampled_from((b"", b"###\n", b">>>\n")))
        return kind, prefix + draw(st.binary(max_size=200))
    # seq, hg and ts: a message with one of them too wide is dropped whatever it says
    return kind, (draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6)), draw(st.binary(min_size=1, max_size=8)),
                  draw(st.sampled_from(("seq", "hg", "ts"))), draw(TOO_WIDE))


def materialize(lab: Lab, kind: str, arg) -> bytes:
    if kind == "garbage":
        return arg
    pick, where, junk, name, huge = arg
    genuine = lab.captured[pick % len(lab.captured)]
    if kind == "replay":
        return genuine
    if kind == "mutate":
        at = where % len(genuine)
        return genuine[:at] + junk + genuine[at + len(junk) // 2:]
    # a key holder's copy of a genuine message with one number wider than the original reads
    msg = decode(genuine, lab.auth)
    msg.remove("auth")
    msg.set(name, huge)
    return encode(msg, lab.auth)


@st.composite
def key_holders_message(draw):
    """Fields over a believable base (a known sender, its generation, a fresh seq, the time),
    so that what they carry gets past the sequence checks and is acted on."""
    fields = {"t": draw(st.sampled_from(TYPES)), "src": draw(st.sampled_from(("node1", "node2", "node3")))}
    for name in draw(st.lists(st.sampled_from(NUMERIC + ("st", "dest", "info", "rsc_hold", "rtype", "isstable",
                                                         "nodelist", "ipaddr", "protocol")),
                              max_size=8, unique=True)):
        fields[name] = draw(VALUES)
    return fields


def believable(lab: Lab, fields: dict[str, str]) -> Message:
    lab.fresh_seq += 1
    msg = Message.of(**fields)
    for name, value in (("seq", format(lab.fresh_seq, "x")), ("hg", "7"), ("ts", format(int(lab.clock.time()), "x"))):
        msg.setdefault(name, value)
    return msg


def run_script(lab: Lab, script, make_packet) -> None:
    for item, pause, crash in script:
        if crash and not lab.machines["node2"].crashed:
            lab.machines["node2"].crashed = True           # the machine dies with its groups
            lab.machines["node2"].held.clear()
        try:
            packet = make_packet(item)
        except (WireError, ValueError):
            continue                                       # nothing a sender could put on the wire
        lab.inject(packet)
        lab.check_groups()
        lab.run(pause)


SCRIPT_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


@SCRIPT_SETTINGS
@given(st.lists(st.tuples(anyones_input(), st.sampled_from((0.0, 0.05, 0.5, 1.5)), st.just(False)),
                max_size=25),
       st.integers(0, 30))
def test_what_anyone_sends_moves_no_group_and_costs_no_heartbeat(script, crash_at):
    lab = Lab()
    lab.start()
    lab.settled_at_home()
    script = [(item, pause, i == crash_at) for i, (item, pause, _) in enumerate(script)]
    run_script(lab, script, lambda item: materialize(lab, *item))
    lab.run(SETTLE)
    lab.settled_at_home()


@SCRIPT_SETTINGS
@given(st.lists(st.tuples(key_holders_message(), st.sampled_from((0.0, 0.05, 0.5, 1.5)), st.just(False)),
                max_size=25))
def test_a_key_holders_nonsense_costs_no_heartbeat_and_meets_no_bug(script):
    lab = Lab()
    lab.start()
    lab.key_holder = True
    for fields, pause, _ in script:
        try:
            packet = encode(believable(lab, fields), lab.auth)
        except ValueError:
            continue                                       # nothing a sender could put on the wire
        lab.inject(packet)
        lab.run(pause)
    lab.run(SETTLE)
