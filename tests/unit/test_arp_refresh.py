"""Issue 9: pyheartbeat.cf's `arp_refresh` (a periodic gratuitous ARP for the addresses
of the groups held), decided by the failover engine on a fake clock; the core hands it
to its own hook, the daemon's pair-only announce."""

from __future__ import annotations

import pytest

from heartbeat.core.failover import Announce, Failover, Log
from tests.unit.test_daemon import FakeClock, RecordingLog, Wire, config_for, make_core
from tests.unit.test_failover import Node, m, stable_pair
from tests.unit.test_healing import settled_node

OWN, PEERS = "10.9.0.100", "10.9.0.200"


def refreshes(acts) -> list[tuple[str, ...]]:
    assert all(a.refresh for a in acts if isinstance(a, Announce))
    return [a.addresses for a in acts if isinstance(a, Announce)]


def run(n: Node, until: float, step: float = 1.0) -> list[tuple[float, tuple[str, ...]]]:
    """Tick every `step` s up to `until`: (time, addresses) of every refresh."""
    found = []
    while n.now + step <= until + 1e-9:
        for addresses in refreshes(n.at(n.now + step)):
            found.append((n.now, addresses))
    return found


def test_without_the_directive_there_is_no_timer_and_no_announcement():
    n = stable_pair()
    assert n.engine.next_deadline() is None
    assert run(n, 2000.0, step=7.0) == []


def test_the_interval_is_logged_once_at_the_first_tick():
    n = Node(arp_refresh_s=30.0)
    assert [(a.level, a.text) for a in n.tick() if isinstance(a, Log)] == [
        ("info", "gratuitous ARP refresh every 30 s")]
    assert n.engine.next_deadline() == n.now + 30
    n.now += 1
    assert n.tick() == []


def test_the_holder_reannounces_its_groups_every_interval_on_schedule():
    n = stable_pair(arp_refresh_s=30.0)          # its first tick was at 110
    assert n.engine.next_deadline() == 140.0
    assert run(n, 200.0) == [(140.0, (OWN,)), (170.0, (OWN,)), (200.0, (OWN,))]
    n.now = 230.4                                 # a late tick keeps the schedule
    acts = n.tick()
    assert refreshes(acts) == [(OWN,)]
    assert [(a.level, a.text) for a in acts if isinstance(a, Log)] == [
        ("debug", "gratuitous ARP refresh: 10.9.0.100")]      # nothing at info per refresh
    assert n.engine.next_deadline() == 260.0
    n.now = 400.0                                 # a stall: one refresh, then from now
    assert refreshes(n.tick()) == [(OWN,)]
    assert n.engine.next_deadline() == 430.0


def test_nothing_is_announced_while_a_takeover_runs_then_every_group_held_is():
    n = stable_pair(arp_refresh_s=10.0)           # due at 120
    n.now = 115.0
    n.node_status("node2", "dead", None)          # mach_down: node2's groups come here
    assert n.running
    assert run(n, 135.0) == []                    # 120, 130: its jobs still run
    finish_all(n)
    n.loop(n.receive(m("node1", t="resource", rsc_hold="foreign", info="mach_down")))
    assert n.engine.holding == "all"
    assert run(n, 150.0) == [(140.0, (OWN, PEERS)), (150.0, (OWN, PEERS))]


def finish_all(n: Node) -> None:
    for _ in range(5):                  # the jobs, and what they queued
        for job in list(n.running):
            n.loop(n.finish(job))


def test_nothing_is_announced_while_a_standby_gives_the_groups_away():
    n = stable_pair(arp_refresh_s=10.0)           # due at 120
    n.receive(m("node1", t="ask_resources", rsc_hold="all", info="me"))       # hb_standby here
    n.loop(n.receive(m("node2", t="ask_resources", rsc_hold="all", info="other")))
    assert n.running
    assert run(n, 135.0) == []                    # the release runs
    finish_all(n)
    assert run(n, 200.0) == []                    # and then nothing is held


@pytest.mark.parametrize("mode", ["on", "off"])
def test_nothing_is_announced_while_a_heal_is_settled(mode):
    n = settled_node("node1", mode, arp_refresh_s=10.0)
    start = n.now
    n.tick()                                      # due at start + 10
    n.now += 8
    acts = n.partition_healed("node2")
    assert [a.refresh for a in acts if isinstance(a, Announce)] == [False]      # the heal's own
    assert run(n, start + 13) == []               # the peer's answer is awaited: it may give back
    n.loop(n.receive(m("node2", t="resource", rsc_hold="local", rtype="full", isstable="1", heal="reply")))
    assert n.running                              # node1 gives node2's group back
    finish_all(n)
    assert run(n, start + 23) == [(start + 20, (OWN,))]      # settled: its own group only


def test_legacy_announces_its_own_groups_once_they_are_acquired():
    n = Node(mode="legacy", arp_refresh_s=5.0)
    n.tick()                                      # due at 105
    n.comm_up({"node1": "active", "node2": "active"})
    assert run(n, 106.0) == []                    # req_our_resources runs
    finish_all(n)
    assert run(n, 111.0) == [(110.0, (OWN,))]


def test_the_core_hands_a_refresh_to_its_own_hook_not_to_the_heals(held_tree):
    wire, clock, log = Wire(), FakeClock(), RecordingLog()
    config = config_for(held_tree, "node1")
    engine = Failover(config.hacf, config.haresources, "node1", rcd_scripts=frozenset(), wall=clock.time, pid=1000,
                      arp_refresh_s=2.0)
    announced, refreshed, jobs = [], [], []
    core = make_core(held_tree, "node1", wire, clock, log, engine=engine, announce=announced.append,
                     refresh_arp=refreshed.append, start_job=jobs.append)
    core.start()
    for _ in range(400):                          # 20 s alone: comm-up, its groups, refreshes
        clock.now += 0.05
        wire.pump()
        for job in jobs:
            core.job_done(job.id, 0)
        jobs.clear()
        if core.next_deadline() <= clock.now:
            core.tick()
    assert refreshed and set(refreshed) == {("192.0.2.10",)} and not announced
    assert log.texts("info").count("gratuitous ARP refresh every 2 s") == 1
    assert not any("192.0.2.10" in t for t in log.texts("info"))
