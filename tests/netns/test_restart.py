"""Restart in place: `/etc/init.d/heartbeat reload` after ha.cf changed re-execs node1's
daemon (same pid, `-R -C local`) and keeps its resources, as 3.0.6 does.

One two-node cluster of ours with the lab's base config (nice_failback, node1
holds the VIP and httpd). The client polls all the while: the service must
never stop, node2 must take nothing over, and both nodes report the same
holdings afterwards.
"""

import dataclasses
import time

from tests.lab import Lab
from tests.lab.cluster import Cluster, heartbeat, heartbeat_pids, log_size
from tests.lab.demo import CONFIG

SETTLE_TIMEOUT = 30.0


def master(node) -> int:
    """The host pid of the node's heartbeat that no other heartbeat process started."""
    pids = heartbeat_pids(node)

    def parent(pid: int) -> int:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    masters = [pid for pid in pids if parent(pid) not in pids]
    assert len(masters) == 1, pids
    return masters[0]


def test_reload_with_a_changed_ha_cf_restarts_in_place_keeping_the_vip():
    with Lab() as lab:
        cluster = Cluster(lab, "ours", CONFIG)
        poller = cluster.poll(duration=120)
        try:
            node1, node2 = cluster.nodes["node1"], cluster.nodes["node2"]
            cluster.start_served(poller)
            holdings = {name: cluster.rscstatus(name) for name in cluster.nodes}
            assert holdings["node1"] == "local"
            daemon = master(node1)

            mark1, mark2 = log_size(node1), log_size(node2)
            node1.write("/etc/ha.d/ha.cf", dataclasses.replace(CONFIG, warntime="4").ha_cf())
            reloaded = time.time()
            heartbeat(node1, "reload")
            cluster.wait_log("node1", r"info: Performing heartbeat restart exec\.\n", start=mark1)
            # the new incarnation's handshake with node2, as the real 3.0.6 logs it after -R
            found = cluster.wait_log("node1", r"info: remote resource transition completed\.\n.*"
                                     r"info: Initial resource acquisition complete \(T_RESOURCES\(us\)\)\n",
                                     SETTLE_TIMEOUT, start=mark1)
            cluster.wait_settled()
            print(f"restarted and settled {time.time() - reloaded:.2f} s after the reload")

            assert master(node1) == daemon
            assert poller.answers_since(reloaded) == {"node1"}        # not one failed poll
            assert cluster.holder_of() == ["node1"]
            assert {name: cluster.rscstatus(name) for name in cluster.nodes} == holdings
            log1 = node1.read("/var/log/ha-log")[mark1:]
            assert "info: Signalling heartbeat pid " in log1                 # heartbeat -r, as 3.0.6's
            assert "Heartbeat shutdown in progress" not in log1 and "Giving up" not in log1
            assert log1.count("remote resource transition completed.") == 1 and "(none)" not in log1
            assert "info: Configuration validated. Starting heartbeat" in log1[:found.start()]
            log2 = node2.read("/var/log/ha-log")[mark2:]
            assert "info: Heartbeat restart on node node1" in log2
            assert "is dead" not in log2 and "acquired" not in log2 and "shutdown notice" not in log2
        finally:
            poller.stop()
