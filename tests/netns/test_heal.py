"""Issue 9 as the client sees it: a partition between the two nodes only, then its heal;
the holder's heartbeat stopped (SIGSTOP) for longer than deadtime, then resumed.

Ours: the group stays on its home node (node1) and node2 gives its copy up, addresses
first; node1 announces the address as soon as it hears node2 again. Mixed (node1 ours,
node2 Debian's 3.0.6): the original restarts after the heal as it always does, ours keeps
the group and announces it before the original's copy goes. The original pair, measured
in issue 9 with this config: 20.9-21.3 s of outage after the heal, 36.5 s after the resume.

Bounds are generous (the goal, 1 s and one holder within 2 s, is printed, not asserted):
under load the poller, the prober and the daemons all run late.
"""

import os
import signal
import time

import pytest

from tests.lab import Lab
from tests.lab.arpwatch import ArpWatch
from tests.lab.cluster import VIP, Cluster, kill_heartbeat, log_size
from tests.lab.demo import CONFIG, DEADTIME

pytestmark = pytest.mark.interop

FLAVORS = {"ours": "ours", "mixed": {"node1": "ours", "node2": "real"}}
PARTITION_S = 20.0
STALL_S = 8.0
ORIGINAL_OUTAGE = {"partition": 21.3, "stall": 36.5}     # issue 9's measurements of two 3.0.6 nodes
OURS_OUTAGE_BOUND = 5.0          # goal 1 s
OURS_SHARED_BOUND = 6.0          # goal: one holder 2 s after the heal shows (a keepalive after it)
SETTLE_S = 30.0                  # an original restarts: deadtime + 1 s of sleep, a start-up, a handshake
# node-to-node frames only: both still reach the client and the ping node (the switch)
CUT = """table bridge pyhb_heal {
    chain forward {
        type filter hook forward priority 0; policy accept;
        iifname "node1-eth0" oifname "node2-eth0" drop
        iifname "node2-eth0" oifname "node1-eth0" drop
    }
}
"""


@pytest.fixture(scope="module", params=sorted(FLAVORS))
def cluster(request):
    with Lab() as lab:
        cluster = Cluster(lab, FLAVORS[request.param], CONFIG)
        cluster.flavor = request.param
        cluster.poller = cluster.poll(duration=600)
        cluster.arp = ArpWatch(cluster.client, "192.0.2.50", VIP, duration=600)
        cluster.start_served(cluster.poller)
        yield cluster
        cluster.arp.stop()
        cluster.poller.stop()


def longest_silence(cluster: Cluster, after: float, until: float) -> float:
    """The longest time between two answers the client got in [after, until]."""
    answered = [p.end for p in cluster.poller.polls() if after <= p.start <= until and p.answer]
    assert answered, "the client got no answer at all"
    return max([b - a for a, b in zip(answered, answered[1:])] + [answered[0] - after])


def settle(cluster: Cluster, since: float) -> float:
    """Until both run heartbeat and nothing moves; the end of the window to measure."""
    time.sleep(max(0.0, since + SETTLE_S - time.time()))
    cluster.wait_settled(timeout=60)
    assert cluster.running() == ["node1", "node2"]
    assert cluster.holder_of() == ["node1"]
    return time.time()


def report(cluster: Cluster, what: str, since: float, until: float) -> tuple[float, float]:
    silence = longest_silence(cluster, since, until)
    shared = cluster.arp.last_shared(since)
    after = 0.0 if shared is None else shared - since
    print(f"{cluster.flavor}: {what}: longest client outage {silence:.2f} s; "
          f"two MACs answered ARP for {VIP} until {after:.2f} s after it")
    return silence, after


def test_partition_between_the_nodes_then_heal(cluster):
    assert cluster.holder_of() == ["node1"]
    node2_log = log_size(cluster.nodes["node2"])
    cut = time.time()
    cluster.switch.run(["nft", "-f", "-"], input=CUT)
    try:
        cluster.wait_log("node2", r"mach_down takeover complete", DEADTIME + 15, start=node2_log)
        assert cluster.holder_of() == ["node1", "node2"]
        time.sleep(max(0.0, cut + PARTITION_S - time.time()))
        assert cluster.arp.last_shared(cut) is not None, "the prober never saw the split brain"
    finally:
        cluster.switch.run(["nft", "delete", "table", "bridge", "pyhb_heal"])
    healed = time.time()
    until = settle(cluster, healed)
    silence, shared = report(cluster, "partition healed", healed, until)
    if cluster.flavor == "ours":
        assert silence <= OURS_OUTAGE_BOUND
        assert shared <= OURS_SHARED_BOUND
        node1 = cluster.nodes["node1"].read("/var/log/ha-log")
        assert "node1 keeps its own resource groups (IPaddr::192.0.2.100/24/eth0): this is their home node." in node1
        node2 = cluster.nodes["node2"].read("/var/log/ha-log")
        assert "node1 runs its own groups (IPaddr::192.0.2.100/24/eth0): node2 gives its copies back" in node2
        assert "Heartbeat restart" not in node1[node1.index("returning after partition"):]
    else:
        assert silence <= ORIGINAL_OUTAGE["partition"] + 5


def test_holder_stopped_longer_than_deadtime_then_resumed(cluster):
    assert cluster.holder_of() == ["node1"]
    node2_log = log_size(cluster.nodes["node2"])
    pids = kill_heartbeat(cluster.nodes["node1"], signal.SIGSTOP)
    assert pids
    stopped = time.time()
    try:
        cluster.wait_log("node2", r"mach_down takeover complete", DEADTIME + 15, start=node2_log)
        time.sleep(max(0.0, stopped + STALL_S - time.time()))
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    resumed = time.time()
    until = settle(cluster, resumed)
    silence, shared = report(cluster, "holder resumed", resumed, until)
    node1 = cluster.nodes["node1"].read("/var/log/ha-log")
    assert "node1 did not run for " in node1
    if cluster.flavor == "ours":
        assert silence <= OURS_OUTAGE_BOUND
        assert shared <= OURS_SHARED_BOUND
    else:
        assert silence <= ORIGINAL_OUTAGE["stall"] + 5
