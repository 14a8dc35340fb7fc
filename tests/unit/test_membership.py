"""Membership (wire-protocol §7, §8 and lab-findings §2): status, timers, links, node lists,
sequencing, rexmit, ACKs, generations, partitions and ping nodes, driven by a fake clock."""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import MappingProxyType

import pytest

from heartbeat.core.auth import Authenticator
from heartbeat.config.authkeys import AuthKey, AuthKeys
from heartbeat.core.codec import decode
from heartbeat.config.hacf import parse_hacf
from heartbeat.core.membership import (CommUp, Deliver, LinkStatus, Log, Membership, NodeStatus,
                                  PartitionReturn, PeerRestarted, Transmit)
from heartbeat.core.message import BINARY, Message

UUID1 = bytes.fromhex("1b33afa598d74e7a879a907cfd7022c7")
UUID2 = bytes.fromhex("2c44b0b6a9e85f8b98aba18d0e8133d8")
LOAD = "0.00 0.00 0.00 4/104 4475"
WALL = 1795542078.0            # 0x6b05cc3e
T0 = 1000.0                    # monotonic time of start()
PEER_GEN = 0x6b05cbed

LAB = """\
keepalive 1
deadtime 5
warntime 3
initdead 10
bcast eth0
node node1
node node2
"""


class FixedRandom(random.Random):
    """Every ACK trigger is `trigger`; every rexmit delay is `delay_ms` (None: the upper bound)."""

    def __init__(self, trigger: int = 0, delay_ms: int | None = None) -> None:
        super().__init__(0)
        self.trigger, self.delay_ms = trigger, delay_ms
        self.bounds: list[tuple[int, int]] = []

    def randrange(self, *args):
        return self.trigger

    def randint(self, a, b):
        self.bounds.append((a, b))
        return b if self.delay_ms is None else self.delay_ms


def peer(t: str, seq: int | None = None, *, src: str = "node2", gen: int = PEER_GEN,
         ts: int = 0x6b05cc40, uuid: bytes | None = UUID2, **fields: str) -> Message:
    """A message as node2 (3.0.6) sends it: its own fields, then the defaults in order."""
    msg = Message.of(t=t, **fields)
    msg.append("src", src)
    if uuid is not None:
        msg.append("srcuuid", uuid, BINARY)
    if seq is not None:
        msg.append("seq", format(seq, "x"))
    msg.append("hg", format(gen, "x"))
    msg.append("ts", format(ts, "x"))
    return msg


def status(seq: int, st: str = "up", dt: str = "1388", **kw) -> Message:
    return peer("status", seq, st=st, dt=dt, protocol="1", **kw)


def logs(actions) -> list[tuple[str, str]]:
    return [(a.level, a.text) for a in actions if isinstance(a, Log)]


def log_texts(actions) -> list[str]:
    return [a.text for a in actions if isinstance(a, Log)]


def sent(actions) -> list[Message]:
    return [a.msg for a in actions if isinstance(a, Transmit)]


def sent_types(actions) -> list[str]:
    return [m.type for m in sent(actions)]


def of_type(actions, kind) -> list:
    return [a for a in actions if isinstance(a, kind)]


def fields(msg: Message) -> dict:
    return {f.name: f.value for f in msg}


def config(text: str = LAB):
    return parse_hacf(text, "/etc/ha.d/ha.cf")


class Sim:
    """One Membership and its fake clocks; `now` only moves forward."""

    def __init__(self, text: str = LAB, rng: random.Random | None = None, gen: int = 5,
                 local: str = "node1", uuid: bytes = UUID1) -> None:
        self.rng = rng or FixedRandom()
        self.m = Membership(config(text), local, uuid, gen, rng=self.rng, loadavg=lambda: LOAD)
        self.now = T0

    def wall(self) -> float:
        return WALL + self.now - T0

    def at(self, now: float) -> None:
        assert now >= self.now
        self.now = now

    def start(self) -> list:
        return self.m.start(self.now, self.wall())

    def rx(self, now: float, msg: Message, link: str = "eth0") -> list:
        self.at(now)
        return self.m.receive(now, self.wall(), link, msg)

    def send(self, now: float, msg: Message) -> list:
        self.at(now)
        return self.m.send(now, self.wall(), msg)

    def run(self, until: float, limit: int = 10000) -> list:
        """Tick at every deadline up to `until`, as the daemon's loop does; bounded."""
        out = []
        for _ in range(limit):
            due = self.m.next_deadline()
            if due > until:
                break
            self.at(max(due, self.now))
            out += self.m.tick(self.now, self.wall())
        else:
            raise AssertionError("membership never settles")
        self.at(until)
        return out + self.m.tick(until, self.wall())


def started(text: str = LAB, **kw) -> tuple[Sim, list]:
    sim = Sim(text, **kw)
    return sim, sim.start()


def joined(text: str = LAB, **kw) -> Sim:
    """node1 active with node2 up: node2's status is seq 1, its repnodes seq 2."""
    sim, _ = started(text, **kw)
    assert "reqnodes" in sent_types(sim.rx(T0 + 0.5, status(1)))
    out = sim.rx(T0 + 0.6, peer("repnodes", 2, dest="node1", nodelist="node1 node2 ", delnodelist=" "))
    assert of_type(out, CommUp)
    return sim


# -- start-up (§7.4) -----------------------------------------------------------
def test_start_sends_init_then_up_twice_with_the_longer_deadtime():
    sim, out = started()
    statuses = [fields(msg) for msg in sent(out)]
    assert [(s["st"], s["seq"], s["dt"]) for s in statuses] == [
        ("init", "1", "1b58"), ("up", "2", "1b58"), ("up", "3", "1b58")]
    assert sent(out)[0].names() == ["t", "st", "dt", "protocol", "src", "srcuuid", "seq", "hg", "ts",
                                    "ld", "ttl"]
    first = statuses[0]
    assert (first["src"], first["srcuuid"], first["hg"], first["ts"], first["ld"], first["ttl"]) == \
        ("node1", UUID1, "5", "6b05cc3e", LOAD, "3")
    assert of_type(out, NodeStatus) == [NodeStatus("node1", "init", "up", None)]
    assert ("info", "Local status now set to: 'up'") in logs(out)
    assert sim.m.local_status == "up" and not sim.m.comm_up
    with pytest.raises(RuntimeError):
        sim.start()


def test_nothing_happens_before_start():
    sim = Sim()
    assert sim.m.next_deadline() == float("inf")
    assert sim.rx(T0, status(1)) == [] and sim.m.tick(T0, WALL) == []


def test_ttl_counts_ping_nodes():
    _, out = started(LAB + "ping 192.0.2.1\n")
    assert fields(sent(out)[0])["ttl"] == "4"


def test_own_messages_are_acked_to_ourselves_before_they_go_out():
    _, out = started(rng=FixedRandom(trigger=2))
    msgs = sent(out)
    assert [m.type for m in msgs] == ["status", "NS_ackmsg", "status", "status"]
    ack = fields(msgs[1])
    assert (ack["dest"], ack["ackseq"], ack["destuuid"]) == ("node1", "2", UUID1)
    assert "seq" not in ack and "ld" not in ack
    assert msgs[1].names() == ["t", "dest", "ackseq", "destuuid", "src", "srcuuid", "hg", "ts", "ttl"]


