"""Cluster membership: nodes, links, status, timers, sequencing, rexmit, ACKs, node lists.

A sans-I/O state machine (wire-protocol §7, §8). The daemon feeds it
authenticated `Message` objects (`receive`), messages from upper layers
(`send`) and the passage of time (`tick`, at `next_deadline()` at the latest);
every call returns the actions to carry out, in order.

Time comes in as arguments: `now` is monotonic seconds, `wall` is Unix
seconds for the `ts` field. Randomness (ACK triggers, rexmit delays) comes
from the injected `random.Random`, the `ld` field from the injected callable.

Behaviour follows heartbeat 3.0.6 (`heartbeat.c`, `hb_rexmit.c`) where it is
observable; where this module knowingly differs the comment says why.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from uuid import UUID
from typing import Callable, Union

from heartbeat.config.hacf import HaCf, Ping, PingGroup, ascii_lower
from heartbeat.core.message import BINARY, STRING, Message
from heartbeat.core.seqtrack import (
    FLOWCONTROL_LIMIT,
    HISTORY_SIZE,
    MAX_REXMIT_BATCH,
    Arrival,
    Rexmit,
    RexmitRequests,
    SendHistory,
    SeqTracker,
    Verdict,
)

# -- vocabulary ---------------------------------------------------------------
INIT, UP, ACTIVE, DEAD, PING = "init", "up", "active", "dead", "ping"
NORMAL = "normal"                          # node types; ping nodes use PING
LINK_UP, LINK_DEAD = "up", "dead"
ALIVE = (UP, ACTIVE)

PROTOCOL_VERSION = "1"
START_DT_EXTRA_MS = 2000                   # advertised on top of deadtime while starting
START_DT_SECONDS = 5.0                     # ... for this long
REQNODES_RETRY_S = 1.0
HIST_WARN = HISTORY_SIZE * 3 // 4          # "Message hist queue is filling up" at WARN above this
HIST_ERROR = HISTORY_SIZE * 9 // 10        # ... and at ERROR above this
NOSEQ_PREFIX = "NS_"
URL_BASE = "http://linux-ha.org/wiki/"


# -- actions -----------------------------------------------------------------
@dataclass(frozen=True)
class Transmit:
    """A stamped message to encode and send on every medium."""
    msg: Message


@dataclass(frozen=True)
class Deliver:
    """An accepted message addressed to us, for the failover engine, API clients and rc.d.

    Never protocol-internal types (status, NS_*, reqnodes, repnodes: their effect
    is reported as NodeStatus etc.), never a duplicate.
    """
    msg: Message
    own: bool


@dataclass(frozen=True)
class NodeStatus:
    """A node's status changed (also "dead", also the local node).

    `msg` is the status message that caused it (None for deaths and local
    changes): rc.d/status gets its fields. A node marked dead again while
    already dead is reported too, because the original re-runs its dead-node
    recovery then (after a partition heals).
    """
    node: str
    old: str
    new: str
    info: str | None
    msg: Message | None = None


@dataclass(frozen=True)
class LinkStatus:
    node: str
    link: str
    status: str                            # LINK_UP | LINK_DEAD


@dataclass(frozen=True)
class CommUp:
    """Communication is up and the node list exchanged: local status is now active."""


@dataclass(frozen=True)
class PeerRestarted:
    node: str


@dataclass(frozen=True)
class PartitionReturn:
    """A node we had declared dead is talking again: v1 gives up resources and restarts."""
    node: str


@dataclass(frozen=True)
class Log:
    level: str                             # "info" | "WARN" | "ERROR" | "CRIT" | "debug"
    text: str


Action = Union[Transmit, Deliver, NodeStatus, LinkStatus, CommUp, PeerRestarted, PartitionReturn, Log]


# -- field parsing like the original's sscanf/atoi ---------------------------
# The widths the original reads numbers into (amd64): seq, hg, ts, dt and ackseq
# with "%lx" into unsigned long (seqno_t, TIME_T), rexmit bounds with atoi into
# int. A value that does not fit is unparsable: the original's scanf would clamp
# it, and a clamped number from the wire is as meaningless as a huge one.
ULONG_MAX = 2**64 - 1
INT_MIN, INT_MAX = -2**31, 2**31 - 1
_HEX_DIGITS = "0123456789abcdefABCDEF"


def parse_hex(text: str | None) -> int | None:
    """`sscanf("%lx")`: leading blanks, optional 0x, at least one hex digit; junk after is ignored.
    None when there is no number or it does not fit an unsigned long."""
    if text is None:
        return None
    if len(text) <= 16 and text.isascii() and text.isalnum():
        # what we and 3.0.6 send (bare hex digits, or 0x and digits) in one step, several
        # times per packet (issue 10's idle CPU); int() refuses other letters, which
        # _scan_hex then reads as sscanf does (tests/unit/test_fastpaths.py)
        try:
            return int(text, 16)
        except ValueError:
            pass
    return _scan_hex(text)


def _scan_hex(text: str) -> int | None:
    """parse_hex for any text."""
    rest = text.lstrip(" \t\n\r\f\v")
    if rest[:2].lower() == "0x" and len(rest) > 2 and rest[2] in _HEX_DIGITS:
        rest = rest[2:]
    digits = len(rest) - len(rest.lstrip(_HEX_DIGITS))
    # leading zeros are free; past 16 significant digits nothing fits (and int() is spared)
    significant = rest[:digits].lstrip("0")
    if not digits or len(significant) > 16:
        return None
    return int(significant or "0", 16)


def parse_dec(text: str | None) -> int | None:
    """`atoi`: leading blanks, optional sign, digits; 0 when there are none, None when the
    number does not fit an int."""
    if text is None:
        return 0
    rest = text.lstrip(" \t\n\r\f\v")
    sign = -1 if rest[:1] == "-" else 1
    rest = rest[1:] if rest[:1] in "+-" else rest
    digits = len(rest) - len(rest.lstrip("0123456789"))
    significant = rest[:digits].lstrip("0")
    if len(significant) > 10:
        return None
    value = sign * int(significant or "0")
    return value if INT_MIN <= value <= INT_MAX else None


def _text(msg: Message, name: str) -> str | None:
    """A string field's value; None when absent or not a string."""
    f = msg.field(name)
    return f.value if f is not None and f.type == STRING and isinstance(f.value, str) else None


