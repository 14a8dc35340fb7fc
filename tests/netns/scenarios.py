"""Failover steps that several namespace test files assert alike, on any cluster of `Cluster`.

The cluster carries `poller`, the client watching the floating address (the test
module's fixture sets it). Each step checks the state it needs first, acts, and
asserts what both originals did in the lab; the files differ in which flavors
they put on the nodes (test_failover: ours, 3.0.6, mixed; test_interop21: ours
with 2.1.3 in both roles).
"""

from __future__ import annotations

import dataclasses
import time

from tests.lab.cluster import HA_LOG, Cluster, Move, heartbeat_pids, log_size, logged_at
from tests.lab.demo import DEADTIME, MOVE_TIMEOUT, START_TIMEOUT

# a failback with auto_failback on takes about 3.5 s after the start (lab-findings §2e)
FAILBACK_WINDOW = 6.0


def move(cluster: Cluster, action, to: str, timeout: float = MOVE_TIMEOUT) -> Move:
    """Run `action` until `to` serves the client, then until resources stop moving."""
    moved = cluster.poller.measure(action, to, timeout)
    cluster.wait_settled(*cluster.running())
    print(f"{to} serves after {moved.took:.2f} s, outage {moved.outage:.2f} s")
    return moved


def marks(cluster: Cluster) -> dict[str, int]:
    return {name: log_size(node) for name, node in cluster.nodes.items()}


def logged(cluster: Cluster, mark: dict[str, int], timeout: float = 30, **patterns: str) -> dict[str, str]:
    """Each node (keyword) writes a line matching its pattern to ha-log after its mark; those lines."""
    return {name: cluster.wait_log(name, f"^.*(?:{pattern}).*$", timeout, start=mark[name]).group(0)
            for name, pattern in patterns.items()}


def switch_mode(cluster: Cluster, auto_failback: str) -> None:
    """Stop heartbeat everywhere and rewrite ha.cf with another auto_failback (the rest, authkeys too, kept)."""
    for name in cluster.running():
        cluster.stop(name)
    cluster.reconfigure(dataclasses.replace(cluster.config, auto_failback=auto_failback))


def start_node1_serves(cluster: Cluster) -> None:
    mark = marks(cluster)
    moved = move(cluster, cluster.start, "node1", START_TIMEOUT)
    # resources are taken a fixed 10 s after both are up (RQSTDELAY, lab-findings §2a)
    assert moved.took >= 10
    logged(cluster, mark, node1=r"Initial resource acquisition complete", node2=r"No local resources .* to acquire")
    assert cluster.holder_of() == ["node1"]


def admin_hands_over(cluster: Cluster, action, giver: str, taker: str) -> None:
    """hb_standby on the holder or hb_takeover on the other node (`action`): the group moves
    from `giver` to `taker`, each logging its side of the standby handshake."""
    assert cluster.holder_of() == [giver]
    mark = marks(cluster)
    move(cluster, action, taker)
    logged(cluster, mark, **{giver: r"Local standby process completed \[all\]",
                             taker: r"Standby resource acquisition done \[all\]"})
    assert cluster.holder_of() == [taker]


def other(cluster: Cluster, name: str) -> str:
    """The node of a two-node cluster that is not `name`."""
    (peer,) = (node for node in cluster.nodes if node != name)
    return peer


def sigkill_hands_over_after_deadtime(cluster: Cluster, name: str = "node1") -> None:
    """The node `name`, holding the group, loses its heartbeat to SIGKILL; the other takes over after deadtime."""
    heir = other(cluster, name)
    assert cluster.holder_of() == [name]
    mark = marks(cluster)
    killed = time.time()
    assert cluster.kill(name), f"{name} runs no heartbeat process to kill"
    detected = logged_at(cluster.nodes[heir], rf"node {name}: is dead", DEADTIME + 10, mark[heir]) - killed
    print(f"{heir} declared {name} dead {detected:.2f} s after the kill (by its log's whole-second stamp)")
    # the last heartbeat left at most a keepalive before the kill; the stamp is floored to the second
    assert DEADTIME - 2 <= detected <= DEADTIME + 4
    cluster.poller.wait_answer(heir, killed, MOVE_TIMEOUT)
    cluster.wait_settled(heir)
    logged(cluster, mark, **{heir: r"mach_down takeover complete"})
    # nothing stops the resources of a killed daemon (lab-findings §2c)
    assert cluster.holder_of() == sorted(cluster.nodes)


def graceful_stop_hands_over_without_waiting_for_deadtime(cluster: Cluster, name: str = "node1") -> None:
    """The node `name`, holding the group, stops heartbeat; the other takes over at once."""
    heir = other(cluster, name)
    assert cluster.holder_of() == [name]
    mark = marks(cluster)
    move(cluster, lambda: cluster.stop(name), heir)
    logged(cluster, mark, **{name: rf"{name} Heartbeat shutdown complete\.",
                             heir: rf"Received shutdown notice from '{name}'\."})
    # the shutdown notice, not the silence after it, made the other node take over
    assert f"node {name}: is dead" not in cluster.nodes[heir].read(HA_LOG)[mark[heir]:]
    assert heartbeat_pids(cluster.nodes[name]) == []
    assert cluster.holder_of() == [heir]


def losing_the_ping_node_moves_nothing(cluster: Cluster) -> None:
    # without ipfail a dead ping node is only logged (lab-findings §2f1)
    assert cluster.holder_of() == ["node1"]
    mark = marks(cluster)
    lost = time.time()
    cluster.ping_node(up=False)
    try:
        logged(cluster, mark, DEADTIME + 10, **dict.fromkeys(cluster.nodes, r"node 192\.0\.2\.1: is dead"))
        answers = cluster.poller.answers_since(lost)
        assert "node1" in answers and "node2" not in answers
        assert cluster.holder_of() == ["node1"]
    finally:
        cluster.ping_node(up=True)
    logged(cluster, mark, DEADTIME + 10, **dict.fromkeys(cluster.nodes, r"Link 192\.0\.2\.1:192\.0\.2\.1 up\."))


def off_node1_back_after_a_stop_leaves_the_group_on_node2(cluster: Cluster) -> None:
    """auto_failback off, node1 serving: it stops, node2 takes over and keeps the group when node1 returns."""
    move(cluster, lambda: cluster.stop("node1"), "node2")
    mark = marks(cluster)
    back = time.time()
    cluster.start("node1")
    logged(cluster, mark, START_TIMEOUT, node1=r"Initial resource acquisition complete \(T_RESOURCES\(them\)\)")
    time.sleep(FAILBACK_WINDOW)
    cluster.wait_settled()
    assert "node1" not in cluster.poller.answers_since(back)
    assert cluster.holder_of() == ["node2"]