def test_status_every_keepalive_and_dt_back_to_deadtime_after_five_seconds():
    sim, _ = started()
    assert sim.m.next_deadline() == T0 + 1
    out = sim.run(T0 + 4.5)
    assert [fields(s)["dt"] for s in sent(out)] == ["1b58"] * 4
    assert [fields(s)["seq"] for s in sent(out)] == ["4", "5", "6", "7"]
    out = sim.run(T0 + 5.0)
    assert {fields(s)["dt"] for s in sent(out)} == {"1388"}
    assert sim.m.node_deadtime_ms("node1") == 5000
    out = sim.run(T0 + 8.0)
    assert [fields(s)["seq"] for s in sent(out) if s.type == "status"] == ["a", "b", "c"]


def test_late_wakeups_do_not_push_the_keepalive_schedule_but_a_stall_restarts_it():
    sim, _ = started()
    sent_at = []
    for beat in range(1, 31):
        sim.at(T0 + beat + 0.004)           # every wake-up 4 ms late, as a loaded loop's
        if sent(sim.m.tick(sim.now, sim.wall())):
            sent_at.append(sim.now)
        assert sim.m.next_deadline() == pytest.approx(T0 + beat + 1)   # not now + 1
    assert len(sent_at) == 30
    sim.at(T0 + 37.5)                          # a stall of several keepalives
    assert len([s for s in sent(sim.m.tick(sim.now, sim.wall())) if s.type == "status"]) == 1
    assert sim.m.next_deadline() == pytest.approx(T0 + 38.5)              # no catch-up burst


def test_extended_deadtime_is_advertised_until_every_extension_is_restored():
    sim, _ = started()
    sim.run(T0 + 6)
    out = sim.m.extend_deadtime(sim.now, sim.wall(), 30000)
    assert [fields(s)["dt"] for s in sent(out)] == [format(35000, "x")]
    assert sent(sim.m.extend_deadtime(sim.now, sim.wall(), 2000)) == []     # already longer
    assert sent(sim.m.restore_deadtime(sim.now, sim.wall())) == []          # one still active
    out = sim.m.restore_deadtime(sim.now, sim.wall())
    assert [fields(s)["dt"] for s in sent(out)] == ["1388"]


def test_absent_peer_is_dead_after_initdead_then_we_go_active_alone():
    sim, _ = started()
    assert not of_type(sim.run(T0 + 9.99), NodeStatus)
    out = sim.run(T0 + 10)
    assert ("WARN", "node node2: is dead") in logs(out)
    assert NodeStatus("node2", "init", "dead", None) in out
    assert "reqnodes" not in sent_types(out)
    assert ("info", "Comm_now_up(): updating status to active") in logs(out)
    assert ("info", "Local status now set to: 'active'") in logs(out)
    assert of_type(out, CommUp) and sim.m.comm_up and sim.m.local_status == "active"
    assert fields(sent(out)[-1])["st"] == "active"


def test_comm_up_exchanges_node_lists():
    sim, _ = started()
    out = sim.rx(T0 + 0.5, status(1, st="init", dt="1b58"))
    assert LinkStatus("node2", "eth0", "up") in out
    assert ("info", "Link node2:eth0 up.") in logs(out)
    assert not of_type(out, NodeStatus)                       # init is what we had
    req = [fields(s) for s in sent(out) if s.type == "reqnodes"]
    assert req == [{"t": "reqnodes", "dest": "node2", "destuuid": UUID2, "src": "node1", "srcuuid": UUID1,
                    "seq": "4", "hg": "5", "ts": "6b05cc3e", "ld": LOAD, "ttl": "3"}]
    assert sim.m.node_uuid("node2") == UUID2
    assert "reqnodes" in sent_types(sim.run(T0 + 1.5))        # no answer: asked again each second
    out = sim.rx(T0 + 1.6, status(2, st="up", dt="1b58"))
    assert ("info", "Status update for node node2: status up") in logs(out)
    assert [(c.node, c.old, c.new) for c in of_type(out, NodeStatus)] == [("node2", "init", "up")]
    out = sim.rx(T0 + 1.7, peer("repnodes", 3, dest="node1", nodelist="node1 node2 ", delnodelist=" "))
    assert of_type(out, CommUp) and sim.m.local_status == "active"
    assert not of_type(out, Deliver)                          # protocol-internal
    assert "reqnodes" not in sent_types(sim.run(T0 + 4))


def test_a_joiner_waits_for_the_peers_status_before_comm_up():
    # a running peer of ours ACKs our first status at once: that packet alone must not
    # start the node-list exchange, or comm-up comes with the peer still `init`
    sim, _ = started()
    out = sim.rx(T0 + 0.2, peer("NS_ackmsg", dest="node1", ackseq="1"))
    assert "reqnodes" not in sent_types(out) and not of_type(out, CommUp)
    out = sim.rx(T0 + 0.9, status(1, st="active"))
    assert ("info", "Status update for node node2: status active") in logs(out)
    assert "reqnodes" in sent_types(out)


def test_status_change_carries_the_status_message_and_its_info():
    sim, _ = started()
    change = of_type(sim.rx(T0 + 0.5, status(1, st="up", info="whatever")), NodeStatus)
    assert [(c.node, c.old, c.new, c.info) for c in change] == [("node2", "init", "up", "whatever")]
    assert fields(change[0].msg)["seq"] == "1"


def test_status_compare_ignores_case():
    sim, _ = started()
    sim.rx(T0 + 0.5, status(1, st="up"))
    assert not of_type(sim.rx(T0 + 1, status(2, st="UP")), NodeStatus)


def test_we_answer_reqnodes_with_dest_first_and_every_node():
    sim = joined()
    rep = [s for s in sent(sim.rx(T0 + 1, peer("reqnodes", 3, dest="node1"))) if s.type == "repnodes"]
    assert len(rep) == 1
    assert rep[0].names()[:4] == ["dest", "t", "nodelist", "delnodelist"]
    got = fields(rep[0])
    assert (got["dest"], got["nodelist"], got["delnodelist"], got["destuuid"]) == \
        ("node2", "node1 node2 ", " ", UUID2)


def test_reqnodes_from_ourselves_is_an_error():
    sim = joined()
    out = sim.rx(T0 + 1, peer("reqnodes", 99, src="node1", uuid=UUID1, gen=5, dest="node1"))
    assert ("ERROR", "HBDoMsg_T_REQNODES: get reqnodes msg from myself!") in logs(out)


