"""hb2pcs end to end: a two-node Corosync + Pacemaker cluster started from what hb2pcs wrote.

The heartbeat cluster converted is the classic one: node1 serves 192.0.2.100 on eth0,
node2 takes over, auto_failback off. Both nodes run Debian's corosync and pacemakerd
directly (no systemd), each with its own /etc/corosync, /var/lib/corosync,
/var/lib/pacemaker and /dev/shm; the CIB hb2pcs wrote is loaded with cibadmin, as an
admin would push it. A client on the switch checks who answers for the address.

The waits are generous upper bounds: Pacemaker elects a DC and probes every resource
before it starts anything, which takes tens of seconds on a loaded machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import xml.etree.ElementTree as ET

import pytest

from heartbeat.tools.hb2pcs import cli
from tests.lab import wait_for
from tests.lab.lab import mac_for

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="namespaces need root"),
    pytest.mark.skipif(any(shutil.which(b) is None for b in ("corosync", "pacemakerd", "cibadmin",
                                                            "corosync-keygen")),
                       reason="corosync/pacemaker not installed (Debian packages corosync, pacemaker, "
                              "pacemaker-cli-utils, resource-agents; `make deps` installs them)"),
]

VIP = "192.0.2.100"
NODES = {"node1": "192.0.2.11", "node2": "192.0.2.12"}
CLIENT = "192.0.2.50"
HA_CF = """# the classic pair, converted by hb2pcs
keepalive 1
deadtime 5
initdead 20
bcast eth0
auto_failback off
node node1 node2
"""
HARESOURCES = f"node1 IPaddr::{VIP}/24/eth0\n"
PRIVATE = {"/etc/corosync": 0o755, "/var/lib/corosync": 0o755, "/var/lib/pacemaker": 0o755,
           "/dev/shm": 0o1777}
PACEMAKER_DIRS = ("/var/lib/pacemaker/cib", "/var/lib/pacemaker/pengine", "/var/lib/pacemaker/blackbox",
                  "/var/lib/pacemaker/cores", "/var/log/pacemaker")
CLUSTER_UP = 150       # corosync membership, DC election, probes
MOVE = 90
POLL = 0.5


@pytest.fixture
def generated(tmp_path):
    ha_dir = tmp_path / "ha.d"
    ha_dir.mkdir()
    (ha_dir / "ha.cf").write_text(HA_CF)
    (ha_dir / "haresources").write_text(HARESOURCES)
    (ha_dir / "authkeys").write_text("auth 1\n1 sha1 not-carried-over\n")
    out = {"corosync": tmp_path / "corosync.conf", "cib": tmp_path / "cib.xml"}
    argv = ["-d", str(ha_dir), "--corosync", str(out["corosync"]), "--cib", str(out["cib"])]
    argv += [a for n, ip in NODES.items() for a in ("--address", f"{n}={ip}")]
    assert cli.main(argv) == 0
    key = tmp_path / "authkey"
    subprocess.run(["corosync-keygen", "-k", str(key)], check=True, capture_output=True, timeout=30)
    configuration = ET.fromstring(out["cib"].read_text()).find("configuration")
    return {"corosync.conf": out["corosync"].read_text(), "authkey": key.read_bytes(),
            "configuration": ET.tostring(configuration, encoding="unicode")}


def prepare(node, generated) -> None:
    node.write("/etc/corosync/corosync.conf", generated["corosync.conf"])
    key = node.path("/etc/corosync/authkey")
    key.write_bytes(generated["authkey"])
    os.chmod(key, 0o400)
    for directory in PACEMAKER_DIRS:
        path = node.path(directory)
        path.mkdir(parents=True, exist_ok=True)
        shutil.chown(path, "hacluster", "haclient")
        os.chmod(path, 0o770)
    node.path("/var/log/corosync").mkdir(exist_ok=True)
    node.path("/run/resource-agents").mkdir(exist_ok=True)


def start_stack(node) -> None:
    for name, argv in (("corosync", ["corosync", "-f"]), ("pacemakerd", ["pacemakerd"])):
        with open(node.path(f"/var/log/{name}.out"), "ab") as log:
            node.spawn(argv, stdout=log, stderr=subprocess.STDOUT)


def kill_stack(node) -> None:
    """SIGKILL, by PID, everything the cluster stack runs in the node (nothing else runs there)."""
    for pid in node.pids():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_for(lambda: not node.pids(), 10, f"{node.name}'s processes to die", POLL)


def online(node) -> set[str]:
    done = node.run(["crm_mon", "-1", "--output-as=xml"], check=False, timeout=30)
    if done.returncode != 0:
        return set()
    root = ET.fromstring(done.stdout)
    dc = root.find("summary/current_dc")
    if dc is None or dc.get("present") != "true":
        return set()
    return {n.get("name") for n in root.iter("node") if n.get("online") == "true"}


def has_vip(node) -> bool:
    return f"inet {VIP}/24" in node.run(["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).stdout


def holders(lab) -> list[str]:
    return [name for name in NODES if has_vip(lab.nodes[name])]


def answering(client) -> str | None:
    """The MAC that answers the client for the address, fresh (neighbour cache flushed)."""
    client.run(["ip", "neigh", "flush", "dev", "eth0"])
    if client.run(["ping", "-c", "1", "-W", "1", VIP], check=False, timeout=10).returncode != 0:
        return None
    words = client.run(["ip", "neigh", "show", VIP, "dev", "eth0"]).stdout.split()
    return words[words.index("lladdr") + 1] if "lladdr" in words else None


def test_generated_cluster_serves_fails_over_and_stays(lab, generated):
    sw = lab.switch("lan")
    client = lab.node("client")
    client.attach(sw, "eth0", f"{CLIENT}/24")
    for name, ip in NODES.items():
        node = lab.node(name, "plain", private=PRIVATE)
        node.attach(sw, "eth0", f"{ip}/24")
        prepare(node, generated)
    n1, n2 = lab.nodes["node1"], lab.nodes["node2"]
    for node in (n1, n2):
        start_stack(node)
    wait_for(lambda: online(n1) == set(NODES), CLUSTER_UP, "both nodes online with a DC", POLL)

    n1.write("/tmp/configuration.xml", generated["configuration"])
    n1.run(["cibadmin", "--replace", "--scope", "configuration", "--xml-file", "/tmp/configuration.xml"])
    wait_for(lambda: holders(lab) == ["node1"], MOVE, f"{VIP} on node1, haresources' node", POLL)
    assert wait_for(lambda: answering(client), 20, "an answer for the address", POLL) == mac_for(NODES["node1"])

    kill_stack(n1)
    # a crashed stack leaves its address behind; the reboot that follows a crash removes it
    n1.run(["ip", "addr", "del", f"{VIP}/24", "dev", "eth0"])
    wait_for(lambda: holders(lab) == ["node2"], MOVE, f"{VIP} to move to node2", POLL)
    assert wait_for(lambda: answering(client), 20, "an answer for the address", POLL) == mac_for(NODES["node2"])

    start_stack(n1)
    wait_for(lambda: online(n2) == set(NODES), CLUSTER_UP, "node1 back in the cluster", POLL)
    # auto_failback off: once the cluster has settled with node1 back, the address is still on node2
    n2.run(["crm_resource", "--wait", "--timeout", f"{MOVE}s"], timeout=MOVE + 30)
    assert holders(lab) == ["node2"]
    assert answering(client) == mac_for(NODES["node2"])
