"""Resource monitoring (pyheartbeat.cf) in a two-node cluster of ours, with a polling client.

The lab's base config (auto_failback on, `node1 IPaddr::192.0.2.100/24/eth0 httpd`) plus,
on both nodes, `monitor httpd interval=2 restarts=2`. The tests run in file order on one
cluster: httpd killed on node1 is restarted within one interval; httpd broken for good
(its start fails) moves the group to node2 within interval x restarts + the standby
time; a maintenance pause on node2 leaves a hand-stopped httpd alone. Time bounds come
from the daemon's own log timestamps, or are generous upper bounds; the client's outages
are printed.
"""

from __future__ import annotations

import time

import pytest

from tests.lab import Lab
from tests.lab.cluster import HTTPD_SCRIPT, Cluster, log_size, logged_at, wait_for_log
from tests.lab.demo import CONFIG, MOVE_TIMEOUT
from tests.lab.lab import wait_for

INTERVAL = 2
RESTARTS = 2
PYHBCF = f"monitor httpd interval={INTERVAL} timeout=5 restarts={RESTARTS} window=600 on_fail=standby\n"
# the log's timestamps have whole seconds, and a check may take a moment under load
SLACK = 3.0
FAILED_CHECK = r"WARN: Resource httpd failed its monitor check: status says \[httpd is not running\] \(failure 1\)"
PAUSE_FILE = "/var/lib/heartbeat/monitor-pause/httpd"
BROKEN_HTTPD = HTTPD_SCRIPT.replace("start)\n    running && exit 0\n", "start)\n    exit 1\n")


@pytest.fixture(scope="module")
def cluster():
    assert BROKEN_HTTPD != HTTPD_SCRIPT
    with Lab() as lab:
        cluster = Cluster(lab, "ours", CONFIG)
        for node in cluster.nodes.values():
            node.write("/etc/ha.d/pyheartbeat.cf", PYHBCF)
        cluster.poller = cluster.poll(duration=600)
        yield cluster
        cluster.poller.stop()


def kill_httpd(cluster: Cluster, name: str) -> float:
    """SIGTERM to the node's busybox httpd by its pid file; the Unix time just before, read in
    the node (the time it takes to enter the node does not count)."""
    out = cluster.nodes[name].run(["sh", "-c", 'pid=$(cat /run/httpd.pid) && date +%s.%N && kill "$pid"']).stdout
    return float(out)


def outage_after(cluster: Cluster, since: float, node: str, timeout: float) -> float:
    """From the last answer before the first failed poll after `since` to `node`'s next answer."""
    poller = cluster.poller

    def recovered():
        polls = [p for p in poller.polls() if p.start >= since]
        failed = next((i for i, p in enumerate(polls) if p.answer is None), None)
        if failed is None:
            return None
        back = next((p for p in polls[failed:] if p.answer == node), None)
        if back is None:
            return None
        last = max((p.end for p in polls[:failed] if p.answer is not None), default=since)
        return back.end - last

    return wait_for(recovered, timeout, f"the client served by {node} again")


def rscmonitor(cluster: Cluster, name: str) -> list[list[str]]:
    out = cluster.nodes[name].run(["cl_status", "rscmonitor"], timeout=15).stdout
    return [line.split("\t") for line in out.splitlines()]


def test_start_and_monitor_only_where_the_group_is_held(cluster):
    cluster.start_served(cluster.poller)
    wait_for(lambda: rscmonitor(cluster, "node1")[0][1] == "ok", 4 * INTERVAL + 10, "node1's first check")
    [row] = rscmonitor(cluster, "node1")
    assert (row[0], row[2], row[3], row[5], row[6]) == ("httpd", "0", "0", "ok", "httpd")
    assert [r[:2] for r in rscmonitor(cluster, "node2")] == [["httpd", "idle"]]


def test_killed_httpd_is_restarted_within_one_interval(cluster):
    node1 = cluster.nodes["node1"]
    mark = log_size(node1)
    killed = kill_httpd(cluster, "node1")
    failed = logged_at(node1, FAILED_CHECK, 4 * INTERVAL + 10, start=mark)
    wait_for_log(node1, r"info: Restarting resource httpd \(restart 1 of 2 within 600s\)", 10, start=mark)
    restarted = logged_at(node1, r"info: Resource httpd restarted\.", 30, start=mark)
    outage = outage_after(cluster, killed, "node1", 30)
    print(f"httpd killed on node1: failure logged {failed - killed:.0f} s later (log seconds), "
          f"restarted {restarted - killed:.0f} s later; client outage {outage:.2f} s")
    assert failed - killed <= INTERVAL + SLACK
    wait_for_log(node1, r"info: Resource httpd passed its monitor check again\.", 4 * INTERVAL + 10, start=mark)
    assert cluster.holder_of() == ["node1"]
    [row] = rscmonitor(cluster, "node1")
    assert (row[1], row[2], row[3]) == ("ok", "0", "1")