def test_repnodes_adds_unknown_nodes_and_removes_unlisted_silent_ones():
    sim, _ = started(LAB + "node node3\n")
    sim.rx(T0 + 0.5, status(1))
    out = sim.rx(T0 + 0.6, peer("repnodes", 2, dest="node1", nodelist="node1 node2 node4 ",
                                delnodelist="node5 "))
    assert ("info", "hb_add_one_node: Adding new node[node4] to configuration.") in logs(out)
    assert ("info", "Removing node [node3] from configuration.") in logs(out)
    assert sim.m.node_names() == ["node1", "node2", "node4"]
    assert sim.m.node_status("node4") == "init"
    rep = [s for s in sent(sim.rx(T0 + 1, peer("reqnodes", 3, dest="node1"))) if s.type == "repnodes"]
    assert (fields(rep[0])["nodelist"], fields(rep[0])["delnodelist"]) == ("node1 node2 node4 ", "node5 ")


def test_repnodes_never_removes_a_live_node():
    sim, _ = started(LAB + "node node3\n")
    sim.rx(T0 + 0.5, status(1))
    sim.rx(T0 + 0.5, status(1, src="node3", uuid=None))
    out = sim.rx(T0 + 0.6, peer("repnodes", 2, dest="node1", nodelist="node1 node2 ", delnodelist=" "))
    assert ("ERROR", "remove_node: node node3 is up. Cannot remove alive node") in logs(out)
    assert ("ERROR", "hb_remove_one_node: Deleting node(node3) failed") in logs(out)
    assert "node3" in sim.m.node_names()


def test_reqnodes_moves_on_to_the_next_live_node():
    sim, _ = started(LAB + "node node3\n")
    sim.rx(T0 + 0.5, status(1))
    out = sim.rx(T0 + 0.5, status(1, src="node3", uuid=None))
    assert [fields(s)["dest"] for s in sent(out) if s.type == "reqnodes"] == ["node2"]
    # node2 falls silent; the retries ask it until it is dead, then node3
    out = []
    for i in range(7):
        out += sim.run(T0 + 1 + i)
        out += sim.rx(T0 + 1 + i, status(2 + i, src="node3", uuid=None))
    asked = [fields(s)["dest"] for s in sent(out) if s.type == "reqnodes"]
    assert ("WARN", "node node2: is dead") in logs(out)
    assert asked == ["node2"] * 5 + ["node3"]


# -- death and lateness (§7.3, §7.6, lab-findings §2) ------------------------
def test_after_comm_up_a_peer_is_dead_after_its_advertised_deadtime():
    sim = joined()
    sim.rx(T0 + 1, status(3, dt="2710"))                      # node2 asks for 10 s
    assert not of_type(sim.run(T0 + 10.99), NodeStatus)
    out = sim.run(T0 + 11)
    assert logs(out)[0] == ("WARN", "node node2: is dead")
    assert NodeStatus("node2", "up", "dead", None) in out
    # the node goes first, then its links (the 3.0.6 log order)
    assert log_texts(out).index("Link node2:eth0 dead.") > log_texts(out).index("node node2: is dead")
    assert sim.m.node_status("node2") == "dead" and sim.m.link_status("node2", "eth0") == "dead"


def test_late_heartbeat_between_warntime_and_deadtime_only_warns():
    sim = joined()
    out = sim.rx(T0 + 0.5 + 4.01, status(3))
    assert ("WARN", "Late heartbeat: Node node2: interval 4010 ms") in logs(out)
    assert sim.m.node_status("node2") == "up"
    assert not [t for t in log_texts(sim.rx(T0 + 7, status(4))) if "Late" in t]   # 2.99 s: in time


def test_no_warning_at_warntime_without_a_late_heartbeat():
    sim = joined()
    assert not [t for t in log_texts(sim.run(T0 + 4)) if "Late" in t]


def test_heartbeat_later_than_deadtime_kills_then_revives_as_a_partition_return():
    sim = joined()
    sim.rx(T0 + 1, status(3, dt="2710"))
    out = sim.rx(T0 + 8, status(4, st="active", dt="2710"))
    texts = logs(out)
    assert texts[0] == ("CRIT", "Late heartbeat: Node node2: interval 7000 ms (> deadtime)")
    assert texts[1] == ("CRIT", "Cluster node node2 returning after partition.")
    assert (texts.index(("WARN", "node node2: is dead"))
            < texts.index(("info", "Status update for node node2: status active")))
    assert [(c.old, c.new) for c in of_type(out, NodeStatus)] == [("up", "dead"), ("dead", "active")]
    # the return comes before the burial, as with a node heard again after its death: the
    # engine settles with the peer (healing) instead of taking over groups the peer still
    # runs, which 3.0.6 does here (issue 8 row 6, simulated 40% loss, legacy seed 6)
    assert out.index(PartitionReturn("node2")) < out.index(of_type(out, NodeStatus)[0])


def test_own_late_heartbeat_after_a_stall_is_logged_but_we_never_die():
    sim = joined()
    sim.run(T0 + 2)
    out = sim.m.tick(T0 + 10.5, sim.wall() + 8.5)
    sim.at(T0 + 10.5)
    assert logs(out)[0] == ("CRIT", "Late heartbeat: Node node1: interval 8500 ms (> deadtime)")
    assert ("WARN", "node node2: is dead") in logs(out)
    assert sim.m.local_status == "active"
    assert not [a for a in out if isinstance(a, NodeStatus) and a.node == "node1"]


def test_only_status_messages_keep_a_node_alive():
    sim = joined()
    out = []
    for i in range(12):
        out += sim.rx(T0 + 1 + i * 0.5, peer("chatter", 3 + i))
    assert ("WARN", "node node2: is dead") in logs(out + sim.run(T0 + 6.6))
    assert sim.m.link_status("node2", "eth0") == "up"         # but any packet keeps the link up


def test_dead_node_keeps_dying_without_extra_reports():
    sim = joined()
    out = sim.run(T0 + 30)
    assert of_type(out, NodeStatus) == [NodeStatus("node2", "up", "dead", None)]
    assert T0 + 30 < sim.m.next_deadline() <= T0 + 31          # only our keepalive is due


# -- links (§7.6) ---------------------------------------------------------------
TWO_LINKS = LAB.replace("bcast eth0", "bcast eth0 eth1")


def test_each_medium_has_its_own_link_and_duplicates_only_refresh_it():
    sim, _ = started(TWO_LINKS)
    assert sim.m.link_names("node2") == ["eth0", "eth1"]
    assert sim.m.link_status("node2", "eth1") == "dead"
    msg = peer("resource", 1, rsc_hold="all")
    first = sim.rx(T0 + 0.5, msg, "eth0")
    again = sim.rx(T0 + 0.5, msg, "eth1")
    assert len(of_type(first, Deliver)) == 1 and not of_type(again, Deliver)
    assert logs(again) == [("info", "Link node2:eth1 up.")]
    assert sim.m.link_status("node2", "eth1") == "up"


def test_a_silent_medium_dies_alone():
    sim = joined(TWO_LINKS)
    for i in range(8):
        sim.rx(T0 + 1 + i, status(3 + i), "eth0")
        if i < 2:                                        # eth1 falls silent after two seconds
            sim.rx(T0 + 1 + i, status(3 + i), "eth1")
    out = sim.run(T0 + 8.5)
    assert sim.m.link_status("node2", "eth1") == "dead" and sim.m.link_status("node2", "eth0") == "up"
    assert sim.m.node_status("node2") == "up"
    assert ("info", "Link node2:eth1 dead.") in logs(out)
    assert LinkStatus("node2", "eth1", "dead") in out


