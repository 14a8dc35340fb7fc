"""Failover as the client sees it, for each flavor: the demo's scenarios as assertions.

One cluster per flavor (the module fixture is parametrized, so pytest runs all
tests of one flavor before building the next); the tests run in file order,
each first checks the state it needs. auto_failback on first, then off, then
legacy (heartbeat is stopped on both nodes and ha.cf rewritten between modes).
Base config: lab-findings' (keepalive 1 s, deadtime 5 s, bcast, ping node
192.0.2.1, `node1 IPaddr::192.0.2.100/24/eth0 httpd`). The expected log lines
are those Debian's 3.0.6 writes (tests/netns/test_real_cluster.py is the
two-real-node baseline of the first scenarios).
"""

import os
import time

import pytest

from tests.lab import Lab
from tests.lab.cluster import Cluster, heartbeat_pids, logged_at
from tests.lab.lab import node_python
from tests.lab.demo import CONFIG, DEADTIME, START_TIMEOUT, die, repair
from tests.netns.scenarios import (admin_hands_over, graceful_stop_hands_over_without_waiting_for_deadtime, logged,
                                   losing_the_ping_node_moves_nothing, marks, move,
                                   off_node1_back_after_a_stop_leaves_the_group_on_node2,
                                   sigkill_hands_over_after_deadtime, start_node1_serves, switch_mode)

pytestmark = pytest.mark.interop

# real: the reference that every expectation here holds for the original;
# mixed: during a rolling migration ours and the original fail over to each other
FLAVORS = {"ours": "ours", "mixed": {"node1": "ours", "node2": "real"}, "real": "real"}


@pytest.fixture(scope="module", params=sorted(FLAVORS))
def cluster(request):
    with Lab() as lab:
        cluster = Cluster(lab, FLAVORS[request.param], CONFIG)
        cluster.poller = cluster.poll(duration=900)
        yield cluster
        cluster.poller.stop()


# auto_failback on

def test_start_node1_serves_after_the_start_up_wait(cluster):
    start_node1_serves(cluster)


def test_our_daemons_run_on_the_selected_python(cluster):
    # `make netns39` selects 3.9 for our nodes (PYHB_NODE_PYTHON); this shows it took
    wanted = os.path.realpath(node_python())
    for node in cluster.nodes.values():
        if node.flavor == "ours":
            interpreters = {os.path.realpath(f"/proc/{pid}/exe") for pid in heartbeat_pids(node)}
            assert interpreters == {wanted}, node.name


def test_hb_standby_hands_the_group_to_node2(cluster):
    admin_hands_over(cluster, lambda: cluster.standby("node1"), "node1", "node2")


def test_hb_takeover_brings_it_back(cluster):
    admin_hands_over(cluster, lambda: cluster.takeover("node1"), "node2", "node1")


def test_sigkill_of_node1s_heartbeat_hands_over_after_deadtime(cluster):
    sigkill_hands_over_after_deadtime(cluster)


def test_node1_restarted_after_the_crash_fails_back(cluster):
    assert cluster.running() == ["node2"]
    repair(cluster)
    assert cluster.holder_of() == ["node2"]
    mark = marks(cluster)
    move(cluster, lambda: cluster.start("node1"), "node1", START_TIMEOUT)
    logged(cluster, mark, node2=r"node2 wants to go standby \[foreign\]")
    assert cluster.holder_of() == ["node1"]


def test_node_death_leaves_the_client_unserved_until_deadtime(cluster):
    assert cluster.holder_of() == ["node1"]
    mark = marks(cluster)
    moved = move(cluster, lambda: die(cluster), "node2", DEADTIME + 15)
    assert moved.outage >= DEADTIME - 1.5
    logged(cluster, mark, node2=r"node node1: is dead")
    assert "node2" in cluster.holder_of()


def test_node1_back_from_death_fails_back(cluster):
    assert cluster.running() == ["node2"]
    repair(cluster)
    move(cluster, lambda: cluster.start("node1"), "node1", START_TIMEOUT)
    assert cluster.holder_of() == ["node1"]


def test_graceful_stop_hands_over_without_waiting_for_deadtime(cluster):
    graceful_stop_hands_over_without_waiting_for_deadtime(cluster)


def test_restart_after_a_graceful_stop_fails_back(cluster):
    assert cluster.holder_of() == ["node2"]
    move(cluster, lambda: cluster.start("node1"), "node1", START_TIMEOUT)
    assert cluster.holder_of() == ["node1"]


def test_losing_the_ping_node_moves_nothing(cluster):
    losing_the_ping_node_moves_nothing(cluster)


# auto_failback off

def test_off_start_node1_serves(cluster):
    switch_mode(cluster, "off")
    assert cluster.running() == [] and cluster.holder_of() == []
    move(cluster, cluster.start, "node1", START_TIMEOUT)
    assert cluster.holder_of() == ["node1"]


def test_off_node1_back_after_a_stop_leaves_the_group_on_node2(cluster):
    off_node1_back_after_a_stop_leaves_the_group_on_node2(cluster)


def test_off_hb_takeover_moves_the_group_home(cluster):
    assert cluster.holder_of() == ["node2"]
    move(cluster, lambda: cluster.takeover("node1"), "node1")
    assert cluster.holder_of() == ["node1"]


# auto_failback legacy

def test_legacy_start_needs_no_start_up_wait(cluster):
    switch_mode(cluster, "legacy")
    mark = marks(cluster)
    move(cluster, cluster.start, "node1", START_TIMEOUT)
    # legacy asks with ip-request at once instead of waiting RQSTDELAY (10 s) after comm-up; timed by
    # node1's own log stamps, so a slow test run cannot stretch it
    node1 = cluster.nodes["node1"]
    up = logged_at(node1, r"Comm_now_up\(\): updating status to active", start=mark["node1"])
    acquired = logged_at(node1, r"Initial resource acquisition complete", start=mark["node1"])
    assert acquired - up < 8
    logged(cluster, mark, node1=r"WARN: Deprecated 'legacy' auto_failback option selected\.(.|\n)*"
                                r"Initial resource acquisition complete")
    assert cluster.holder_of() == ["node1"]


def test_legacy_refuses_hb_standby(cluster):
    mark = marks(cluster)
    asked = time.time()
    cluster.standby("node1")
    logged(cluster, mark, **dict.fromkeys(cluster.nodes, r"Standby mode only implemented when nice_failback on"))
    assert "node2" not in cluster.poller.answers_since(asked)
    assert cluster.holder_of() == ["node1"]


def test_legacy_node1_takes_its_group_back_when_it_returns(cluster):
    move(cluster, lambda: cluster.stop("node1"), "node2")
    mark = marks(cluster)
    move(cluster, lambda: cluster.start("node1"), "node1", START_TIMEOUT)
    logged(cluster, mark, node2=r"rc\.d/ip-request ip-request")
    assert cluster.holder_of() == ["node1"]
