"""Our init script next to Debian's, both driving the real 3.0.6 daemon on one node:
same output and exit code for the same action in the same daemon state. And ours
on an EL node, driven by `service` as an EL admin does."""

from tests.lab.cluster import HaConfig, configure, heartbeat_pids
from tests.lab.lab import wait_for
from tests.unit.test_initscript import RH_FUNCTIONS

ORIGINAL = "/etc/init.d/heartbeat"
OURS = ("import sys; from heartbeat.tools.initscript import main; "
        "sys.argv = ['/etc/init.d/heartbeat', {action!r}]; sys.exit(main())")


def test_same_texts_and_exit_codes_as_the_debian_script(lab):
    sw = lab.switch("lan")
    sw.add_address("192.0.2.1/24")
    node = lab.node("node1", flavor="real")
    node.attach(sw, "eth0", "192.0.2.11/24")
    configure(node, HaConfig(resources=()))

    def original(action):
        done = node.run([ORIGINAL, action], check=False, timeout=60)
        return done.returncode, done.stdout

    def ours(action):
        done = node.python(OURS.format(action=action), check=False, timeout=60)
        return done.returncode, done.stdout

    def both(action):
        theirs = original(action)
        assert ours(action) == theirs, action
        return theirs

    lock = node.path("/run/lock/subsys/heartbeat")
    assert both("status") == (3, "heartbeat is stopped. No process\n")
    # start and stop texts as Debian's script printed them in the lab (a stop costs seconds)
    assert ours("start") == (0, "Starting High-Availability services: Done.\n\n")
    assert lock.exists()
    rc, text = both("status")
    assert rc == 0 and text.startswith("heartbeat OK [pid ")
    assert both("reload") == (0, "Reloading High-Availability services: Done.\n\n")
    assert both("standby") == (0, "auto_failback: on\nAttempting to enter standby modeDone.\n")
    stopped = ours("stop")
    assert stopped == (0, "Stopping High-Availability services: Done.\n\n") and not lock.exists()
    assert both("status") == (1, "heartbeat is stopped. No process\n")  # the pid file stays behind
    assert both("bogus") == (1, "Usage: /etc/init.d/heartbeat {start|stop|status|restart|reload|force-reload}\n")


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
