"""Our init script on an EL node, driven by `service` as an EL admin does (next to
Debian's: tests/interop/test_initscript.py)."""

from tests.lab.cluster import HaConfig, configure, heartbeat_pids
from tests.lab.lab import wait_for
from tests.unit.test_initscript import RH_FUNCTIONS


def test_service_heartbeat_on_an_el_node_reads_sysconfig_and_reports_through_functions(lab):
    sw = lab.switch("lan")
    sw.add_address("192.0.2.1/24")
    node = lab.node("node1", flavor="ours", own_etc=True)
    node.attach(sw, "eth0", "192.0.2.11/24")
    configure(node, HaConfig(resources=()))
    node.write("/etc/init.d/functions", RH_FUNCTIONS)
    node.run(["sh", "-ec", "echo 'Red Hat Enterprise Linux release 9.4 (Plow)' > /etc/redhat-release\n"
                           "mkdir -p /etc/sysconfig\n"
                           "echo 'export PYHB_FROM=sysconfig' > /etc/sysconfig/heartbeat"])

    started = node.run(["service", "heartbeat", "start"], timeout=60)
    assert started.stdout == "Starting High-Availability services: [  OK  ]\r\n"
    assert node.path("/run/lock/subsys/heartbeat").exists()
    pids = wait_for(lambda: heartbeat_pids(node), 10, "heartbeat processes")
    with open(f"/proc/{pids[0]}/environ", "rb") as f:
        assert b"PYHB_FROM=sysconfig" in f.read().split(b"\0")
    status = node.run(["service", "heartbeat", "status"], check=False)
    assert status.returncode == 0 and status.stdout.startswith("heartbeat OK [pid ")

    stopped = node.run(["service", "heartbeat", "stop"], timeout=120)
    assert stopped.stdout == "Stopping High-Availability services: [  OK  ]\r\n"
    wait_for(lambda: not heartbeat_pids(node), 30, "heartbeat to exit")
    assert not node.path("/run/lock/subsys/heartbeat").exists()
