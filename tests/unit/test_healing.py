"""Issue 9: a healed partition or a stall settled with the peer (heartbeat/core/healing.py and
its parts in failover.py, stall.py, announce.py and the daemon's Core), fake clocks only."""

from __future__ import annotations

import pytest

from heartbeat.core import healing
from heartbeat.daemon.announce import announce, local_addresses
from heartbeat.core.failover import Announce, Command, RestartAfterPartition, Send
from heartbeat.config.haresources import parse_resource
from heartbeat.core.message import Message
from heartbeat.core.stall import StallWatch
from tests.unit.test_daemon import FakeClock, RecordingLog, Wire, engine_for, make_core, run_until
from tests.unit.test_failover import Node, fields, m, sends, texts

RD = "/etc/ha.d/resource.d"


def settled_node(name: str, mode: str = "on", **options) -> Node:
    """A node that came up with its peer, then took the peer's groups over when it died."""
    n = Node(name, mode, **options)
    n.comm_up({"node1": "up", "node2": "up"})
    if mode != "legacy":
        peer = "node2" if name == "node1" else "node1"
        n.receive(m(peer, t="starting"))
        n.receive(m(peer, t="resource", rsc_hold="local", rtype="full", isstable="1"))
        n.loop(n.loop(n.finish("req_our_resources")))
    n.now += 20
    n.node_status("node2" if name == "node1" else "node1", "dead", None)
    for _ in range(5):                  # the takeover's jobs, and what they queued
        for job in list(n.running):
            n.loop(n.finish(job))
    if mode != "legacy":
        n.loop(n.receive(m(name, t="resource", rsc_hold="foreign", info="mach_down")))
        assert n.engine.holding == "all"
    return n


def heal(kind: str, holdings: str, src: str = "node2") -> Message:
    return m(src, **dict(fields(healing.heal_report(holdings, True, kind))))


def announced(acts) -> list[tuple[str, ...]]:
    return [a.addresses for a in acts if isinstance(a, Announce)]


@pytest.mark.parametrize("mode", ["on", "off", "legacy"])
def test_the_home_node_keeps_its_group_and_the_other_releases_the_address_first(mode):
    n = settled_node("node1", mode)
    acts = n.partition_healed("node2")
    assert announced(acts) == [("10.9.0.100",)]                 # its own group, at once
    [ask] = [a.msg for a in acts if isinstance(a, Send)]
    assert [f for f in fields(ask) if f[0] != "isstable"] == [("t", "resource"), ("rsc_hold", "all"),
                                                              ("rtype", "full"), ("heal", "ask")]
    assert texts(acts)[0].startswith("Partition with node2 healed. A resource group both nodes ran stays on its "
                                     "home node (haresources): node1 keeps its own groups")
    assert n.node_status("node2", "dead", None) == []            # membership's second burial: no takeover
    n.node_status("node2", "active", m("node2", t="status", st="active"))
    acts = n.receive(heal("reply", "all"))
    assert texts(acts)[-4:] == [
        "node1 keeps its own resource groups (10.9.0.100): this is their home node.",
        "node2 ran node1's groups too and gives them back.",
        "node2 runs its own groups (IPaddr::10.9.0.200/24/eth0): node1 gives its copies back, addresses first.",
        "Partition with node2 settled: node1 runs 10.9.0.100.",
    ]
    job = n.running["heal_release"]
    assert job.steps[1] == Command((f"{RD}/IPaddr", "10.9.0.200/24/eth0", "stop"))
    assert job.steps[2] == Command(("/usr/share/heartbeat/ResourceManager", "givegroup", "IPaddr::10.9.0.200/24/eth0"))
    assert announced(acts) == []                                # nothing more kept than announced
    if mode != "legacy":
        assert fields(job.steps[-1].msg)[:2] == [("t", "resource"), ("rsc_hold", "local")]
        assert n.engine.held == "local"
    assert n.engine.next_deadline() is None or n.engine.next_deadline() > n.now + 100


def test_an_ask_is_answered_after_the_release_and_a_reply_is_never_answered():
    n = settled_node("node2")                               # node2 noticed nothing yet
    acts = n.receive(heal("ask", "local", src="node1"))
    [reply] = [a.msg for a in acts if isinstance(a, Send)]
    assert reply.get("heal") == "reply" and reply.get("rsc_hold") == "local"   # after the release
    assert "heal_release" in n.running and announced(acts) == [("10.9.0.200",)]
    assert n.receive(heal("reply", "local", src="node1")) == []
    # node2 then sees node1's status: settled already, no second ask
    acts = n.partition_healed("node1")
    assert not [a for a in acts if isinstance(a, Send)] and not texts(acts)


def test_a_peer_that_does_not_run_its_groups_leaves_them_to_us():
    n = settled_node("node1")
    n.partition_healed("node2")
    acts = n.receive(heal("reply", "none"))
    assert "node2 does not run its own groups (IPaddr::10.9.0.200/24/eth0): node1 keeps them." in texts(acts)
    assert "heal_release" not in n.running and announced(acts) == [("10.9.0.200",)]