def test_link_threshold_is_the_last_nodes_deadtime_for_everyone():
    sim, _ = started(LAB + "deadping 20\nping 192.0.2.1\n")
    sim.rx(T0 + 0.4, ping_reply(), "192.0.2.1")
    sim.rx(T0 + 0.5, status(1))
    sim.rx(T0 + 0.6, peer("repnodes", 2, dest="node1", nodelist="node1 node2 ", delnodelist=" "))
    out = sim.run(T0 + 6)
    assert ("WARN", "node node2: is dead") in logs(out)
    assert sim.m.link_status("node2", "eth0") == "up"         # the ping node's 20 s apply
    assert ("info", "Link node2:eth0 dead.") not in logs(sim.run(T0 + 20.59))
    assert ("info", "Link node2:eth0 dead.") in logs(sim.run(T0 + 20.6))


# -- ping nodes (§6.6) -----------------------------------------------------------
PING = LAB + "deadping 4\nping 192.0.2.1\n"


def ping_reply(ts: int = 0x6b05cc40) -> Message:
    return Message.of(t="NS_st", st="ping", info="ping", src="192.0.2.1", ts=format(ts, "x"))


def test_ping_node_answers_become_status_ping_on_its_own_link():
    sim, _ = started(PING)
    assert sim.m.node_names() == ["node1", "node2", "192.0.2.1"]
    assert sim.m.node_type("192.0.2.1") == "ping" and sim.m.node_type("node2") == "normal"
    assert sim.m.link_names("192.0.2.1") == ["192.0.2.1"] and sim.m.link_names("node2") == ["eth0"]
    out = sim.rx(T0 + 0.1, ping_reply(), "192.0.2.1")
    assert logs(out) == [("info", "Link 192.0.2.1:192.0.2.1 up."),
                         ("info", "Status update for node 192.0.2.1: status ping")]
    assert sim.m.flow_control                                  # no protocol field, but a ping node
    assert not of_type(out, Deliver) and not sent(out)


def test_comm_up_waits_for_the_ping_node_too():
    sim, _ = started(PING)
    assert "reqnodes" not in sent_types(sim.rx(T0 + 0.5, status(1)))
    assert "reqnodes" in sent_types(sim.rx(T0 + 0.6, ping_reply(), "192.0.2.1"))


def test_silent_ping_node_dies_after_deadping():
    sim, _ = started(PING)
    sim.rx(T0 + 0.1, ping_reply(), "192.0.2.1")
    sim.rx(T0 + 0.5, status(1))
    sim.rx(T0 + 0.6, peer("repnodes", 2, dest="node1", nodelist="node1 node2 ", delnodelist=" "))
    for i in range(3):
        sim.rx(T0 + 1 + i, status(3 + i))
    out = sim.run(T0 + 4.09)
    assert not of_type(out, NodeStatus)
    out = sim.run(T0 + 4.1)
    assert NodeStatus("192.0.2.1", "ping", "dead", "ping") in out
    assert logs(out) == [("WARN", "node 192.0.2.1: is dead"), ("info", "Link 192.0.2.1:192.0.2.1 dead.")]


# -- acceptance (§8.2) ----------------------------------------------------------
def test_messages_to_us_are_delivered_once_and_ours_too():
    sim = joined()
    msg = peer("resource", 3, rsc_hold="all", rtype="full", isstable="1")
    assert of_type(sim.rx(T0 + 1, msg), Deliver) == [Deliver(msg, False)]
    assert not of_type(sim.rx(T0 + 1, msg), Deliver)                  # duplicate
    out = sim.send(T0 + 1, Message.of(t="resource", rsc_hold="local"))
    [own] = of_type(out, Deliver)
    assert own.own and fields(own.msg)["src"] == "node1"
    assert sent(out)[-1] == own.msg                                    # the same stamped message


def test_messages_for_others_are_tracked_but_not_delivered():
    sim = joined()
    assert not of_type(sim.rx(T0 + 1, peer("ip-request-resp", 3, dest="node3")), Deliver)
    other_uuid = peer("resource", 4, dest="node1")
    other_uuid.append("destuuid", bytes(range(1, 17)), BINARY)        # the uuid decides
    assert not of_type(sim.rx(T0 + 1, other_uuid), Deliver)
    ours = peer("resource", 5, dest="nodeX")
    ours.append("destuuid", UUID1, BINARY)
    assert of_type(sim.rx(T0 + 1, ours), Deliver)
    assert sim.m.missing_seqs("node2") == ()


def test_destuuid_is_added_once_the_peer_uuid_is_known():
    sim = joined()
    [msg] = sent(sim.send(T0 + 1, Message.of(t="ip-request-resp", dest="node2", weown="yes")))
    assert msg.names()[:4] == ["t", "dest", "weown", "destuuid"] and fields(msg)["destuuid"] == UUID2


@pytest.mark.parametrize("msg, text", [
    (Message.of(src="node2", seq="3", ts="6b05cc40"),
     "process_clustermsg: missing from/ts/type: iface eth0, from node2"),
    (Message.of(t="x", seq="3", ts="6b05cc40"), "process_clustermsg: missing from/ts/type: iface eth0, from <?>"),
    (Message.of(t="x", src="node2", seq="3"), "process_clustermsg: missing from/ts/type: iface eth0, from node2"),
    (Message.of(t="x", src="node2", ts="6b05cc40"), "process_clustermsg: missing seqno: iface eth0, from node2"),
    (Message.of(t="x", src="node2", seq="zz", ts="6b05cc40"),
     "process_clustermsg: has bad cseq: iface eth0, from node2"),
    (Message.of(t="x", src="node9", seq="3", ts="6b05cc40"), "process_status_message: bad node [node9] in message"),
    (Message.of(t="x", src="node2", seq="0", ts="6b05cc40"), "should_drop_message: bad sequence number"),
    (Message.of(t="x", src="node2", seq="3", hg="?", ts="6b05cc40"), "should_drop_message: bad generation number"),
    (Message.of(t="status", src="node2", seq="3", hg=format(PEER_GEN, "x"), ts="6b05cc40"),
     "HBDoMsg_T_STATUS: status update without st field"),
])
def test_bad_messages_are_dropped_with_the_originals_error(msg, text):
    sim = joined()
    out = sim.rx(T0 + 1, msg)
    assert ("ERROR", text) in logs(out)
    assert not of_type(out, Deliver) and not of_type(out, NodeStatus)


@pytest.mark.parametrize("ts", [None, "0", "xyz"])
def test_zero_or_unparsable_ts_is_dropped_silently(ts):
    sim = joined()
    msg = peer("resource", 3)
    msg.remove("ts")
    if ts is not None:
        msg.append("ts", ts)
    out = sim.rx(T0 + 1, msg)
    assert not of_type(out, Deliver)
    assert bool(logs(out)) == (ts is None)        # only a missing ts is worth an error


def test_names_are_matched_case_insensitively():
    sim = joined()
    assert of_type(sim.rx(T0 + 1, peer("resource", 3, src="NODE2")), Deliver)


