"""Our init script next to Debian's, both driving the real 3.0.6 daemon on one node:
same output and exit code for the same action in the same daemon state."""

import pytest

from tests.lab.cluster import HaConfig, configure

pytestmark = [pytest.mark.netns, pytest.mark.interop]

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

