"""The init script creates the watchdog device: mknod needs root."""

import os
import stat

from tests.unit.test_initscript import Tree


def test_watchdog_loads_softdog_and_creates_the_device(tmp_path):
    tree = Tree(tmp_path)
    device = tree.root / "watchdog"
    tree.write("/etc/ha.d/ha.cf", f"watchdog {device}\nnode node1\n")
    tree.program("/sbin/modprobe", "modprobe")
    tree.write("/proc/devices", "Character devices:\n  1 mem\n 10 misc\n")
    tree.write("/proc/misc", "242 rfkill\n130 watchdog\n")
    tree.write("/proc/modules", "")
    tree.run("start")
    assert "modprobe softdog nowayout=0" in tree.calls()
    st = os.stat(device)
    assert stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (10, 130)
    assert stat.S_IMODE(st.st_mode) == 0o600