def test_a_stale_status_is_ignored():
    sim, _ = started()
    sim.rx(T0 + 0.5, status(1, ts=100))
    sim.rx(T0 + 0.6, status(3, st="active", ts=102))
    out = sim.rx(T0 + 0.7, status(2, st="up", ts=101))       # a filled gap, but older in both
    assert not of_type(out, NodeStatus) and sim.m.node_status("node2") == "active"


# -- gaps and retransmission requests (§8.2, §8.3, lab-findings §2b) ---------------
def test_gap_is_warned_requested_in_decimal_and_filled():
    rng = FixedRandom(delay_ms=120)
    sim = joined(rng=rng)
    for seq in range(3, 0x1e):
        sim.rx(T0 + 1, peer("x", seq))
    out = sim.rx(T0 + 1.1, peer("x", 0x1f))
    assert ("WARN", "1 lost packet(s) for [node2] [29:31]") in logs(out)
    assert rng.bounds[-1] == (50, 250)
    assert sim.m.missing_seqs("node2") == (0x1e,)
    assert not [s for s in sent(sim.run(T0 + 1.219)) if s.type == "NS_rexmit"]
    req = [s for s in sent(sim.run(T0 + 1.22)) if s.type == "NS_rexmit"]
    assert [fields(r) | {"srcuuid": None} for r in req] == [{
        "t": "NS_rexmit", "dest": "node2", "firstseq": "30", "lastseq": "30", "destuuid": UUID2,
        "src": "node1", "srcuuid": None, "hg": "5", "ts": format(int(WALL + 1.22), "x"), "ttl": "3"}]
    # asked again every max_rexmit_delay until it comes
    assert [fields(r)["firstseq"] for r in sent(sim.run(T0 + 1.47)) if r.type == "NS_rexmit"] == ["30"]
    out = sim.rx(T0 + 1.5, peer("x", 0x1e))
    assert ("info", "No pkts missing from node2!") in logs(out)
    assert of_type(out, Deliver)                                    # the filled packet is kept
    assert sim.m.missing_seqs("node2") == ()
    assert not [s for s in sent(sim.run(T0 + 3)) if s.type == "NS_rexmit"]
    assert not of_type(sim.rx(T0 + 3, peer("x", 0x1e)), Deliver)    # now an old duplicate


def test_small_max_rexmit_delay_has_no_floor():
    rng = FixedRandom()
    sim = joined(LAB + "max_rexmit_delay 80\n", rng=rng)
    sim.rx(T0 + 1, peer("x", 5))
    assert rng.bounds[-2:] == [(0, 80)] * 2     # for 3 and 4


def test_no_rexmit_requests_to_a_node_that_is_not_up():
    sim, _ = started()
    sim.rx(T0 + 0.5, status(1, st="init"))
    sim.rx(T0 + 0.6, peer("x", 3))
    assert not [s for s in sent(sim.run(T0 + 2)) if s.type == "NS_rexmit"]


def test_each_missing_number_is_requested_on_its_own():
    sim = joined()
    out = sim.rx(T0 + 1, peer("x", 6))
    assert ("WARN", "3 lost packet(s) for [node2] [2:6]") in logs(out)
    out = sim.rx(T0 + 1, peer("x", 3)) + sim.run(T0 + 1.25)
    asked = sorted((fields(r)["firstseq"], fields(r)["lastseq"]) for r in sent(out) if r.type == "NS_rexmit")
    assert asked == [("4", "4"), ("5", "5")]


def test_a_huge_gap_restarts_tracking():
    sim = joined()
    out = sim.rx(T0 + 1, peer("x", 300))
    assert logs(out)[:2] == [("WARN", "297 lost packet(s) for [node2] [2:300]"), ("ERROR", "lost a lot of packets!")]
    assert sim.m.missing_seqs("node2") == ()
    assert not [s for s in sent(sim.run(T0 + 2)) if s.type == "NS_rexmit"]
    assert of_type(sim.rx(T0 + 2, peer("x", 301)), Deliver)


def test_a_nak_stops_the_requests():
    sim = joined()
    sim.rx(T0 + 1, peer("x", 4))
    out = sim.rx(T0 + 1.1, peer("NS_nak_rexmit", firstseq="3", dest="node1", info="seqno too low"))
    assert ("ERROR", "Irretrievably lost packet: node node2 seq 3") in logs(out)
    assert sim.m.missing_seqs("node2") == ()
    assert not [s for s in sent(sim.run(T0 + 2)) if s.type == "NS_rexmit"]


def test_bad_naks_are_refused():
    sim = joined()
    out = sim.rx(T0 + 1, peer("NS_nak_rexmit", firstseq="0", dest="node1"))
    assert logs(out) == [("ERROR", "should_drop_message: bad nak seq number")]
    out = sim.rx(T0 + 1, peer("NS_nak_rexmit", firstseq="5"))
    assert ("WARN", "should_drop_message: tonodename not found heartbeat version not matching?") in logs(out)


# -- answering retransmission requests (§8.3) ---------------------------------------
def rexmit(first: int, last: int | None = None, seq_text: str | None = None) -> Message:
    return peer("NS_rexmit", dest="node1", firstseq=seq_text or str(first), lastseq=str(last or first))


def test_we_resend_the_stored_message_unchanged_but_not_twice_within_240_ms():
    sim = joined()
    [original] = [m for m in sent(sim.send(T0 + 1, Message.of(t="x", n="1"))) if m.type == "x"]
    seq = int(fields(original)["seq"], 16)
    sim.run(T0 + 3)
    out = sim.rx(T0 + 3, rexmit(seq))
    assert sent(out) == [original]
    assert sent(sim.rx(T0 + 3.23, rexmit(seq))) == []
    assert sent(sim.rx(T0 + 3.24, rexmit(seq))) == [original]


def test_rexmit_of_a_number_never_sent_is_only_warned():
    sim = joined()
    out = sim.rx(T0 + 1, rexmit(99))
    assert logs(out) == [("WARN", "Rexmit of seq 99 requested. 5 is max.")] and not sent(out)


def test_rexmit_of_forgotten_numbers_is_naked():
    sim = joined()
    out = []
    for _ in range(500):
        out += sim.send(T0 + 1, Message.of(t="x"))
    assert ("WARN", "Message hist queue is filling up (376 messages in queue)") in logs(out)
    assert ("ERROR", "Message hist queue is filling up (451 messages in queue)") in logs(out)
    out = sim.rx(T0 + 1.5, rexmit(2))
    assert logs(out)[:4] == [("ERROR", "Cannot rexmit pkt 2 for node2: seqno too low"),
                             ("info", "fromnode =node2, fromnode's ackseq = 0"),
                             ("info", "hist information:"),
                             ("info", "hiseq =505, lowseq=5,ackseq=0,lastmsg=4")]
    [nak] = sent(out)
    assert (nak.names()[:4], fields(nak)["firstseq"], fields(nak)["info"]) == \
        (["t", "firstseq", "dest", "info"], "2", "seqno too low")
    assert "seq" not in nak