def test_an_original_peer_that_gives_everything_up_leaves_us_everything():
    n = settled_node("node1")
    n.partition_healed("node2")
    n.now += 2
    acts = n.receive(m("node2", t="resource", rsc_hold="none", rtype="full", isstable="0", info="shutdown"))
    assert announced(acts) == [("10.9.0.200",)]
    assert "node2 gives all its resource groups up: node1 keeps everything it runs." in texts(acts)
    n.now += 30                                              # long after the heal timeout: none runs
    assert not any(isinstance(a, RestartAfterPartition) for a in n.tick())
    acts = n.receive(m("node2", t="shutdone", st="dead"))
    assert announced(acts) == [] and "Received shutdown notice from 'node2'." in texts(acts)


def test_an_original_peer_that_keeps_its_groups_makes_us_restart_as_the_original():
    n = settled_node("node1")
    n.partition_healed("node2")
    due = n.engine.next_deadline()
    assert due == n.now + 30.0                                  # deadtime (the default here)
    n.now = due - 0.1
    assert not any(isinstance(a, RestartAfterPartition) for a in n.tick())
    n.now = due
    acts = n.tick()
    assert any(isinstance(a, RestartAfterPartition) for a in acts)
    assert texts(acts) == ["No heal report from node2: giving everything up and restarting, "
                           "as heartbeat does after a partition."]


def test_a_stalled_node_asks_first_and_announces_what_it_keeps_once_answered():
    n = Node("node1", "on")
    n.comm_up({"node1": "up", "node2": "up"})
    n.receive(m("node2", t="starting"))
    n.receive(m("node2", t="resource", rsc_hold="local", rtype="full", isstable="1"))
    n.loop(n.loop(n.finish("req_our_resources")))
    n.now += 8
    acts = n.stalled(8.0)
    assert texts(acts) == ["node1 did not run for 8.0 s, longer than deadtime: node2 may have taken our "
                           "resource groups over. Asking node2 before announcing our addresses again."]
    assert announced(acts) == [] and sends(acts)[0][-1] == ("heal", "ask")
    acts = n.receive(heal("reply", "all"))
    assert announced(acts) == [("10.9.0.100",)] and "heal_release" not in n.running


def test_no_heal_before_comm_up_during_standby_or_for_a_ping_node():
    n = Node("node1", "on")
    assert any(isinstance(a, RestartAfterPartition) for a in n.partition_healed("node2"))
    assert n.stalled(9.0) == []


def test_a_heal_reports_isstable_is_this_nodes_own_and_a_1_follows_a_0():
    # Issue 8 row 6 (simulated loss, auto_failback off, seeds 147 at 20% and 46 at 40%): each
    # node had heard the other in flux, each reported isstable=0 for it, and neither ever
    # said 1 again: both stayed in `transition` for good.
    n = settled_node("node1")
    n.receive(m("node2", t="resource", rsc_hold="none", rtype="full", isstable="0"))
    assert n.engine.holding == "transition"                    # node2 is in flux
    [ask] = [a.msg for a in n.partition_healed("node2") if isinstance(a, Send)]
    assert ask.get("isstable") == "1"                           # nothing moves on node1
    # moving here (a notification runs): 0, then a plain report with 1 once it ends
    n.receive(m("node2", t="hb_takeover"))
    [reply] = [a.msg for a in n.receive(heal("ask", "none")) if isinstance(a, Send) and a.msg.get("heal")]
    assert reply.get("isstable") == "0"
    assert sends(n.finish("hb_takeover")) == [[("t", "resource"), ("rsc_hold", "all"), ("rtype", "full"),
                                                ("isstable", "1")]]
    assert sends(n.tick()) == []                                # owed once only


@pytest.mark.parametrize("mode, asks", [("on", True), ("off", False)])
def test_a_peers_group_kept_after_a_heal_goes_home_with_auto_failback_on(mode, asks):
    # Issue 8 row 6 (simulated 40% loss, auto_failback on, seeds 6, 109, 128, 145, 218): the
    # settlement cleared the failback owed for a group the peer did not run; it never went home.
    n = settled_node("node1", mode)
    n.partition_healed("node2")
    acts = n.receive(heal("reply", "none"))
    assert "node2 does not run its own groups (IPaddr::10.9.0.200/24/eth0): node1 keeps them." in texts(acts)
    # asked for only after the settlement's own reports went out, a retry interval later
    assert not [s for s in sends(acts) if ("t", "ask_resources") in s]
    n.now += 1.0
    assert ([("t", "ask_resources"), ("rsc_hold", "foreign"), ("info", "me")] in sends(n.tick())) is asks


