"""A rolling migration from 2.1.x: our node and a real heartbeat 2.1.3 node in one cluster.

2.1.3 is the last 2.1 release in the public history (2.1.4 differs in fixes, not in
the protocol); the lab builds it once into /opt/hb21 (tests/lab/hb21.py). Both roles:
ours as node1, the home of the web service in haresources, and 2.1.3 as node2, then
the other way round; each role with each auth method (md5, sha1, crc), since each
signs every packet differently. One cluster per (role, auth) (module fixture, file
order) goes through start, hb_standby and hb_takeover run on each side, SIGKILL and
graceful stop of either node while it holds the group, loss of the ping node, and
auto_failback off. After every test no log of either side may hold a complaint
about the other's packets.

Bounds are generous and taken from the daemons' own log timestamps where they time
something; the speed of these moves is `make bench`'s business (row mixed21).
"""

from __future__ import annotations

import dataclasses
import re
import time

import pytest

from tests.lab import Lab
from tests.lab.cluster import HA_LOG, Cluster, line_time
from tests.lab.demo import CONFIG, START_TIMEOUT
from tests.lab.hb21 import VERSION
from tests.netns.scenarios import (graceful_stop_hands_over_without_waiting_for_deadtime, logged,
                                   losing_the_ping_node_moves_nothing, marks, move,
                                   off_node1_back_after_a_stop_leaves_the_group_on_node2,
                                   sigkill_hands_over_after_deadtime, start_node1_serves, switch_mode)

pytestmark = [pytest.mark.hb21, pytest.mark.netns]

ROLES = {"ours-home": {"node1": "ours", "node2": "hb21"}, "hb21-home": {"node1": "hb21", "node2": "ours"}}
AUTHS = ("md5", "sha1", "crc")
# what a daemon says of packets it cannot use (both versions' wording)
COMPLAINT = re.compile(r"bad packet|[Aa]uthenticat|auth token|authtoken|Bad/invalid|string2msg|netstring|"
                       r"NV failure|Couldn't parse|cannot get message|Dumping message|peel_netstring")
# ours warns at start that a crc key authenticates nothing: about authkeys, not a packet
CRC_KEY_WARNING = re.compile(r"WARN: key \d+ is crc, which authenticates nothing")
LOST = re.compile(r"(\d+) lost packet\(s\) for \[(\S+)\]")
RECOVERED = "No pkts missing from {}!"
# the two line formats: syslog style (3.0.6's default) and 2.1's `name[pid]: YYYY/MM/DD_HH:MM:SS`
SYSLOG_STAMP = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ")
HB21_STAMP = re.compile(r"^\S+\[\d+\]:\s+\d{4}/\d\d/\d\d_\d\d:\d\d:\d\d ")


# what each sends on UDP by default: 2.1's classic text (auth field inside, NUL after it),
# ours 3.0.6's netstring (digest trailer, classic auth field inside too); each reads both
ENCODING = {"hb21": "classic", "ours": "netstring"}


def encoding_of(payload: bytes) -> str:
    if payload.startswith(b">>>\n") and payload.endswith(b"<<<\n\0"):
        return "classic"
    if payload.startswith(b"###\n") and re.search(rb"%%%\n\d+:\d+ [0-9a-f]+,$", payload):
        return "netstring"
    return f"unknown: {payload[:40]!r}"


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
            recovered = any(RECOVERED.format(sender) in later and line_time(later) - line_time(line) <= 2
                            for later in lines[number + 1:number + 40])
            if cluster.nodes[sender].flavor != "hb21" or not recovered:
                found.append(f"{name}: {line}")
    return found


@pytest.fixture(scope="module", params=[(role, auth) for role in sorted(ROLES) for auth in AUTHS],
                ids="-".join)
def cluster(request):
    role, auth = request.param
    with Lab() as lab:
        cluster = Cluster(lab, ROLES[role], dataclasses.replace(CONFIG, auth=auth))
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


def node2_rejoins_and_the_group_stays_on_node1(cluster: Cluster) -> None:
    """node2 starts beside node1, which serves the group; auto_failback on hands node2
    what is its own (nothing: node1 is the group's home), so node1 keeps serving."""
    mark = marks(cluster)
    back = time.time()
    cluster.start("node2")
    logged(cluster, mark, START_TIMEOUT, node1=r"node1 wants to go standby \[foreign\]",
           node2=r"Initial resource acquisition complete")
    cluster.wait_settled()
    both_active(cluster)
    assert "node2" not in cluster.poller.answers_since(back)
    assert cluster.holder_of() == ["node1"]


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
        move(cluster, lambda command=command, runs_it=runs_it: getattr(cluster, command)(runs_it), to)
        logged(cluster, mark, **{to: r"Standby resource acquisition done \[all\]",
                                 giver: r"Local standby process completed \[all\]"})
        assert cluster.holder_of() == [to], f"{command} on {runs_it}"


def test_sigkill_of_the_home_node_hands_over_after_deadtime(cluster):
    sigkill_hands_over_after_deadtime(cluster, "node1")


def test_home_node_restarted_after_the_crash_fails_back(cluster):
    assert cluster.running() == ["node2"]
    cluster.release("node1")
    assert cluster.holder_of() == ["node2"]
    move(cluster, lambda: cluster.start("node1"), "node1", START_TIMEOUT)
    both_active(cluster)
    assert cluster.holder_of() == ["node1"]


def test_sigkill_of_the_other_node_holding_the_group_hands_it_back_after_deadtime(cluster):
    move(cluster, lambda: cluster.standby("node1"), "node2")
    sigkill_hands_over_after_deadtime(cluster, "node2")


def test_other_node_restarted_after_the_crash_leaves_the_group_home(cluster):
    assert cluster.running() == ["node1"]
    cluster.release("node2")
    assert cluster.holder_of() == ["node1"]
    node2_rejoins_and_the_group_stays_on_node1(cluster)


def test_graceful_stop_of_the_home_node_hands_over_at_once(cluster):
    graceful_stop_hands_over_without_waiting_for_deadtime(cluster, "node1")
    move(cluster, lambda: cluster.start("node1"), "node1", START_TIMEOUT)
    assert cluster.holder_of() == ["node1"]


def test_graceful_stop_of_the_other_node_holding_the_group_hands_it_back_at_once(cluster):
    move(cluster, lambda: cluster.standby("node1"), "node2")
    graceful_stop_hands_over_without_waiting_for_deadtime(cluster, "node2")
    node2_rejoins_and_the_group_stays_on_node1(cluster)


def test_losing_the_ping_node_moves_nothing(cluster):
    losing_the_ping_node_moves_nothing(cluster)


# auto_failback off

def test_off_home_node_back_after_a_stop_leaves_the_group_where_it_is(cluster):
    switch_mode(cluster, "off")
    move(cluster, cluster.start, "node1", START_TIMEOUT)
    off_node1_back_after_a_stop_leaves_the_group_on_node2(cluster)
    move(cluster, lambda: cluster.takeover("node1"), "node1")
    assert cluster.holder_of() == ["node1"]