def test_rexmit_requests_from_ourselves_or_with_bad_numbers():
    sim = joined()
    out = sim.rx(T0 + 1, peer("NS_rexmit", src="node1", uuid=UUID1, gen=5, dest="node1",
                              firstseq="1", lastseq="1"))
    assert not sent(out) and logs(out) == [("info", "Link node1:eth0 up.")]   # our own broadcast
    for first, last in (("0", "1"), ("3", "2"), ("x", "3")):
        out = sim.rx(T0 + 1, peer("NS_rexmit", dest="node1", firstseq=first, lastseq=last))
        assert logs(out) == [("ERROR", "Invalid rexmit seqnos")]


def test_rexmit_skips_what_the_requester_acknowledged_and_caps_a_batch_at_50():
    sim = joined()
    for _ in range(80):
        sim.send(T0 + 1, Message.of(t="x"))
    sim.rx(T0 + 1.1, peer("NS_ackmsg", dest="node1", ackseq=format(10, "x")))
    out = sim.rx(T0 + 1.2, rexmit(1, 85))
    resent = [int(fields(m)["seq"], 16) for m in sent(out)]
    assert resent == list(range(11, 61))
    assert not logs(out)


def test_rexmit_ignores_messages_for_someone_else():
    sim = joined()
    out = sim.rx(T0 + 1, peer("NS_rexmit", dest="node3", firstseq="1", lastseq="1"))
    assert not sent(out)


# -- ACKs (§8.4) --------------------------------------------------------------------
def test_in_order_packets_are_acked_at_our_trigger_residue():
    sim = joined(rng=FixedRandom(trigger=3))
    out = []
    for seq in range(3, 24):
        out += sim.rx(T0 + 1, peer("x", seq))
    acks = [fields(m) for m in sent(out) if m.type == "NS_ackmsg"]
    assert [(a["dest"], a["ackseq"]) for a in acks] == [("node2", "3"), ("node2", "d"), ("node2", "17")]


def test_no_ack_while_an_earlier_number_is_missing_then_a_catch_up_ack():
    sim = joined(rng=FixedRandom(trigger=3))
    out = sim.rx(T0 + 1, peer("x", 4)) + sim.rx(T0 + 1, peer("x", 6))    # 3 and 5 missing
    for seq in range(7, 15):
        out += sim.rx(T0 + 1, peer("x", seq))
    assert not [m for m in sent(out) if m.type == "NS_ackmsg"]
    out = sim.rx(T0 + 1.1, peer("x", 3))                                   # 5 still missing
    assert [fields(m)["ackseq"] for m in sent(out) if m.type == "NS_ackmsg"] == ["3"]
    out = sim.rx(T0 + 1.1, peer("x", 5))                                   # the last hole
    assert not [m for m in sent(out) if m.type == "NS_ackmsg"]
    out = []
    for seq in range(15, 24):
        out += sim.rx(T0 + 1.2, peer("x", seq))
    assert [fields(m)["ackseq"] for m in sent(out) if m.type == "NS_ackmsg"] == ["17"]


def test_acks_free_the_history_and_unpause_clients():
    sim = joined()
    for _ in range(260):
        sim.send(T0 + 1, Message.of(t="x"))
    assert sim.m.congested
    out = sim.rx(T0 + 1.1, peer("NS_ackmsg", dest="node1", ackseq=format(200, "x")))
    assert not sim.m.congested and not logs(out)


def test_a_corrupted_ack_is_refused():
    sim = joined()
    out = sim.rx(T0 + 1, peer("NS_ackmsg", dest="node1", ackseq="99"))
    assert logs(out) == [("ERROR", "HBDoMsg_T_ACK: corrupted ackseq current hiseq = 5 ackseq =153 "
                                   "in this message")]


def test_alone_we_never_pause_clients():
    sim, _ = started()
    sim.run(T0 + 10)                                                       # node2 dead, active alone
    out = []
    for _ in range(600):
        out += sim.send(T0 + 20, Message.of(t="x"))
    assert not sim.m.congested
    assert not [t for t in log_texts(out) if "hist queue" in t]


# -- flow control (§7.3) --------------------------------------------------------------
def test_an_old_peer_disables_flow_control_acks_and_the_node_list_exchange():
    sim, _ = started(rng=FixedRandom(trigger=1))
    old = peer("status", 1, st="up", dt="1388")
    out = sim.rx(T0 + 0.5, old)
    assert ("info", "flow control disabled due to different version heartbeat") in logs(out)
    assert not sim.m.flow_control
    assert "reqnodes" not in sent_types(out)
    assert of_type(out, CommUp) and sim.m.local_status == "active"
    assert [fields(m) for m in sent(out) if m.type == "status"][-1].get("protocol") is None
    sent_out = []
    for seq in range(2, 30):
        sent_out += sim.rx(T0 + 0.6, peer("x", seq))
    assert "NS_ackmsg" not in sent_types(sent_out)


# -- generations, restarts, partitions (§7.8, lab-findings §2f) ------------------------
def test_higher_generation_is_a_restart_and_numbering_starts_again():
    sim = joined()
    for seq in range(3, 9):
        sim.rx(T0 + 1, peer("x", seq))
    out = sim.rx(T0 + 2, status(1, st="init", gen=PEER_GEN + 1))
    assert ("info", "Heartbeat restart on node node2") in logs(out)
    assert PeerRestarted("node2") in out
    assert not [t for t in log_texts(out) if "lost" in t]
    assert [(c.old, c.new) for c in of_type(out, NodeStatus)] == [("up", "init")]
    assert of_type(sim.rx(T0 + 2, peer("x", 2, gen=PEER_GEN + 1)), Deliver)
    assert sim.m.missing_seqs("node2") == ()


def test_lower_generation_is_a_replay():
    sim = joined()
    out = sim.rx(T0 + 1, status(3, gen=PEER_GEN - 1))
    assert logs(out) == [("ERROR", "should_drop_message: attempted replay attack [node2]? "
                                   f"[gen = {PEER_GEN - 1}, curgen = {PEER_GEN}]")]


def test_first_generation_seen_is_no_restart():
    sim, _ = started()
    sim.run(T0 + 10)                                      # node2 dead, never heard
    out = sim.rx(T0 + 11, status(1))
    assert not [t for t in log_texts(out) if "restart" in t or "partition" in t]
    assert [(c.old, c.new) for c in of_type(out, NodeStatus)] == [("dead", "up")]


