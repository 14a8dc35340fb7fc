"""A rolling migration from 2.1.x: our node and a real heartbeat 2.1.3 node in one cluster.

2.1.3 is the last 2.1 release in the public history (2.1.4 differs in fixes, not in
the protocol); the lab builds it once into /opt/hb21 (tests/lab/hb21.py). Both roles:
ours as node1, the home of the web service in haresources, and 2.1.3 as node2, then
the other way round. One cluster per role (module fixture, file order) with md5 goes
through start, hb_standby and hb_takeover run on each side, SIGKILL and graceful stop
of the home node, loss of the ping node, and auto_failback off; sha1 and crc get the
cheap checks (both active, one standby) in both roles. After every test no log of
either side may hold a complaint about the other's packets.

Bounds are generous and taken from the daemons' own log timestamps where they time
something; the speed of these moves is `make bench`'s business (row mixed21).
"""

from __future__ import annotations

import dataclasses
import re
import time
from datetime import datetime

import pytest

from tests.lab import Lab
from tests.lab.cluster import HA_LOG, Cluster
from tests.lab.demo import CONFIG, DEADTIME, MOVE_TIMEOUT, START_TIMEOUT, crash, repair
from tests.lab.hb21 import VERSION
from tests.netns.scenarios import (graceful_stop_of_node1_hands_over_without_waiting_for_deadtime, logged,
                                   losing_the_ping_node_moves_nothing, marks, move,
                                   off_node1_back_after_a_stop_leaves_the_group_on_node2, start_node1_serves,
                                   switch_mode)

pytestmark = [pytest.mark.hb21, pytest.mark.netns]

ROLES = {"ours-home": {"node1": "ours", "node2": "hb21"}, "hb21-home": {"node1": "hb21", "node2": "ours"}}
# what a daemon says of packets it cannot use (both versions' wording)
COMPLAINT = re.compile(r"bad packet|[Aa]uthenticat|auth token|authtoken|Bad/invalid|string2msg|netstring|"
                       r"NV failure|Couldn't parse|cannot get message|Dumping message|peel_netstring")
# ours warns at start that a crc key authenticates nothing: about authkeys, not a packet
CRC_KEY_WARNING = re.compile(r"WARN: key \d+ is crc, which authenticates nothing")
LOST = re.compile(r"(\d+) lost packet\(s\) for \[(\S+)\]")
RECOVERED = "No pkts missing from {}!"
# the two line formats: syslog style (3.0.6's default) and 2.1's `name[pid]: YYYY/MM/DD_HH:MM:SS`
SYSLOG_STAMP = re.compile(r"^([A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d) ")
HB21_STAMP = re.compile(r"^\S+\[\d+\]:\s+(\d{4}/\d\d/\d\d_\d\d:\d\d:\d\d) ")


# what each sends on UDP by default: 2.1's classic text (auth field inside, NUL after it),
# ours 3.0.6's netstring (digest trailer, classic auth field inside too); each reads both
ENCODING = {"hb21": "classic", "ours": "netstring"}


def encoding_of(payload: bytes) -> str:
    if payload.startswith(b">>>\n") and payload.endswith(b"<<<\n\0"):
        return "classic"
    if payload.startswith(b"###\n") and re.search(rb"%%%\n\d+:\d+ [0-9a-f]+,$", payload):
        return "netstring"
    return f"unknown: {payload[:40]!r}"


def log_time(line: str) -> float:
    """Unix seconds of a log line, from its own timestamp (one-second resolution)."""
    match = HB21_STAMP.match(line)
    if match:
        return datetime.strptime(match.group(1), "%Y/%m/%d_%H:%M:%S").timestamp()
    match = SYSLOG_STAMP.match(line)
    if match is None:
        raise ValueError(f"no timestamp in {line!r}")
    stamp = datetime.strptime(f"{datetime.now().year} {match.group(1)}", "%Y %b %d %H:%M:%S")
    return stamp.timestamp()


def complaints(cluster: Cluster) -> list[str]:
    """Lines of either log that object to a packet.

    2.1.3 sometimes sends sequence number N+1 before N while resources move; the
    receiver (2.1.3 or ours) then logs "1 lost packet(s)" and, when N arrives at once,
    "No pkts missing". That is the sender's reordering, not a loss: allowed only when
    the peer sending out of order is 2.1.3 and the recovery follows within 2 s.
    """
    found = []
    for name, node in cluster.nodes.items():
        lines = node.read(HA_LOG).splitlines()
        for number, line in enumerate(lines):
            if COMPLAINT.search(line) and not CRC_KEY_WARNING.search(line):
                found.append(f"{name}: {line}")
            lost = LOST.search(line)
            if lost is None:
                continue
            sender = lost.group(2)
            recovered = any(RECOVERED.format(sender) in later and log_time(later) - log_time(line) <= 2
                            for later in lines[number + 1:number + 40])
            if cluster.nodes[sender].flavor != "hb21" or not recovered:
                found.append(f"{name}: {line}")
    return found


@pytest.fixture(scope="module", params=sorted(ROLES))
def cluster(request):
    with Lab() as lab:
        cluster = Cluster(lab, ROLES[request.param], CONFIG)
        cluster.poller = cluster.poll(duration=900)
        yield cluster
        cluster.poller.stop()


