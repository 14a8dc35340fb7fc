"""Baseline with two real heartbeat 3.0.6 nodes: the lab can host the original daemon.

lab-findings' setup (keepalive 1, deadtime 5, bcast eth0, md5, ping node
192.0.2.1, auto_failback on, `node1 IPaddr::192.0.2.100/24/eth0 httpd`).
The tests run in file order on one cluster; each first checks the state it needs.
Interop tests later swap one node to flavor "ours".
"""

import time

import pytest

from tests.lab import Lab
from tests.lab.cluster import Cluster, HaConfig, log_size, logged_at

pytestmark = [pytest.mark.netns, pytest.mark.interop]

CONFIG = HaConfig()
DEADTIME = float(CONFIG.deadtime)


@pytest.fixture(scope="module")
def cluster():
    with Lab() as lab:
        cluster = Cluster(lab, "real", CONFIG)
        cluster.poller = cluster.poll()
        cluster.started = time.time()
        cluster.start()
        yield cluster


def test_start_node1_serves_the_vip(cluster):
    # start-up waits RQSTDELAY (10 s) whatever initdead is: ~13 s (§2a)
    took = cluster.poller.wait_answer("node1", cluster.started, timeout=30)
    print(f"start: first answer from node1 after {took:.2f} s")
    cluster.wait_log("node1", r"Initial resource acquisition complete")
    assert cluster.holder_of() == ["node1"]
    assert cluster.wait_log("node2", r"No local resources .* to acquire")


def test_standby_moves_the_group_and_takeover_brings_it_back(cluster):
    assert cluster.holder_of() == ["node1"]
    action = time.time()
    cluster.standby("node1")
    took = cluster.poller.wait_answer("node2", action, timeout=15)
    print(f"hb_standby: node2 after {took:.2f} s, outage {cluster.poller.outage('node2', action):.2f} s")
    cluster.wait_log("node2", r"Standby resource acquisition done \[all\]")
    assert cluster.holder_of() == ["node2"]

    mark = log_size(cluster.nodes["node1"])
    action = time.time()
    cluster.takeover("node1")
    took = cluster.poller.wait_answer("node1", action, timeout=15)
    print(f"hb_takeover: node1 after {took:.2f} s")
    cluster.wait_log("node1", r"remote resource transition completed", start=mark)
    assert cluster.holder_of() == ["node1"]


def test_sigkill_of_node1s_heartbeat_hands_over_after_deadtime(cluster):
    assert cluster.holder_of() == ["node1"]
    mark = log_size(cluster.nodes["node2"])
    action = time.time()
    assert len(cluster.kill("node1")) == 6  # master, FIFO reader, bcast and ping read/write
    took = cluster.poller.wait_answer("node2", action, timeout=DEADTIME + 10)
    print(f"SIGKILL: node2 after {took:.2f} s, outage {cluster.poller.outage('node2', action):.2f} s")
    # the client cannot be served before detection, deadtime after the last heartbeat, which left
    # at most a keepalive before the kill; the wait's timeout is the upper bound
    assert took >= DEADTIME - 1.5
    detected = logged_at(cluster.nodes["node2"], r"node node1: is dead", start=mark) - action
    assert DEADTIME - 2 <= detected <= DEADTIME + 3     # by node2's own (whole-second) log stamp
    cluster.wait_log("node2", r"mach_down takeover complete", start=mark)
    # killing the daemon leaves the address on node1 too (§2c)
    assert cluster.holder_of() == ["node1", "node2"]