def test_a_node_we_buried_returning_in_the_same_generation_is_a_partition():
    sim = joined()
    for i in range(3):
        sim.rx(T0 + 1 + i, status(3 + i, st="active"))
    sim.run(T0 + 30)                                      # dead at +8
    assert sim.m.node_status("node2") == "dead"
    assert not logs(sim.rx(T0 + 30, status(5, st="active")))  # an old status keeps it buried
    assert sim.m.node_status("node2") == "dead"
    out = sim.rx(T0 + 30, status(40, st="active"))
    # the 3.0.6 log order of lab-findings §2f
    assert logs(out)[:8] == [
        ("CRIT", "Cluster node node2 returning after partition."),
        ("info", "For information on cluster partitions, See URL: http://linux-ha.org/wiki/Split_Brain"),
        ("WARN", "Deadtime value may be too small."),
        ("info", "See FAQ for information on tuning deadtime."),
        ("info", "URL: http://linux-ha.org/wiki/FAQ#Heavy_Load"),
        ("info", "Link node2:eth0 up."),
        ("CRIT", "Late heartbeat: Node node2: interval 27000 ms (> deadtime)"),
        ("WARN", "node node2: is dead"),
    ]
    assert ("info", "Status update for node node2: status active") in logs(out)
    assert PartitionReturn("node2") in out
    assert [(c.old, c.new) for c in of_type(out, NodeStatus)] == [("dead", "dead"), ("dead", "active")]


def test_ping_host_names_are_lower_cased_like_every_node_name():
    sim, _ = started(LAB + "ping Router.Example\n")
    assert sim.m.node_names() == ["node1", "node2", "router.example"]
    assert sim.m.link_names("router.example") == ["Router.Example"]
    reply = Message.of(t="NS_st", st="ping", info="ping", src="Router.Example", ts="6b05cc40")
    out = sim.rx(T0 + 0.1, reply, "Router.Example")
    assert logs(out) == [("info", "Link router.example:Router.Example up."),
                         ("info", "Status update for node router.example: status ping")]


def test_a_restart_is_no_late_heartbeat():
    sim = joined()
    out = sim.rx(T0 + 0.5 + 4.2, status(1, st="init", gen=PEER_GEN + 1))   # after warntime
    assert ("info", "Heartbeat restart on node node2") in logs(out)
    assert not [t for t in log_texts(out) if "Late" in t]


def test_a_restart_status_without_st_keeps_the_node_alive():
    sim = joined()
    msg = peer("status", 1, gen=PEER_GEN + 1, dt="1388")
    out = sim.rx(T0 + 1, msg)
    assert ("ERROR", "HBDoMsg_T_STATUS: status update without st field") in logs(out)
    assert sim.m.next_deadline() >= T0 + 1          # not overdue at once
    assert not of_type(sim.m.tick(T0 + 1, sim.wall()), NodeStatus)
    assert sim.m.node_status("node2") == "up"


def test_a_new_uuid_for_a_known_name_replaces_the_old_one():
    sim = joined()
    other = bytes.fromhex("0123456789abcdef0123456789abcdef")
    out = sim.rx(T0 + 1, peer("x", 3, uuid=other))
    assert ("ERROR", "node node2 changed its uuid to 01234567-89ab-cdef-0123-456789abcdef") in logs(out)
    assert sim.m.node_uuid("node2") == other
    assert not logs(sim.rx(T0 + 1, peer("x", 4, uuid=other)))
    assert not logs(sim.rx(T0 + 1, peer("x", 5, uuid=bytes(16))))     # all zero is "no uuid"


# -- two of ours over a lossy wire ----------------------------------------------------------
def run_pair(loss: float, seconds: float, seed: int = 7, every: float = 0.3):
    """node1 and node2 (both ours) exchanging app messages every `every` s over a wire that
    loses `loss` of the packets; returns the sims, each node's actions and the app payloads sent."""
    wire = random.Random(seed)
    sims = {"node1": Sim(rng=random.Random(seed + 1)),
            "node2": Sim(rng=random.Random(seed + 2), gen=9, local="node2", uuid=UUID2)}
    actions = {name: [] for name in sims}
    queue: list[tuple[float, int, str, Message]] = []          # (when, order, to, msg)
    order = 0
    sent_payloads = {name: [] for name in sims}

    def emit(name: str, out: list) -> None:
        nonlocal order
        actions[name] += out
        for msg in sent(out):
            if wire.random() >= loss:
                order += 1
                other = "node2" if name == "node1" else "node1"
                queue.append((sims[name].now + 0.002, order, other, msg))

    for name, sim in sims.items():
        emit(name, sim.start())
    next_app = T0 + 1
    for _ in range(200000):
        dues = [sim.m.next_deadline() for sim in sims.values()]
        now = min(dues + [next_app] + [q[0] for q in queue])
        if now > T0 + seconds:
            break
        for sim in sims.values():
            sim.at(max(now, sim.now))
        for item in sorted(q for q in queue if q[0] <= now):
            queue.remove(item)
            emit(item[2], sims[item[2]].m.receive(now, sims[item[2]].wall(), "eth0", item[3]))
        for name, sim in sims.items():
            emit(name, sim.m.tick(now, sim.wall()))
        if now >= next_app:
            next_app = now + every
            for name, sim in sims.items():
                payload = f"{name}-{len(sent_payloads[name])}"
                sent_payloads[name].append(payload)
                emit(name, sim.m.send(now, sim.wall(), Message.of(t="app", n=payload)))
    else:
        raise AssertionError("simulation never ended")
    return sims, actions, sent_payloads


def delivered_from(actions, sender: str) -> list[str]:
    return [a.msg.get("n") for a in actions if isinstance(a, Deliver) and not a.own
            and a.msg.get("src") == sender and a.msg.type == "app"]


def test_two_of_ours_join_and_stay_quiet_for_ten_minutes():
    sims, actions, payloads = run_pair(loss=0.0, seconds=600)
    for name, sim in sims.items():
        assert sim.m.comm_up and sim.m.local_status == "active" and not sim.m.congested
        assert [lvl for lvl, _ in logs(actions[name]) if lvl != "info"] == []
    assert delivered_from(actions["node2"], "node1") == payloads["node1"]
    assert delivered_from(actions["node1"], "node2") == payloads["node2"]
    assert sum(1 for m in sent(actions["node1"]) if m.type == "NS_ackmsg") > 100


def test_two_of_ours_recover_every_lost_message():
    sims, actions, payloads = run_pair(loss=0.1, seconds=300)
    for name, sim in sims.items():
        texts = log_texts(actions[name])
        assert sim.m.comm_up and not sim.m.congested
        assert any("lost packet(s)" in t for t in texts)
        assert not [t for t in texts if "is dead" in t or "hist queue" in t or "Irretrievably" in t]
        assert sim.m.missing_seqs("node2" if name == "node1" else "node1") == ()
    # every payload arrives exactly once; lost ones later, out of order
    for sender, receiver in (("node1", "node2"), ("node2", "node1")):
        got = delivered_from(actions[receiver], sender)
        assert len(got) == len(set(got))
        assert set(payloads[sender][:-5]) <= set(got)       # the last few may still be in flight
        assert got != sorted(got, key=payloads[sender].index)


# -- packets the real 3.0.6 sent in the lab ----------------------------------------------------
CATALOG = json.loads((Path(__file__).parent / "data" / "catalog_packets.json").read_text())
LAB_AUTH = Authenticator(AuthKeys("/etc/ha.d/authkeys", 1, MappingProxyType(
    {1: AuthKey(1, "md5", b"halab-shared-secret")})))
LAB_PING = LAB + "ping 192.0.2.1\n"


def real(title: str) -> Message:
    [packet] = [p for p in CATALOG["packets"] if p["title"] == title]
    return decode(bytes.fromhex(packet["hex"]), LAB_AUTH)