@pytest.mark.parametrize("crossed", [False, True])
def test_legacy_asks_for_its_own_groups_again_once_settled(crossed):
    # Issue 8 row 6 (simulated 40% loss, legacy, seed 620): node2's ip-request for its group
    # was dropped while node1 held node2 dead; node2's heal report still claimed the group
    # (legacy keeps no holdings), node1 gave its copy back, and the group ran nowhere.
    n = settled_node("node1", "legacy")
    n.partition_healed("node2")
    n.receive(heal("reply", "all"))
    if crossed:                                  # node2's own ask after our settlement
        n.running.clear()
        n.receive(heal("ask", "local"))
    steps = [s.argv for job in n.running.values() if job.name.startswith("req_our_resources")
             for s in job.steps if isinstance(s, Command)]
    assert steps == [("/usr/share/heartbeat/req_resource", "10.9.0.100")]


def test_heal_reports_without_holdings_are_refused():
    n = settled_node("node1")
    acts = n.receive(m("node2", t="resource", heal="ask"))
    assert texts(acts)[-1] == "heal report from node2 without a valid rsc_hold: ignored."
    assert "heal_release" not in n.running


@pytest.mark.parametrize("token, address", [
    ("10.9.0.1", "10.9.0.1"), ("IPaddr::192.0.2.5/24/eth0", "192.0.2.5"), ("IPaddr2::192.0.2.6/24", "192.0.2.6"),
    ("IPaddr::not-an-ip", None), ("httpd", None), ("Filesystem::/dev/sda1::/srv::ext4", None),
])
def test_address_of_a_resource(token, address):
    r = parse_resource(token)
    assert healing.address_of(r.script, r.args) == address


def test_stall_watch_reports_only_gaps_longer_than_the_limit():
    w = StallWatch(5.0)
    assert [w.observe(t) for t in (0.0, 1.0, 6.0, 11.5, 12.0)] == [None, None, None, 5.5, None]


def test_announce_sends_a_pair_at_once_then_starts_send_arp_per_address_found_here():
    spawned, first = [], []
    where = {"192.0.2.11": "eth0", "192.0.2.100": "eth1"}
    pairs = announce(("192.0.2.100", "192.0.2.200"), {"HA_BIN": "/bin", "HA_RSCTMP": "/run/rsc"},
                     lambda level, text: None, lookup=lambda: where,
                     first=lambda device, ip: first.append((device, ip)), spawn=lambda argv, **kw: spawned.append(argv))
    assert pairs == first == [("eth1", "192.0.2.100")]
    assert spawned == [["/bin/send_arp", "-i", "200", "-r", "5", "-p", "/run/rsc/send_arp-192.0.2.100",
                        "eth1", "192.0.2.100", "auto", "192.0.2.100", "ffffffff"]]


def test_the_kernels_addresses_are_read_without_pyroute2():
    # a read-only dump of the host's addresses, as `ip -4 addr` does
    assert local_addresses().get("127.0.0.1") == "lo"


# -- the daemon's core: stall detection and the heal, over the in-memory wire ---------------------
def test_a_stalled_core_blames_nobody_and_asks_its_engine_to_check(tree):
    wire, clock, log = Wire(), FakeClock(), RecordingLog()
    one = make_core(tree, "node1", wire, clock, log)
    two = make_core(tree, "node2", wire, clock)
    one.start()
    two.start()
    run_until(wire, clock, lambda: one.membership.node_status("node2") == "active", limit_s=30)
    clock.now += 8.0                          # SIGSTOP; node2's heartbeats wait in the socket
    one.tick()
    assert log.texts("WARN")[-1] == "heartbeat did not run for 8.0 s, longer than deadtime."
    assert one.membership.node_status("node2") == "active"
    assert "node node2: is dead" not in log.texts("WARN")


def test_two_cores_settle_a_healed_partition_without_restarting(held_tree):
    wire, clock = Wire(), FakeClock()
    logs, announces, jobs = {}, {}, {}
    cores = {}
    for name in ("node1", "node2"):
        logs[name], announces[name], jobs[name] = RecordingLog(), [], []
        cores[name] = make_core(held_tree, name, wire, clock, logs[name], engine=engine_for(held_tree, name),
                                announce=announces[name].append, start_job=jobs[name].append)
        cores[name].start()
    one, two = cores["node1"], cores["node2"]
    run_until(wire, clock, lambda: one.comm_is_up and two.comm_is_up
              and two.membership.node_status("node1") == "active", limit_s=30)
    wire.partitioned = True
    run_until(wire, clock, lambda: one.membership.node_status("node2") == "dead", limit_s=10)
    wire.partitioned = False
    run_until(wire, clock, lambda: announces["node1"] and any(j.name == "heal_release" for j in jobs["node2"]),
              limit_s=5)
    assert announces["node1"] == [("192.0.2.10",)]
    assert not one.stopped and not two.stopped and not one.restart and not two.restart
    assert any(t.startswith("Partition with node1 settled") for t in logs["node2"].texts("info"))
