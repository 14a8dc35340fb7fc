"""Issue 8 on a running cluster of ours: what a key holder sends, what a local user does.

One two-node cluster (lab-findings' config: `node1 IPaddr::192.0.2.100/24/eth0 httpd`);
the tests run in file order, each first checks the state it needs.
"""

import re
import time

import pytest

from tests.lab import Lab, wait_for
from tests.lab.cluster import Cluster, log_size
from tests.lab.demo import CONFIG, MOVE_TIMEOUT, START_TIMEOUT, die

ATTACK_PROOF = "/tmp/owned"
ATTACK_KEY = f"../../../../bin/sh::-c::id>{ATTACK_PROOF}"
NOBODY = 65534
IDLE_CONNECTIONS = 1000

# opens the connections as nobody, writes how many it got, then holds them
IDLE_CLIENT = f"""
import os, socket
os.setgroups([]); os.setgid({NOBODY}); os.setuid({NOBODY})
held = []
for _ in range({IDLE_CONNECTIONS}):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect("/run/heartbeat/register")
    except OSError:
        s.close()
        continue
    held.append(s)
with open("/tmp/idle-opened", "w") as f:
    f.write(str(len(held)))
__import__("time").sleep(600)
"""


def since(node, mark: int) -> str:
    return node.path("/var/log/ha-log").read_bytes()[mark:].decode(errors="replace")


@pytest.fixture(scope="module")
def cluster():
    with Lab() as lab:
        cluster = Cluster(lab, "ours", CONFIG)
        cluster.poller = cluster.poll(duration=600)
        yield cluster
        cluster.poller.stop()


def test_start(cluster):
    t = time.time()
    cluster.start()
    cluster.poller.wait_answer("node1", t, START_TIMEOUT)
    cluster.wait_settled()
    assert cluster.holder_of() == ["node1"]


def test_a_signed_ip_request_naming_a_shell_runs_nothing(cluster):
    """Row 1: node2's daemon signs and sends what a script hands it through the FIFO;
    node1 holds the group the request's key would have touched."""
    node1 = cluster.nodes["node1"]
    mark = log_size(node1)
    cluster.nodes["node2"].python(
        "from heartbeat.resources.scriptenv import ha_clustermsg\n"
        f"ha_clustermsg('/var/lib/heartbeat/fifo', [('t', 'ip-request'), ('ipaddr', {ATTACK_KEY!r})])")
    cluster.wait_log("node1", re.escape(f"ip-request from node2 names [{ATTACK_KEY}], no resource of "
                                        "haresources: ignored"), start=mark)
    time.sleep(2)     # rc.d would have run by now
    assert not node1.path(ATTACK_PROOF).exists()
    assert "rc.d/ip-request" not in since(node1, mark)
    assert cluster.holder_of() == ["node1"]


def test_idle_api_connections_of_nobody_do_not_stop_a_failover(cluster):
    """Row 7: 1,000 idle connections from nobody on node2, then node1 dies: node2 must
    still run mach_down and its resource scripts."""
    node2 = cluster.nodes["node2"]
    # the daemon's own run directory is 0755 when no init script made it 0750: nobody
    # reaches the socket then, as in the attack the issue reports
    node2.path("/run/heartbeat").chmod(0o755)
    mark = log_size(node2)
    idle = node2.spawn(["python3", "-c", IDLE_CLIENT])
    try:
        wait_for(lambda: node2.path("/tmp/idle-opened").exists(), 60, "nobody's connections")
        assert int(node2.path("/tmp/idle-opened").read_text()) == IDLE_CONNECTIONS
        # node1 dies: cable cut and daemon killed (its resources stay up, behind the cut)
        moved = cluster.poller.measure(lambda: die(cluster), "node2", MOVE_TIMEOUT + 30)
        print(f"node2 serves after {moved.took:.2f} s")
        cluster.wait_log("node2", r"mach_down takeover complete", start=mark)
        log = since(node2, mark)
        assert "too many API connections from uid 65534" in log
        assert "EMFILE" not in log and "Too many open files" not in log
        assert "node2" in cluster.holder_of()
    finally:
        idle.kill()