@pytest.fixture(autouse=True)
def no_complaints(request):
    yield
    cluster = request.node.funcargs.get("cluster")
    if cluster is not None:
        assert complaints(cluster) == []


def nodestatus(cluster: Cluster, name: str, peer: str) -> str:
    """`cl_status nodestatus PEER` with the node's own cl_status (2.1.3's on a 2.1.3 node)."""
    return cluster.nodes[name].run(["cl_status", "nodestatus", peer], check=False, timeout=15).stdout.strip()


def both_active(cluster: Cluster) -> None:
    for name, peer in (("node1", "node2"), ("node2", "node1")):
        assert nodestatus(cluster, name, peer) == "active", f"{name} sees {peer}"


# auto_failback on

def test_start_both_see_each_other_active_and_node1_serves(cluster):
    capture = cluster.lab.capture(cluster.switch, "br0", "udp port 694")
    start_node1_serves(cluster)
    both_active(cluster)
    # the wire with the admin's ha.cf (no msgfmt): each side keeps its own encoding and reads
    # the other's (both went active on it, and neither log complains)
    sent = {}
    for frame in capture.stop():
        payload = bytes(frame.packet["UDP"].payload)
        sender = "node1" if frame.packet["IP"].src == "192.0.2.11" else "node2"
        sent.setdefault(sender, set()).add(encoding_of(payload))
    assert sent == {name: {ENCODING[node.flavor]} for name, node in cluster.nodes.items()}
    # our log is 2.1.4's by default: its line format and its words, as the 2.1.3 node writes them
    for node in cluster.nodes.values():
        log = node.read(HA_LOG)
        assert not any(SYSLOG_STAMP.match(line) for line in log.splitlines()), node.flavor
        assert HB21_STAMP.match(log), node.flavor
        assert "info: Version 2 support: false" in log
    # the version the README names: what the 2.1 node's daemon says of itself
    hb21 = next(node for node in cluster.nodes.values() if node.flavor == "hb21")
    assert hb21.run(["/opt/hb21/lib64/heartbeat/heartbeat", "-V"]).stdout.strip() == VERSION


def test_hb_standby_and_hb_takeover_run_on_each_side(cluster):
    assert cluster.holder_of() == ["node1"]
    for runs_it, command, to in (("node1", "standby", "node2"), ("node1", "takeover", "node1"),
                                 ("node2", "takeover", "node2"), ("node2", "standby", "node1")):
        giver = "node1" if to == "node2" else "node2"
        mark = marks(cluster)
        move(cluster, lambda: getattr(cluster, command)(runs_it), to)
        logged(cluster, mark, **{to: r"Standby resource acquisition done \[all\]",
                                 giver: r"Local standby process completed \[all\]"})
        assert cluster.holder_of() == [to], f"{command} on {runs_it}"


def test_sigkill_of_the_home_node_hands_over_after_deadtime(cluster):
    assert cluster.holder_of() == ["node1"]
    mark = marks(cluster)
    killed = time.time()
    crash(cluster)
    line = logged(cluster, mark, DEADTIME + 15, node2=r"node node1: is dead")["node2"]
    detected = log_time(line) - killed
    print(f"node2 declared node1 dead {detected:.2f} s after the kill (log time)")
    assert DEADTIME - 2 <= detected <= DEADTIME + 4
    cluster.poller.wait_answer("node2", killed, MOVE_TIMEOUT)
    cluster.wait_settled("node2")
    logged(cluster, mark, node2=r"mach_down takeover complete")


def test_home_node_restarted_after_the_crash_fails_back(cluster):
    assert cluster.running() == ["node2"]
    repair(cluster)
    assert cluster.holder_of() == ["node2"]
    move(cluster, lambda: cluster.start("node1"), "node1", START_TIMEOUT)
    both_active(cluster)
    assert cluster.holder_of() == ["node1"]


def test_graceful_stop_of_the_home_node_hands_over_at_once(cluster):
    graceful_stop_of_node1_hands_over_without_waiting_for_deadtime(cluster)
    move(cluster, lambda: cluster.start("node1"), "node1", START_TIMEOUT)
    assert cluster.holder_of() == ["node1"]


def test_losing_the_ping_node_moves_nothing(cluster):
    losing_the_ping_node_moves_nothing(cluster)


# auto_failback off

def test_off_home_node_back_after_a_stop_leaves_the_group_where_it_is(cluster):
    switch_mode(cluster, "off")
    move(cluster, cluster.start, "node1", START_TIMEOUT)
    off_node1_back_after_a_stop_leaves_the_group_on_node2(cluster)
    move(cluster, lambda: cluster.takeover("node1"), "node1")
    assert cluster.holder_of() == ["node1"]


# the other auth methods: only what differs by method, the packets' signatures

@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("auth", ["sha1", "crc"])
def test_auth_method_both_active_and_a_standby(auth, role):
    config = dataclasses.replace(CONFIG, auth=auth)
    with Lab() as lab:
        cluster = Cluster(lab, ROLES[role], config)
        cluster.poller = cluster.poll(duration=120)
        move(cluster, cluster.start, "node1", START_TIMEOUT)
        both_active(cluster)
        move(cluster, lambda: cluster.standby("node1"), "node2")
        assert cluster.holder_of() == ["node2"]
        assert complaints(cluster) == []
        cluster.poller.stop()