def _uuid(msg: Message, name: str) -> bytes | None:
    """A 16-byte uuid field; None when absent, malformed or all zero (the original's "null")."""
    f = msg.field(name)
    if f is None or not isinstance(f.value, bytes) or len(f.value) != 16 or not any(f.value):
        return None
    return f.value


# -- per-node state -----------------------------------------------------------
@dataclass
class Link:
    name: str
    status: str = LINK_DEAD
    last: float = 0.0                      # when a packet last arrived on it


class Node:
    """What we know about one node, including ourselves."""

    def __init__(self, name: str, kind: str, links: list[str], dead_ms: int, ack_trigger: int) -> None:
        self.name = name
        self.kind = kind
        self.status = INIT
        self.uuid: bytes | None = None
        self.links = {link: Link(link) for link in links}
        self.dead_ms = dead_ms             # its advertised dt (ping nodes: deadping)
        self.heard = False                 # any packet since start / since declared dead
        self.last_status_at = 0.0          # local time of the last accepted status (or of start)
        self.last_ts = 0                   # its `ts` of that status
        self.status_seq = 0                # its `seq` of that status
        self.generation = 0
        self.track = SeqTracker(ack_trigger)
        self.acked = 0                     # highest of our seqs it acknowledged

    def reset_clock(self, now: float) -> None:
        self.last_status_at = now
        for link in self.links.values():
            link.last = now


class NodeTable:
    """The configured nodes in order (normal nodes, then ping nodes) and identity lookups."""

    def __init__(self, config: HaCf, local: str, rng: random.Random) -> None:
        self._config = config
        self._rng = rng
        self._nodes: dict[str, Node] = {}
        # Ping media get links only on their own ping node; the others on every normal node.
        self._normal_links = list(dict.fromkeys(
            m.link for m in config.media if not isinstance(m, (Ping, PingGroup))))
        for name in config.nodes:
            self.add(name, NORMAL)
        for medium in config.media:
            if isinstance(medium, (Ping, PingGroup)):
                self.add(medium.link, PING)
        if local not in self._nodes or self._nodes[local].kind != NORMAL:
            raise ValueError(f"Current node [{local}] not in configuration!")
        self.local = self._nodes[local]

    def __iter__(self):
        return iter(list(self._nodes.values()))

    def __len__(self) -> int:
        return len(self._nodes)

    def get(self, name: str) -> Node | None:
        return self._nodes.get(name.lower())

    def exact(self, name: str) -> Node | None:
        return self._nodes.get(name)

    def names(self) -> list[str]:
        return list(self._nodes)

    def last(self) -> Node:
        return next(reversed(self._nodes.values()))

    def add(self, name: str, kind: str) -> Node:
        # The original lower-cases every node name, ping hosts too; a ping medium keeps
        # the host as written, and so does its link.
        links = [name] if kind == PING else self._normal_links
        dead_ms = self._config.deadping_ms if kind == PING else self._config.deadtime_ms
        node = Node(ascii_lower(name), kind, links, dead_ms, self._rng.randrange(10))
        self._nodes[node.name] = node
        return node

    def remove(self, name: str) -> None:
        del self._nodes[name]

    def normal(self) -> list[Node]:
        return [n for n in self._nodes.values() if n.kind == NORMAL]

    def live_count(self) -> int:
        """Normal nodes up or active, counting ourselves (the original's live_node_count)."""
        return 1 + sum(1 for n in self.normal() if n is not self.local and n.status in ALIVE)