def test_real_node1_start_up_as_node2_sees_it():
    node2_uuid = real("UDP reqnodes").get("destuuid")
    sim = Sim(LAB_PING, local="node2", uuid=node2_uuid)
    sim.start()
    out = sim.rx(T0 + 0.1, real("UDP status st=init"))
    assert logs(out) == [("info", "Link node1:eth0 up.")]
    out = sim.rx(T0 + 0.1, real("UDP status st=up"))
    assert logs(out) == [("info", "Status update for node node1: status up")]
    assert sim.m.node_deadtime_ms("node1") == 7000                     # dt=1b58 while starting
    out = sim.rx(T0 + 0.2, real("UDP reqnodes"))                        # seq 3 is not in the catalog
    assert ("WARN", "1 lost packet(s) for [node1] [2:4]") in logs(out)
    [rep] = [m for m in sent(out) if m.type == "repnodes"]
    assert (rep.get("dest"), rep.get("nodelist"), rep.get("delnodelist"), rep.get("destuuid")) == \
        ("node1", "node1 node2 ", " ", real("UDP status st=init").get("srcuuid"))
    out = sim.rx(T0 + 0.3, real("UDP status st=active"))
    assert logs(out) == [("info", "Status update for node node1: status active")]
    out = sim.rx(T0 + 0.4, real("UDP starting"))
    [starting] = of_type(out, Deliver)
    assert starting.msg.type == "starting" and not starting.own and not logs(out)


def test_real_repnodes_brings_node1_up():
    node1_uuid = real("UDP repnodes").get("destuuid")
    sim = Sim(LAB_PING, local="node1", uuid=node1_uuid)
    sim.start()
    sim.rx(T0 + 0.1, real("ICMP NS_st st=ping"), "192.0.2.1")
    out = sim.rx(T0 + 0.2, real("UDP repnodes"))
    assert of_type(out, CommUp) and sim.m.local_status == "active"
    assert sim.m.node_names() == ["node1", "node2", "192.0.2.1"]
    assert sim.m.node_status("192.0.2.1") == "ping"
    assert not [lvl for lvl, _ in logs(out) if lvl in ("ERROR", "CRIT")]


# -- hostile numbers and replays (issue 8) ------------------------------------------
HUGE_HEX = "f" * 300                  # far past an unsigned long
HUGE_DEC = "9" * 5000                 # past Python's int-from-text limit too


def test_numbers_wider_than_the_originals_types_are_unparsable():
    from heartbeat.core.membership import parse_dec, parse_hex
    assert parse_hex("ffffffffffffffff") == 2**64 - 1 and parse_hex("0" * 40 + "1f") == 0x1f
    assert parse_hex("10000000000000000") is None and parse_hex(HUGE_HEX) is None
    assert parse_dec("2147483647") == 2**31 - 1 and parse_dec("-2147483648") == -2**31
    assert parse_dec("2147483648") is None and parse_dec(HUGE_DEC) is None and parse_dec("x") == 0


def test_a_status_with_a_huge_dt_keeps_the_advertised_deadtime_and_our_timers():
    # row 3: a 300-digit dt ended in an OverflowError in the deadline arithmetic
    sim = joined()
    sim.rx(T0 + 1, status(3, st="active", dt=HUGE_HEX))
    assert sim.m.node_deadtime_ms("node2") == 0x1388
    assert sim.m.next_deadline() <= sim.now + 1
    assert "status" in sent_types(sim.run(T0 + 3))


@pytest.mark.parametrize("name, value, text", [
    ("seq", "1" + "0" * 16, "process_clustermsg: has bad cseq: iface eth0, from node2"),
    ("hg", "5" * 5000, "should_drop_message: bad generation number"),
], ids=["seq", "hg"])
def test_huge_sequence_or_generation_numbers_are_dropped_and_later_packets_unaffected(name, value, text):
    # row 4: a 5000-digit hg was stored and every later genuine packet raised ValueError
    sim = joined()
    msg = peer("x", 3)
    msg.set(name, value)
    out = sim.rx(T0 + 1, msg)
    assert ("ERROR", text) in logs(out) and not of_type(out, Deliver)
    out = sim.rx(T0 + 1.1, peer("x", 3))
    assert of_type(out, Deliver) and not [t for t in log_texts(out) if "replay" in t]


def test_huge_rexmit_nak_and_ack_numbers_are_refused_and_later_packets_unaffected():
    sim = joined()
    sim.send(T0 + 1, Message.of(t="x"))
    out = sim.rx(T0 + 1, peer("NS_rexmit", dest="node1", firstseq=HUGE_DEC, lastseq=HUGE_DEC))
    assert logs(out) == [("ERROR", "Invalid rexmit seqnos")]
    out = sim.rx(T0 + 1, peer("NS_nak_rexmit", dest="node1", firstseq=HUGE_HEX))
    assert logs(out) == [("ERROR", "should_drop_message: bad nak seq number")]
    assert not logs(sim.rx(T0 + 1, peer("NS_ackmsg", dest="node1", ackseq=HUGE_HEX)))
    assert of_type(sim.rx(T0 + 1.1, peer("x", 3)), Deliver)
    assert sent(sim.rx(T0 + 1.2, rexmit(6)))          # genuine requests are still answered


def test_a_huge_ts_is_dropped_silently():
    sim = joined()
    out = sim.rx(T0 + 1, peer("x", 3, ts=2**64))
    assert not of_type(out, Deliver) and not logs(out)
    assert of_type(sim.rx(T0 + 1, peer("x", 3)), Deliver)


@pytest.mark.parametrize("mtype, extra", [("starting", {}), ("ask_resources", {"info": "me", "rsc_hold": "all"}),
                                          ("resource", {"rsc_hold": "all", "isstable": "0"}),
                                          ("ip-request", {"ipaddr": "g"})])
def test_replays_from_a_dead_node_are_dropped_until_it_is_heard_again(mtype, extra):
    # row 5: death reset the sequence state, and a replayed `starting` was accepted
    sim = joined()
    replay = peer(mtype, 3, **extra)
    assert of_type(sim.rx(T0 + 1, replay), Deliver)
    sim.rx(T0 + 1.5, status(4, st="active"))
    sim.run(T0 + 20)
    assert sim.m.node_status("node2") == "dead"
    for msg in (replay, peer(mtype, 9, **extra)):
        out = sim.rx(T0 + 20, msg)
        assert not of_type(out, Deliver) and not sent(out)
    assert sim.m.missing_seqs("node2") == ()
    # a fresh generation brings it back, and what it sends then counts
    out = sim.rx(T0 + 21, status(1, st="up", gen=PEER_GEN + 1))
    assert [(c.old, c.new) for c in of_type(out, NodeStatus)] == [("dead", "up")]
    assert of_type(sim.rx(T0 + 21, peer(mtype, 2, gen=PEER_GEN + 1, **extra)), Deliver)
    # a replay of the old generation stays out
    assert not of_type(sim.rx(T0 + 21, peer(mtype, 10, **extra)), Deliver)
