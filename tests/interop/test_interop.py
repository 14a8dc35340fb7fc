"""Our daemon (node1) and Debian's heartbeat 3.0.6 (node2) form one cluster, for every auth method.

Membership level: haresources is empty and there is no ping node, so resources
cannot get in the way. Each side must see the other active (the real node through
its cl_status, ours through our cl_status and our log), and a peer killed with
SIGKILL must be declared dead after deadtime, in both directions.
"""

import time

import pytest

from tests.lab import Lab
from tests.lab.cluster import Cluster, HaConfig, heartbeat, kill_heartbeat, log_size, logged_at, wait_for_log
from tests.lab.lab import wait_for

pytestmark = [pytest.mark.netns, pytest.mark.interop]

DAEMON = "/usr/libexec/heartbeat/heartbeat"
DEADTIME = 5.0
# a starting node advertises 2 s more deadtime for its first 5 s (both implementations):
# kills wait this long after the victim was seen up
SETTLE_S = 5.5


def nodestatus(node, peer: str) -> str:
    done = node.run(["/usr/bin/cl_status", "nodestatus", peer], check=False, timeout=10)
    return done.stdout.strip()


def wait_active(node, peer: str, timeout: float = 30) -> None:
    wait_for(lambda: nodestatus(node, peer) == "active", timeout, f"{peer} active as seen by {node.name}",
             interval=0.2)


def start_ours(node) -> None:
    node.run([DAEMON], timeout=30)


def restart_ours(ours, real) -> tuple[float, float]:
    """Start ours again: (when, when it was seen up), once both sides see each other active."""
    mark = log_size(ours)
    restarted = time.time()
    start_ours(ours)
    wait_for_log(ours, r"Status update for node node2: status active", timeout=30, start=mark)
    up = time.time()
    wait_active(real, "node1")
    return restarted, up


def kill_and_time(victim, watcher, pattern: str, victim_up: float) -> float:
    """SIGKILL every heartbeat process of `victim`; seconds until `watcher` logs `pattern`."""
    time.sleep(max(0.0, victim_up + SETTLE_S - time.time()))
    mark = log_size(watcher)
    killed_at = time.time()
    assert kill_heartbeat(victim)
    # by the watcher's own log timestamp: how late the test reads the line does not count
    return logged_at(watcher, pattern, timeout=DEADTIME + 10, start=mark) - killed_at


@pytest.mark.parametrize("auth", ["md5", "sha1", "crc"])
def test_ours_and_real_see_each_other_and_detect_deaths(auth):
    config = HaConfig(auth=auth, resources=(), ping=(), deadtime=str(int(DEADTIME)))
    with Lab() as lab:
        cluster = Cluster(lab, {"node1": "ours", "node2": "real"}, config)
        ours, real = cluster.nodes["node1"], cluster.nodes["node2"]
        heartbeat(real, "start")
        ours_started = time.time()
        start_ours(ours)
        wait_for_log(ours, r"Status update for node node2: status active", timeout=30)
        ours_up = time.time()
        wait_active(real, "node1")
        wait_active(ours, "node2")
        print(f"{auth}: both active {time.time() - ours_started:.2f} s after our start")
        assert nodestatus(ours, "node1") == "active"

        took = kill_and_time(ours, real, r"node node1: is dead", ours_up)
        print(f"{auth}: real declared ours dead {took:.2f} s after SIGKILL")
        assert DEADTIME - 2 <= took <= DEADTIME + 3

        restarted, _ = restart_ours(ours, real)
        print(f"{auth}: restarted ours active on both sides after {time.time() - restarted:.2f} s")
        running = ours.run([DAEMON, "-s"], check=False)
        assert running.returncode == 0 and "heartbeat OK [pid " in running.stdout

        mark = log_size(real)
        stopping = time.time()
        ours.run([DAEMON, "-k"], timeout=30)
        wait_for_log(real, r"Received shutdown notice from 'node1'\.", timeout=10, start=mark)
        print(f"{auth}: heartbeat -k done and the stop heard by real after {time.time() - stopping:.2f} s")
        assert ours.run([DAEMON, "-s"], check=False).returncode == 1    # the pid file stays behind
        wait_for_log(ours, r"node1 Heartbeat shutdown complete\.", timeout=5)

        restart_ours(ours, real)
        took = kill_and_time(real, ours, r"node node2: is dead", ours_up)   # real was up before ours
        print(f"{auth}: ours declared real dead {took:.2f} s after SIGKILL")
        assert DEADTIME - 2 <= took <= DEADTIME + 3
        assert nodestatus(ours, "node2") == "dead"