# -- the state machine ----------------------------------------------------------
class Membership:
    def __init__(self, config: HaCf, local: str, uuid: bytes, generation: int, *,
                 rng: random.Random, loadavg: Callable[[], str]) -> None:
        self._config = config
        self._rng = rng
        self._loadavg = loadavg
        self._generation = generation
        self._nodes = NodeTable(config, local, rng)
        self._local = self._nodes.local
        self._local.uuid = uuid
        self._history = SendHistory()
        self._rexmits = RexmitRequests()
        self._seq = 0
        self._deleted: list[str] = []      # the cluster's deleted-node list, as repnodes gave it
        self._started = False
        self._linksup = False              # everybody heard or dead
        self._comm_up = False              # ... and the node list exchanged
        self._flow_control = True
        self._got_reqnodes_reply = False
        self._reqnodes_due: float | None = None
        self._reqnodes_index = 0
        self._next_status = math.inf
        self._dt_pop_due: float | None = None
        self._dt_extra_count = 0
        self._handlers = {
            "status": self._on_status,
            "NS_st": self._on_status,
            "NS_rexmit": self._on_rexmit,
            "NS_ackmsg": self._on_ack,
            "reqnodes": self._on_reqnodes,
            "repnodes": self._on_repnodes,
        }
        self._now = 0.0
        self._wall = 0.0
        self._out: list[Action] = []

    # -- queries -----------------------------------------------------------
    @property
    def local_name(self) -> str:
        return self._local.name

    @property
    def local_status(self) -> str:
        return self._local.status

    @property
    def comm_up(self) -> bool:
        return self._comm_up

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def keepalive_ms(self) -> int:
        return self._config.keepalive_ms

    @property
    def deadtime_ms(self) -> int:
        return self._config.deadtime_ms

    @property
    def flow_control(self) -> bool:
        """False once a peer without `protocol` was heard (no ACKs, no node-list exchange)."""
        return self._flow_control

    @property
    def congested(self) -> bool:
        """Too many of our messages un-ACKed: the API server should pause its clients."""
        return self._flow_control and self._history.congested

    def node_names(self) -> list[str]:
        return self._nodes.names()

    def has_node(self, name: str) -> bool:
        return self._nodes.get(name) is not None

    def node_type(self, name: str) -> str:
        return self._node(name).kind

    def node_status(self, name: str) -> str:
        return self._node(name).status

    def node_uuid(self, name: str) -> bytes | None:
        return self._node(name).uuid

    def node_deadtime_ms(self, name: str) -> int:
        """The deadtime the node advertised (ours: what we advertise)."""
        return self._node(name).dead_ms

    def link_names(self, node: str) -> list[str]:
        return list(self._node(node).links)

    def link_status(self, node: str, link: str) -> str:
        return self._node(node).links[link].status

    def missing_seqs(self, name: str) -> tuple[int, ...]:
        """Sequence numbers from this node we are still waiting for."""
        return self._node(name).track.missing

    def _node(self, name: str) -> Node:
        node = self._nodes.get(name)
        if node is None:
            raise KeyError(name)
        return node

    # -- inputs --------------------------------------------------------------
    def start(self, now: float, wall: float) -> list[Action]:
        """Announce ourselves: status init, then up twice (the original's start-up order)."""
        if self._started:
            raise RuntimeError("membership already started")
        self._begin(now, wall)
        for node in self._nodes:
            node.reset_clock(now)
        self._extend_deadtime(START_DT_EXTRA_MS)
        self._dt_pop_due = now + START_DT_SECONDS
        self._set_local_status(UP)
        self._send_status()
        self._next_status = now + self._config.keepalive_ms / 1000
        # Only now: a one-node cluster would otherwise come up inside the first send.
        self._started = True
        self._check_comm_up()
        return self._end()

    def receive(self, now: float, wall: float, link: str, msg: Message) -> list[Action]:
        """An authenticated message that arrived on medium `link`; ignored before start."""
        if not self._started:
            return []
        self._begin(now, wall)
        self._process(link, msg)
        return self._end()

    def send(self, now: float, wall: float, msg: Message) -> list[Action]:
        """A message from upper layers: stamp, remember, process our own copy, transmit."""
        self._begin(now, wall)
        self._send(msg.copy())
        return self._end()

    def tick(self, now: float, wall: float) -> list[Action]:
        if not self._started:
            return []
        self._begin(now, wall)
        if self._dt_pop_due is not None and now >= self._dt_pop_due:
            self._dt_pop_due = None
            self._restore_deadtime()
        # The keepalive goes out before the timeout scan: after a stall the
        # original logs a late heartbeat for itself, not its own death.
        if now >= self._next_status:
            # on the schedule set at start, not a keepalive after this (always late)
            # wake-up: lateness would add up, ~0.7 ms a heartbeat in the lab; after a
            # stall of a keepalive or more, one heartbeat now and the schedule from it
            keepalive = self._config.keepalive_ms / 1000
            self._next_status += keepalive
            if self._next_status <= now:
                self._next_status = now + keepalive
            self._send_status()
        if self._reqnodes_due is not None and now >= self._reqnodes_due:
            self._reqnodes_due = None
            self._send_reqnodes(self._reqnodes_index)
        for name, seq in self._rexmits.pop_due(now):
            self._request_rexmit(name, seq)
        self._check_timeouts()
        self._check_comm_up()
        return self._end()

    def next_deadline(self) -> float:
        if not self._started:
            return math.inf
        # asked after every input: one running minimum, no list (issue 10's idle CPU)
        deadline = self._next_status
        for due in (self._dt_pop_due, self._reqnodes_due, self._rexmits.next_due()):
            if due is not None and due < deadline:
                deadline = due
        link_after = self._dead_after_s(self._nodes.last())
        for node in self._nodes:
            if node is self._local:
                continue
            if node.status != DEAD:
                deadline = min(deadline, self._node_deadline(node))
            for link in node.links.values():
                if link.status == LINK_UP and link.last + link_after < deadline:
                    deadline = link.last + link_after
        return deadline

    def extend_deadtime(self, now: float, wall: float, extra_ms: int) -> list[Action]:
        """Advertise deadtime + extra_ms until `restore_deadtime` (respawn starts: 2000, restart: 30000)."""
        self._begin(now, wall)
        self._extend_deadtime(extra_ms)
        return self._end()

    def restore_deadtime(self, now: float, wall: float) -> list[Action]:
        self._begin(now, wall)
        self._restore_deadtime()
        return self._end()

    def resume_after_stall(self, now: float) -> None:
        """This process was stopped (heartbeat/core/stall.py): the silence was ours, not the
        peers'. They get a fresh deadtime instead of being declared dead for it; the
        heartbeats they sent meanwhile wait in the socket and are read next."""
        for node in self._nodes:
            if node is not self._local and node.status != DEAD:
                node.reset_clock(now)

    # -- plumbing --------------------------------------------------------------
    def _begin(self, now: float, wall: float) -> None:
        self._now, self._wall = now, wall
        self._out = []

    def _end(self) -> list[Action]:
        out, self._out = self._out, []
        return out

    def _emit(self, action: Action) -> None:
        self._out.append(action)

    def _log(self, level: str, text: str) -> None:
        self._out.append(Log(level, text))

    # -- sending ---------------------------------------------------------------
    def _send(self, msg: Message) -> None:
        mtype = msg.type
        if mtype is None:
            self._log("ERROR", "Invalid message in send_cluster_msg")
            return
        sequenced = not mtype.startswith(NOSEQ_PREFIX)
        self._stamp(msg, sequenced)
        if sequenced:
            self._remember(msg)
        # Our own copy is processed before the wire sees it, so anything it
        # triggers (an ACK to ourselves, say) is transmitted first, as in the original.
        self._process(None, msg)
        self._emit(Transmit(msg.copy()))

    def _stamp(self, msg: Message, sequenced: bool) -> None:
        """Add the default fields in the original's order (§5.1)."""
        dest = _text(msg, "dest")
        if dest is not None and "destuuid" not in msg:
            target = self._nodes.exact(dest)
            if target is not None and target.uuid is not None:
                msg.append("destuuid", target.uuid, BINARY)

        def put(name, value, ftype=STRING):
            # Sequenced messages get fresh values; NS_* keep what they carry.
            if name not in msg or sequenced:
                msg.set(name, value, ftype)

        put("src", self._local.name)
        put("srcuuid", self._local.uuid, BINARY)
        if sequenced:
            self._seq += 1
            put("seq", format(self._seq, "x"))
        put("hg", format(self._generation, "x"))
        put("ts", format(int(self._wall), "x"))
        if sequenced:
            put("ld", self._loadavg())
        put("ttl", str(self._config.hopfudge + len(self._nodes)))

    def _remember(self, msg: Message) -> None:
        history = self._history
        history.add(self._seq, msg, self._now)
        if not self._flow_control:
            return
        live = self._nodes.live_count()
        if live > 1 and history.queued > HIST_WARN:
            level = "ERROR" if history.queued > HIST_ERROR else "WARN"
            self._log(level, f"Message hist queue is filling up ({history.queued} messages in queue)")
        if live < 2 and history.congested:
            # Alone, nobody will ACK: forget the backlog beyond the flow-control window.
            history.raise_ack(history.hiseq - (FLOWCONTROL_LIMIT - 1), self._now)

    def _send_status(self) -> None:
        msg = Message.of(t="status", st=self._local.status, dt=format(self._local.dead_ms, "x"))
        if self._flow_control:
            msg.append("protocol", PROTOCOL_VERSION)
        self._send(msg)

    def _set_local_status(self, status: str) -> None:
        old = self._local.status
        if status == old:
            return
        self._local.status = status
        self._emit(NodeStatus(self._local.name, old, status, None))
        self._send_status()
        self._log("info", f"Local status now set to: '{status}'")

    def _extend_deadtime(self, extra_ms: int) -> None:
        wanted = self._config.deadtime_ms + extra_ms
        if self._local.dead_ms < wanted:
            self._local.dead_ms = wanted
            self._send_status()
        self._dt_extra_count += 1

    def _restore_deadtime(self) -> None:
        self._dt_extra_count -= 1
        if self._dt_extra_count <= 0:
            self._dt_extra_count = 0
            self._local.dead_ms = self._config.deadtime_ms
            self._send_status()

    # -- receiving -------------------------------------------------------------
    def _process(self, link: str | None, msg: Message) -> None:
        """process_clustermsg: validate, identify, sequence-check, dispatch."""
        header = self._header(msg, "?" if link is None else link)
        if header is None:
            return
        mtype, src, seq, ts = header
        node = self._nodes.get(src)
        if node is None:
            # autojoin is refused in v1 (haresources) mode, so every stranger is bad.
            self._log("ERROR", f"process_status_message: bad node [{src}] in message")
            return
        node.heard = True
        verdict = self._admit(node, msg, mtype, seq)
        if verdict is None:
            return
        if link is not None:
            self._heard_on(node, link)
        if verdict is Verdict.DUPLICATE:
            return
        handler = self._handlers.get(mtype)
        if handler is not None:
            handler(node, msg, seq, ts)
        elif not mtype.startswith(NOSEQ_PREFIX):
            self._emit(Deliver(msg.copy(), node is self._local))
        self._check_comm_up()

    def _header(self, msg: Message, where: str) -> tuple[str, str, int, int] | None:
        """The type, sender, sequence number (0 for an unsequenced type) and timestamp every
        message must carry; None (logged, but a zero or bad timestamp silently) to drop it."""
        mtype, src, ts_text = _text(msg, "t"), _text(msg, "src"), _text(msg, "ts")
        if mtype is None or src is None or ts_text is None:
            self._log("ERROR", f"process_clustermsg: missing from/ts/type: iface {where}, from {src or '<?>'}")
            return None
        if "seq" in msg:
            seq = parse_hex(_text(msg, "seq"))
            if seq is None:
                self._log("ERROR", f"process_clustermsg: has bad cseq: iface {where}, from {src}")
                return None
        elif not mtype.startswith(NOSEQ_PREFIX):
            self._log("ERROR", f"process_clustermsg: missing seqno: iface {where}, from {src}")
            return None
        else:
            seq = 0
        ts = parse_hex(ts_text)
        if not ts:
            return None
        return mtype, src, seq, ts

    def _heard_on(self, node: Node, link: str) -> None:
        """A kept message is a sign of life of the link it came on (if the node has it)."""
        lnk = node.links.get(link)
        if lnk is not None:
            lnk.last = self._now
            if lnk.status != LINK_UP:
                self._set_link(node, lnk, LINK_UP)

    def _admit(self, node: Node, msg: Message, mtype: str, seq: int) -> Verdict | None:
        """should_drop_message: None to drop, DUPLICATE, or IN_ORDER to keep."""
        self._learn_uuid(node, msg)
        dest = _text(msg, "dest")
        if mtype.startswith(NOSEQ_PREFIX):
            return self._admit_unsequenced(node, msg, mtype, dest)
        if seq <= 0:
            self._log("ERROR", "should_drop_message: bad sequence number")
            return None
        gen = self._generation_of(msg)
        if gen is None:
            return None
        to_us = self._addressed_to_us(msg, dest)
        if gen < node.generation:
            self._log("ERROR", f"should_drop_message: attempted replay attack [{node.name}]? "
                               f"[gen = {gen}, curgen = {node.generation}]")
            return None
        if mtype.lower() != "status" and node.status == DEAD:
            # Its tracking was reset at its death, so anything would pass as in order:
            # a replayed `starting` or `ask_resources` must wait until a status of a new
            # generation (or a partition's return) brings the node back. 3.0.6 has no
            # such check and accepts the replay.
            return None
        if mtype.lower() == "status" and not self._check_generation(node, gen, seq):
            return None
        arrival = node.track.arrive(seq)
        if arrival.verdict is Verdict.DUPLICATE:
            return Verdict.DUPLICATE
        if arrival.verdict is Verdict.OLD:
            return None
        self._sequence(node, arrival)
        return Verdict.IN_ORDER if to_us else None

    def _admit_unsequenced(self, node: Node, msg: Message, mtype: str, dest: str | None) -> Verdict | None:
        """An unsequenced message is kept if it is for us; a retransmission request (NAK) goes to
        its handler and no further."""
        if mtype.lower() == "ns_nak_rexmit":
            self._on_nak(node, msg, dest)
            return None
        return Verdict.IN_ORDER if dest is None or dest == self._local.name else None

    def _generation_of(self, msg: Message) -> int | None:
        """The sender's generation (0 if the message has none); None (logged) if it is bad."""
        if "hg" not in msg:
            return 0
        gen = parse_hex(_text(msg, "hg"))
        if gen is None:
            self._log("ERROR", "should_drop_message: bad generation number")
        return gen

    def _check_generation(self, node: Node, gen: int, seq: int) -> bool:
        """Restart and healed-partition detection on status messages; False to drop."""
        if gen == node.generation and gen > 0:
            if node.status == DEAD:
                if seq <= node.status_seq:
                    return False      # an old status of a node we buried: keep it buried
                self._partition_return(node)
        elif gen > node.generation:
            if node.generation > 0:
                self._log("info", f"Heartbeat restart on node {node.name}")
                self._emit(PeerRestarted(node.name))
            self._reset_tracking(node)
            node.last_ts = 0
            # A restart is no late heartbeat: its interval counts from now.
            node.last_status_at = self._now
            node.status_seq = 0
        node.generation = gen
        return True

    def _sequence(self, node: Node, arrival: Arrival) -> None:
        """React to a kept arrival: log gaps, ask for what is missing, ACK."""
        verdict = arrival.verdict
        if verdict in (Verdict.GAP, Verdict.RESET):
            self._log("WARN", f"{arrival.lost} lost packet(s) for [{node.name}] "
                              f"[{arrival.previous}:{arrival.seq}]")
            self._rexmits.cancel(node.name, arrival.abandoned)
        if verdict is Verdict.RESET:
            self._log("ERROR", "lost a lot of packets!")
        elif verdict is Verdict.GAP:
            self._schedule_rexmits(node, arrival.missing)
        elif verdict is Verdict.FILLED:
            self._filled(node, arrival)
        else:
            self._ack(node, arrival.ack)

    def _filled(self, node: Node, arrival: Arrival) -> None:
        self._rexmits.cancel(node.name, (arrival.seq,))
        if arrival.emptied:
            self._log("info", f"No pkts missing from {node.name}!")
        self._ack(node, arrival.ack)

    def _addressed_to_us(self, msg: Message, dest: str | None) -> bool:
        destuuid = _uuid(msg, "destuuid")
        if destuuid is not None:
            return destuuid == self._local.uuid
        return dest is None or dest == self._local.name

    def _learn_uuid(self, node: Node, msg: Message) -> None:
        # Nodes are found by name; the uuid is learnt for `destuuid` and the API.
        # (The original looks up by uuid first and renames on conflicts; with
        # unique, persistent uuids both give the same node.)
        uuid = _uuid(msg, "srcuuid")
        if uuid is None or uuid == node.uuid:
            return
        if node.uuid is not None:
            self._log("ERROR", f"node {node.name} changed its uuid to {UUID(bytes=uuid)}")
        if node is not self._local:
            node.uuid = uuid

    def _partition_return(self, node: Node) -> None:
        self._log("CRIT", f"Cluster node {node.name} returning after partition.")
        self._log("info", f"For information on cluster partitions, See URL: {URL_BASE}Split_Brain")
        self._log("WARN", "Deadtime value may be too small.")
        self._log("info", "See FAQ for information on tuning deadtime.")
        self._log("info", f"URL: {URL_BASE}FAQ#Heavy_Load")
        self._send_status()
        self._emit(PartitionReturn(node.name))

    # -- handlers --------------------------------------------------------------
    def _on_status(self, node: Node, msg: Message, seq: int, ts: int) -> None:
        status = _text(msg, "st")
        if status is None:
            self._log("ERROR", "HBDoMsg_T_STATUS: status update without st field")
            return
        if ts < node.last_ts and seq < node.status_seq:
            return                        # we already have a newer status
        if node.kind != PING and self._flow_control and "protocol" not in msg:
            self._log("info", "flow control disabled due to different version heartbeat")
            self._flow_control = False
        interval = round((self._now - node.last_status_at) * 1000)
        if interval > self._config.deadtime_ms:
            self._log("CRIT", f"Late heartbeat: Node {node.name}: interval {interval} ms (> deadtime)")
            if node is not self._local:
                if node.status != DEAD and node.kind != PING:
                    # Still alive by its own dt (longer than ours, as while it starts), yet
                    # silent for longer than our deadtime: this message buries it and brings
                    # it back at once. 3.0.6 then takes its groups over while it still runs
                    # them; as a partition's return, the engine settles with it instead, and
                    # the burial that follows is the one a return always brings.
                    self._partition_return(node)
                self._mark_dead(node)
        elif interval > self._config.warntime_ms:
            self._log("WARN", f"Late heartbeat: Node {node.name}: interval {interval} ms")
        if status.lower() != node.status.lower() and node is not self._local:
            self._log("info", f"Status update for node {node.name}: status {status}")
            old, node.status = node.status, status
            self._emit(NodeStatus(node.name, old, status, _text(msg, "info"), msg.copy()))
        dt = parse_hex(_text(msg, "dt"))
        if dt is not None:
            node.dead_ms = dt
        node.last_ts = ts
        node.last_status_at = self._now
        node.status_seq = seq

    def _on_rexmit(self, node: Node, msg: Message, seq: int, ts: int) -> None:
        if node is self._local:
            return
        first, last = parse_dec(_text(msg, "firstseq")), parse_dec(_text(msg, "lastseq"))
        if first is None or last is None or first <= 0 or last <= 0 or first > last:
            self._log("ERROR", "Invalid rexmit seqnos")
            return
        min_gap = (self._config.max_rexmit_delay_ms - 10) / 1000
        handled = 0
        # Heartbeat asks for one seq at a time; the cap also bounds odd wide requests.
        for wanted in range(max(first, node.acked + 1), last + 1):
            if handled >= MAX_REXMIT_BATCH:
                return
            answer, sent = self._history.rexmit(wanted, self._now, min_gap)
            if answer is Rexmit.RECENT:
                continue
            handled += 1
            if answer is Rexmit.RESEND and sent is not None:  # RESEND always comes with its message
                sent.resent_at = self._now
                self._emit(Transmit(sent.msg.copy()))
            elif answer is Rexmit.TOO_HIGH:
                self._log("WARN", f"Rexmit of seq {wanted} requested. {self._history.hiseq} is max.")
            else:
                self._nak(node, wanted, answer.value)

    def _nak(self, node: Node, seq: int, reason: str) -> None:
        history = self._history
        self._log("ERROR", f"Cannot rexmit pkt {seq} for {node.name}: {reason}")
        self._log("info", f"fromnode ={node.name}, fromnode's ackseq = {node.acked}")
        self._log("info", "hist information:")
        self._log("info", f"hiseq ={history.hiseq}, lowseq={history.lowseq},"
                          f"ackseq={history.ackseq},lastmsg={history.last_slot}")
        self._send(Message.of(t="NS_nak_rexmit", firstseq=format(seq, "x"), dest=node.name, info=reason))

    def _on_nak(self, node: Node, msg: Message, dest: str | None) -> None:
        seq = parse_hex(_text(msg, "firstseq"))
        if seq is None or seq <= 0:
            self._log("ERROR", "should_drop_message: bad nak seq number")
            return
        if dest is None:
            self._log("WARN", "should_drop_message: tonodename not found heartbeat version not matching?")
        if dest is None or dest == self._local.name:
            self._log("ERROR", f"Irretrievably lost packet: node {node.name} seq {seq}")
        arrival = node.track.forget(seq)
        if arrival is not None:
            self._filled(node, arrival)

    def _on_ack(self, node: Node, msg: Message, seq: int, ts: int) -> None:
        if not self._flow_control:
            return
        dest = _text(msg, "dest")
        if dest is None or self._nodes.exact(dest) is not self._local:
            return
        ackseq = parse_hex(_text(msg, "ackseq"))
        history = self._history
        if ackseq is None or ackseq == node.acked or ackseq <= history.ackseq:
            return
        if ackseq > history.hiseq:
            self._log("ERROR", f"HBDoMsg_T_ACK: corrupted ackseq current hiseq = {history.hiseq} "
                               f"ackseq ={ackseq} in this message")
            return
        if ackseq < node.acked:
            return
        node.acked = ackseq
        if self._nodes.live_count() < 2:
            # Alone: keep at most the flow-control window so clients are never paused.
            history.raise_ack(max(history.ackseq, history.hiseq - (FLOWCONTROL_LIMIT - 1)), self._now)
            return
        lowest = min(n.acked for n in self._nodes.normal() if n.status != DEAD)
        if lowest > 0:
            history.raise_ack(lowest, self._now)

    def _on_reqnodes(self, node: Node, msg: Message, seq: int, ts: int) -> None:
        if node is self._local:
            self._log("ERROR", "HBDoMsg_T_REQNODES: get reqnodes msg from myself!")
            return
        names = "".join(f"{n.name} " for n in self._nodes.normal())
        deleted = "".join(f"{name} " for name in self._deleted) or " "
        # `dest` first: the original builds repnodes that way round.
        self._send(Message.of(dest=node.name, t="repnodes", nodelist=names, delnodelist=deleted))

    def _on_repnodes(self, node: Node, msg: Message, seq: int, ts: int) -> None:
        if node is self._local:
            return
        nodelist = _text(msg, "nodelist")
        if nodelist is not None:
            listed = [name.lower() for name in nodelist.split()]
            for name in listed:
                known = self._nodes.exact(name)
                if known is None:
                    self._log("info", f"hb_add_one_node: Adding new node[{name}] to configuration.")
                    self._nodes.add(name, NORMAL).reset_clock(self._now)
                elif known.kind != NORMAL:
                    self._log("ERROR", f"HBDoMsg_T_REPNODES: Incoming repnodes node list contains {name}")
            for other in self._nodes.normal():
                if other.name not in listed:
                    self._remove_node(other)
            self._got_reqnodes_reply = True
        deleted = _text(msg, "delnodelist")
        if deleted is not None:
            self._deleted = deleted.split()
            self._got_reqnodes_reply = True
        self._comm_now_up()

    def _remove_node(self, node: Node) -> None:
        self._log("info", f"Removing node [{node.name}] from configuration.")
        if node.status not in (DEAD, INIT):
            self._log("ERROR", f"remove_node: node {node.name} is {node.status}. Cannot remove alive node")
            self._log("ERROR", f"hb_remove_one_node: Deleting node({node.name}) failed")
            return
        self._rexmits.cancel_node(node.name)
        self._nodes.remove(node.name)

    # -- reliability -------------------------------------------------------------
    def _ack(self, node: Node, seq: int | None) -> None:
        if seq is not None and self._flow_control:
            self._send(Message.of(t="NS_ackmsg", dest=node.name, ackseq=format(seq, "x")))

    def _schedule_rexmits(self, node: Node, seqs) -> None:
        top = self._config.max_rexmit_delay_ms
        # The 50 ms floor lets merely reordered packets arrive before anyone asks.
        bottom = 0 if top < 100 else 50
        for seq in seqs:
            self._rexmits.schedule(node.name, seq, self._now + self._rng.randint(bottom, top) / 1000)

    def _request_rexmit(self, name: str, seq: int) -> None:
        node = self._nodes.exact(name)
        if node is None or node.status not in ALIVE:
            return                        # no point asking a dead node
        self._send(Message.of(t="NS_rexmit", dest=name, firstseq=str(seq), lastseq=str(seq)))
        self._rexmits.schedule(name, seq, self._now + self._config.max_rexmit_delay_ms / 1000)

    def _reset_tracking(self, node: Node) -> None:
        node.track.reset()
        self._rexmits.cancel_node(node.name)
        node.acked = 0

    # -- liveness ----------------------------------------------------------------
    def _dead_after_s(self, node: Node) -> float:
        # Until comm is up everybody gets initdead: networks can be slow to start.
        return (node.dead_ms if self._linksup else self._config.initdead_ms) / 1000

    def _node_deadline(self, node: Node) -> float:
        return node.last_status_at + self._dead_after_s(node)

    def _check_timeouts(self) -> None:
        # Our own status is processed as it is sent, and tick sends before it
        # scans, so only peers can be overdue here.
        for node in self._nodes:
            if node is not self._local and node.status != DEAD and self._now >= self._node_deadline(node):
                self._mark_dead(node)
        # The original uses the threshold it computed for the last node for every link.
        link_after = self._dead_after_s(self._nodes.last())
        for node in self._nodes:
            if node is self._local:
                continue
            for link in node.links.values():
                if link.status == LINK_UP and self._now >= link.last + link_after:
                    self._set_link(node, link, LINK_DEAD)

    def _mark_dead(self, node: Node) -> None:
        self._log("WARN", f"node {node.name}: is dead")
        old, node.status = node.status, DEAD
        self._emit(NodeStatus(node.name, old, DEAD, PING if node.kind == PING else None))
        node.last_ts = 0
        node.heard = False
        self._reset_tracking(node)

    def _set_link(self, node: Node, link: Link, status: str) -> None:
        link.status = status
        self._log("info", f"Link {node.name}:{link.name} {status}.")
        self._emit(LinkStatus(node.name, link.name, status))

    # -- joining -----------------------------------------------------------------
    def _check_comm_up(self) -> None:
        if not self._started or self._linksup:
            return
        if all(n.status == DEAD or self._status_known(n) for n in self._nodes):
            self._linksup = True
            if self._flow_control:
                self._send_reqnodes(0)
            else:
                self._comm_now_up()       # a mixed-version cluster has no node-list exchange

    @staticmethod
    def _status_known(node: Node) -> bool:
        """Heard from, and for a cluster node also its status (`last_ts` is kept from a
        status message until death). The original is content with any packet, but a
        peer of ours ACKs a joiner's first status and answers its reqnodes within
        milliseconds: comm-up then came before the peer's next keepalive, with the
        peer still `init`, and a legacy joiner, counting itself alone, granted itself
        groups the peer was running. The real daemon answers slowly enough that its
        joiners always see the peer's status first; waiting for it keeps that order."""
        return node.heard and (node.kind != NORMAL or node.last_ts != 0)

    def _send_reqnodes(self, start: int) -> None:
        if self._got_reqnodes_reply:
            return
        nodes = list(self._nodes)
        if start >= len(nodes):
            start = 0
        for index in range(start, len(nodes)):
            peer = nodes[index]
            if peer.status != DEAD and peer is not self._local and peer.kind == NORMAL:
                break
        else:
            self._got_reqnodes_reply = True
            self._comm_now_up()
            return
        self._send(Message.of(t="reqnodes", dest=peer.name))
        # Retries ask the same node again until it is dead, then move on down the list.
        self._reqnodes_index = index
        self._reqnodes_due = self._now + REQNODES_RETRY_S

    def _comm_now_up(self) -> None:
        if self._comm_up:
            return
        self._comm_up = True
        self._log("info", f"Comm_now_up(): updating status to {ACTIVE}")
        self._set_local_status(ACTIVE)
        self._emit(CommUp())