def test_httpd_broken_for_good_moves_the_group_to_node2(cluster):
    node1, node2 = cluster.nodes["node1"], cluster.nodes["node2"]
    marks = {name: log_size(node) for name, node in cluster.nodes.items()}
    node1.write("/etc/init.d/httpd", BROKEN_HTTPD, mode=0o755)
    try:
        # the restart of the previous test is within the window: one restart is left
        bound = INTERVAL * RESTARTS + MOVE_TIMEOUT
        moved = cluster.poller.measure(lambda: kill_httpd(cluster, "node1"), "node2", bound + 30)
        print(f"httpd broken for good on node1: node2 serves {moved.took:.2f} s after the kill, "
              f"client outage {moved.outage:.2f} s (bound {bound:g} s)")
        assert moved.took <= bound
        wait_for_log(node1, r"ERROR: Restart of resource httpd failed: /etc/init.d/httpd start returned 1",
                     10, start=marks["node1"])
        wait_for_log(node1, r"ERROR: Resource httpd: 2 restarts within 600s used up: giving group "
                            r"IPaddr::192\.0\.2\.100/24/eth0 to the other node\.", 10, start=marks["node1"])
        wait_for_log(node1, r"info: Going standby \[local\]\.", 10, start=marks["node1"])
        wait_for_log(node2, r"Standby resource acquisition done \[local\]\.", 30, start=marks["node2"])
        cluster.wait_settled()
    finally:
        node1.write("/etc/init.d/httpd", HTTPD_SCRIPT, mode=0o755)
    assert cluster.holder_of() == ["node2"]
    # node2 holds node1's group as foreign resources, and monitors it
    wait_for(lambda: rscmonitor(cluster, "node2")[0][1] == "ok", 4 * INTERVAL + 10, "node2's first check")
    assert rscmonitor(cluster, "node1")[0][1] == "idle"


def test_a_paused_httpd_stopped_by_hand_is_left_alone(cluster):
    node2 = cluster.nodes["node2"]
    mark = log_size(node2)
    node2.write(PAUSE_FILE, "")
    wait_for_log(node2, r"info: Resource monitoring of resource httpd paused \(maintenance\)\.", 10, start=mark)
    node2.run(["/etc/init.d/httpd", "stop"])
    time.sleep(3 * INTERVAL + 1)
    assert "monitor check" not in node2.read("/var/log/ha-log")[mark:]
    assert node2.run(["/etc/init.d/httpd", "status"], check=False).returncode == 3
    assert rscmonitor(cluster, "node2")[0][1] == "paused"
    # the admin starts it again, then ends the pause
    node2.run(["/etc/init.d/httpd", "start"])
    node2.path(PAUSE_FILE).unlink()
    wait_for_log(node2, r"info: Resource monitoring of resource httpd resumed\.", 10, start=mark)
    wait_for(lambda: rscmonitor(cluster, "node2")[0][1] == "ok", 4 * INTERVAL + 10, "a check after the pause")
    assert "Restarting" not in node2.read("/var/log/ha-log")[mark:]


@pytest.mark.interop
def test_an_original_peer_takes_over_what_our_monitor_gives_up():
    """node1 ours with a monitor, node2 Debian's 3.0.6 (which never reads pyheartbeat.cf):
    the standby handshake hands the broken group to the original."""
    with Lab() as lab:
        cluster = Cluster(lab, {"node1": "ours", "node2": "real"}, CONFIG)
        node1, node2 = cluster.nodes["node1"], cluster.nodes["node2"]
        node1.write("/etc/ha.d/pyheartbeat.cf", f"monitor httpd interval={INTERVAL} restarts=0\n")
        poller = cluster.poller = cluster.poll(duration=300)
        try:
            cluster.start_served(poller)
            node1.write("/etc/init.d/httpd", BROKEN_HTTPD, mode=0o755)
            mark = log_size(node2)
            moved = poller.measure(lambda: kill_httpd(cluster, "node1"), "node2", INTERVAL + MOVE_TIMEOUT + 30)
            print(f"mixed cluster: the original node2 serves {moved.took:.2f} s after httpd died on node1, "
                  f"client outage {moved.outage:.2f} s")
            assert moved.took <= INTERVAL + MOVE_TIMEOUT
            wait_for_log(node2, r"Standby resource acquisition done \[local\]\.", 30, start=mark)
            cluster.wait_settled()
            assert cluster.holder_of() == ["node2"]
        finally:
            poller.stop()
