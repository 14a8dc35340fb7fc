"""The installed resource agents inside a namespace node: addresses, gratuitous ARP, mounts.

One plain node (192.0.2.11 on switch "lan") runs the installed (staged) `resource.d`
scripts the way ResourceManager does (`$HA_DIR/resource.d/NAME ARGS... start|stop|status`),
with `$HA_BIN` the staged findif and send_arp; a capture on the switch sees what goes out.
Each test undoes what it started, also when it fails.
"""

import statistics
import time

import pytest

from tests.lab import Lab, wait_for
from tests.lab.lab import mac_for

NODE_IP = "192.0.2.11"
VIP = "192.0.2.100"


@pytest.fixture(scope="module")
def rig():
    with Lab() as lab:
        sw = lab.switch("lan")
        sw.add_address("192.0.2.1/24")
        node = lab.node("node1", "plain")
        node.attach(sw, "eth0", f"{NODE_IP}/24")
        stage = lab.stage()
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HA_BIN": str(stage / "usr/libexec/heartbeat"),
               "HA_RSCTMP": "/run/resource-agents", "HA_LOGFILE": "/var/log/ha-log", "HA_LOGFACILITY": "none",
               "HA_DEBUGLOG": "/var/log/ha-debug", "HA_DATEFMT": "%Y/%m/%d_%T\t", "HA_debug": "1"}
        yield type("Rig", (), {"lab": lab, "switch": sw, "node": node, "env": env,
                               "resource_d": stage / "etc/ha.d/resource.d"})


def agent(rig, name, *args, check_rc=None):
    done = rig.node.run([str(rig.resource_d / name), *args], env=rig.env, check=False, timeout=60)
    if check_rc is not None:
        assert done.returncode == check_rc, f"{name} {args}: rc {done.returncode}\n{done.stdout}{done.stderr}"
    return done


def addresses(rig):
    return rig.node.run(["ip", "-4", "-o", "addr", "show"]).stdout


def garps(frames, ip):
    return [f for f in frames if f.packet.haslayer("ARP") and f.packet["ARP"].psrc == ip]


def test_ipaddr_start_status_stop_with_the_original_burst(rig):
    cap = rig.lab.capture(rig.switch, "br0", "arp")
    try:
        started = time.time()
        done = agent(rig, "IPaddr", f"{VIP}/24/eth0", "start", check_rc=0)
        took = time.time() - started
        assert done.stdout == "INFO:  Success\n"
        assert f"inet {VIP}/24 brd 192.0.2.255 scope global secondary eth0:0" in addresses(rig)
        status = agent(rig, "IPaddr", f"{VIP}/24/eth0", "status", check_rc=0)
        assert status.stdout == "INFO:  Running OK\n"
        # send_arp removes its pid file when the burst is over
        pidfile = rig.node.path(f"/run/resource-agents/send_arp-{VIP}")
        wait_for(lambda: not pidfile.exists(), 15, "the end of the ARP burst")
    finally:
        frames = garps(cap.stop(), VIP)
        agent(rig, "IPaddr", f"{VIP}/24/eth0", "stop")
    mac = mac_for(NODE_IP)
    assert len(frames) == 20
    for i, frame in enumerate(frames):
        arp = frame.packet["ARP"]
        assert (frame.packet.dst, frame.packet.src, len(bytes(frame.packet))) == ("ff:ff:ff:ff:ff:ff", mac, 42)
        assert (arp.op, arp.hwsrc, arp.pdst) == (1 + i % 2, mac, VIP)
        assert arp.hwdst == ("00:00:00:00:00:00" if i % 2 == 0 else mac)
    gaps = [b.time - a.time for a, b in zip(frames, frames[1:])]
    print(f"IPaddr start took {took:.2f} s; first gratuitous ARP {frames[0].time - started:.2f} s after the start")
    print(f"IPaddr burst: {len(frames)} frames, median gap {statistics.median(gaps) * 1000:.1f} ms, "
          f"min {min(gaps) * 1000:.1f}, max {max(gaps) * 1000:.1f}, total {frames[-1].time - frames[0].time:.3f} s")
    assert_on_schedule(frames, 0.25)

    log = rig.node.read("/var/log/ha-log")
    assert f"IPaddr(IPaddr_{VIP})[" in log and "INFO: eval ifconfig eth0:0 192.0.2.100 netmask 255.255.255.0" in log
    assert f"/usr/lib/ocf/resource.d//heartbeat/IPaddr(IPaddr_{VIP})[" in log


def assert_on_schedule(frames, spacing: float) -> None:
    """The first frame leaves from the agent, the rest from send_arp on that frame's schedule
    (the first gap is longer only when send_arp starts late). Deadlines are kept from the
    burst's start, so under load a frame may leave late but none early, and lateness does not
    add up: a lower bound per frame and a generous one on the whole burst hold on any machine
    (the burst's timing itself is measured by `make bench`)."""
    assert frames[1].time - frames[0].time >= spacing - 0.01
    assert all(f.time - frames[1].time >= (i - 1) * spacing - 0.01 for i, f in enumerate(frames) if i >= 1)
    assert frames[-1].time - frames[1].time <= (len(frames) - 2) * spacing + 2.0


def test_ipaddr_stop_removes_the_address_and_cuts_the_burst(rig):
    agent(rig, "IPaddr", f"{VIP}/24/eth0", "start", check_rc=0)
    try:
        pidfile = rig.node.path(f"/run/resource-agents/send_arp-{VIP}")
        pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 5, "send_arp's pid file"))
    finally:
        done = agent(rig, "IPaddr", f"{VIP}/24/eth0", "stop", check_rc=0)
    assert done.stdout == "INFO:  Success\n"
    assert f" {VIP}/" not in addresses(rig)
    assert not pidfile.exists()
    wait_for(lambda: rig.node.run(["kill", "-0", str(pid)], check=False).returncode != 0, 5, "send_arp to end")
    status = agent(rig, "IPaddr", f"{VIP}/24/eth0", "status", check_rc=7)
    assert status.stdout == "INFO:  Resource is stopped\n"
    assert "eth0:0" not in " ".join(p.name for p in rig.node.path("/run/resource-agents").iterdir())


# exit codes as the original agents give them in the same node
BAD_IP_ARGS = [f"{VIP}/33/eth0", f"{VIP}/24/eth9", "198.51.100.77", "bogus/24/eth0"]
BAD_IP_CASES = [("IPaddr", arg, rc) for arg, rc in zip(BAD_IP_ARGS, [1, 1, 1, 6])] + \
    [("IPaddr2", arg, rc) for arg, rc in zip(BAD_IP_ARGS, [6, 6, 1, 6])]


@pytest.mark.parametrize("name, arg, rc", BAD_IP_CASES)
def test_address_agents_bad_arguments_change_nothing(rig, name, arg, rc):
    before = addresses(rig)
    agent(rig, name, arg, "start", check_rc=rc)
    assert addresses(rig) == before


def node_mounts(rig):
    return rig.node.run(["cat", "/proc/mounts"]).stdout


def test_filesystem_tmpfs_mounts_only_in_the_node(rig):
    args = ["tmpfs", "/srv/tmpfs", "tmpfs", "size=4m"]
    try:
        assert agent(rig, "Filesystem", *args, "start", check_rc=0).stdout == "INFO:  Success\n"
        assert "tmpfs /srv/tmpfs tmpfs rw,relatime,size=4096k" in node_mounts(rig)
        with open("/proc/mounts") as f:
            assert " /srv/tmpfs " not in f.read()  # the host's table is untouched
        assert agent(rig, "Filesystem", *args, "status", check_rc=0).stdout == "INFO:  Running OK\n"
    finally:
        agent(rig, "Filesystem", *args, "stop", check_rc=0)
    assert " /srv/tmpfs " not in node_mounts(rig)
    assert agent(rig, "Filesystem", *args, "status", check_rc=7).stdout == "INFO:  Resource is stopped\n"
    log = rig.node.read("/var/log/ha-log")
    assert "Filesystem(Filesystem_tmpfs)[" in log and "INFO: Running start for tmpfs on /srv/tmpfs" in log


def test_filesystem_ext4_image_on_loop(rig):
    rig.node.run(["sh", "-ec", "truncate -s 16M /srv/img.ext4 && mkfs.ext4 -q -F /srv/img.ext4"])
    args = ["/srv/img.ext4", "/srv/data", "ext4", "loop"]
    try:
        agent(rig, "Filesystem", *args, "start", check_rc=0)
        assert " /srv/data ext4 rw" in node_mounts(rig)
        rig.node.run(["sh", "-ec", "echo kept > /srv/data/file"])
    finally:
        agent(rig, "Filesystem", *args, "stop", check_rc=0)
    assert " /srv/data " not in node_mounts(rig)
    assert "/srv/img.ext4" not in rig.node.run(["losetup", "-a"]).stdout  # autoclear freed the loop device


def test_filesystem_ext2_block_device_fsck_detection_and_busy_unmount(rig):
    rig.node.run(["sh", "-ec", "truncate -s 16M /srv/img.ext2 && mkfs.ext2 -q -F /srv/img.ext2"])
    device = rig.node.run(["losetup", "-f", "--show", "/srv/img.ext2"]).stdout.strip()
    user = None
    try:
        # no fstype: mount detects ext2; fsck runs because the type is not one that needs none
        agent(rig, "Filesystem", device, "/srv/blk", "start", check_rc=0)
        assert f"{device} /srv/blk ext2 rw" in node_mounts(rig)
        user = rig.node.spawn(["sh", "-c", "cd /srv/blk && exec sleep 600"])
        wait_for(lambda: rig.node.run(["fuser", "-m", "/srv/blk"], check=False).stdout.strip(), 5, "a busy mount")
        done = agent(rig, "Filesystem", device, "/srv/blk", "stop", check_rc=0)
        assert done.stdout == "INFO:  Success\n"
        assert user.wait(10) != 0  # killed by the stop
        assert " /srv/blk " not in node_mounts(rig)
    finally:
        if user is not None:
            user.kill()
        if " /srv/blk " in node_mounts(rig):
            rig.node.run(["umount", "-l", "/srv/blk"], check=False)
        rig.node.run(["losetup", "-d", device], check=False)
    log = rig.node.read("/var/log/ha-log")
    assert f"INFO: Starting filesystem check on {device}" in log
    assert "ERROR: Couldn't unmount /srv/blk; trying cleanup with TERM" in log
    assert "INFO: sending signal TERM to: root" in log and "sleep 600" in log
    assert "INFO: unmounted /srv/blk successfully" in log


def test_filesystem_bad_arguments_change_nothing(rig):
    before = node_mounts(rig)
    done = agent(rig, "Filesystem", "/dev/pyhb-nodev", "/srv/never", "ext4", "start", check_rc=5)
    assert done.stdout == "ERROR:  Program is not installed\n"
    agent(rig, "Filesystem", "/dev/pyhb-nodev", "start", check_rc=1)
    assert node_mounts(rig) == before
    assert not rig.node.path("/srv/never").exists()


def test_ipaddr2_start_status_stop_with_its_burst(rig):
    cap = rig.lab.capture(rig.switch, "br0", "arp")
    try:
        assert agent(rig, "IPaddr2", f"{VIP}/24/eth0:web", "start", check_rc=0).stdout == "INFO:  Success\n"
        assert f"inet {VIP}/24 brd 192.0.2.255 scope global secondary eth0:web" in addresses(rig)
        assert agent(rig, "IPaddr2", f"{VIP}/24/eth0:web", "status", check_rc=0).stdout == "INFO:  Running OK\n"
        pidfile = rig.node.path(f"/run/resource-agents/send_arp-{VIP}")
        wait_for(lambda: not pidfile.exists(), 10, "the end of the ARP burst")
    finally:
        frames = garps(cap.stop(), VIP)
        agent(rig, "IPaddr2", f"{VIP}/24/eth0:web", "stop")
    assert [f.packet["ARP"].op for f in frames] == [1, 2] * 5
    gaps = [b.time - a.time for a, b in zip(frames, frames[1:])]
    print(f"IPaddr2 burst: {len(frames)} frames, median gap {statistics.median(gaps) * 1000:.1f} ms, "
          f"total {frames[-1].time - frames[0].time:.3f} s")
    assert_on_schedule(frames, 0.1)
    assert f" {VIP}/" not in addresses(rig)
    assert "state UP" in rig.node.run(["ip", "link", "show", "eth0"]).stdout  # the nic stays up
    assert agent(rig, "IPaddr2", f"{VIP}/24/eth0:web", "status", check_rc=7).stdout == "INFO:  Resource is stopped\n"
    log = rig.node.read("/var/log/ha-log")
    assert (f"INFO: Adding inet address {VIP}/24 with broadcast address 192.0.2.255 to device eth0 "
            "(with label eth0:web)") in log
    assert f"send_arp  -i 200 -r 5 -p /run/resource-agents/send_arp-{VIP} eth0 {VIP} auto not_used not_used" in log


def test_ipaddr2_moves_a_loopback_copy_away_and_back(rig):
    rig.node.run(["ip", "addr", "add", f"{VIP}/32", "dev", "lo"])
    try:
        agent(rig, "IPaddr2", VIP, "start", check_rc=0)
        now = addresses(rig)
        assert f"inet {VIP}/24 brd 192.0.2.255 scope global secondary eth0" in now and f"lo    inet {VIP}/32" not in now
        # IPaddr does not count an address without an alias label as its own
        assert agent(rig, "IPaddr", f"{VIP}/24/eth0", "status", check_rc=7).stdout == "INFO:  Resource is stopped\n"
    finally:
        agent(rig, "IPaddr2", VIP, "stop", check_rc=0)
    after = addresses(rig)
    assert f"lo    inet {VIP}/32" in after and f"eth0    inet {VIP}/" not in after
    rig.node.run(["ip", "addr", "del", f"{VIP}/32", "dev", "lo"])
    log = rig.node.read("/var/log/ha-log")
    assert "INFO: Removing conflicting loopback lo." in log
    assert f"INFO: Restoring loopback IP Address  {VIP} 32 255.255.255.255 lo." in log


def test_sendarp_announces_and_tracks_its_state(rig):
    cap = rig.lab.capture(rig.switch, "br0", "arp")
    try:
        agent(rig, "SendArp", f"{NODE_IP}/eth0", "start", check_rc=0)
        assert agent(rig, "SendArp", f"{NODE_IP}/eth0", "status", check_rc=0).stdout == "INFO:  Running OK\n"
        pidfile = rig.node.path(f"/run/resource-agents/send_arp-{NODE_IP}")
        wait_for(lambda: not pidfile.exists(), 10, "the end of the ARP burst")
    finally:
        frames = garps(cap.stop(), NODE_IP)
        agent(rig, "SendArp", f"{NODE_IP}/eth0", "stop", check_rc=0)
    assert [f.packet["ARP"].op for f in frames] == [1, 2] * 5
    assert agent(rig, "SendArp", f"{NODE_IP}/eth0", "status", check_rc=7).stdout == "INFO:  Resource is stopped\n"
    assert f"INFO: SendArp for {NODE_IP}/eth0 released" in rig.node.read("/var/log/ha-log")


def test_ipsrcaddr_sets_and_restores_the_source_address(rig):
    rig.node.run(["ip", "route", "add", "default", "via", "192.0.2.1"])
    try:
        agent(rig, "IPaddr2", f"{VIP}/24/eth0", "start", check_rc=0)
        agent(rig, "IPsrcaddr", VIP, "start", check_rc=0)
        routes = rig.node.run(["ip", "route"]).stdout
        assert f"default via 192.0.2.1 dev eth0 src {VIP}" in routes
        assert f"192.0.2.0/24 dev eth0 proto kernel scope link src {VIP}" in routes
        assert agent(rig, "IPsrcaddr", VIP, "status", check_rc=0).stdout == "OK\nINFO:  Running OK\n"
        agent(rig, "IPsrcaddr", VIP, "stop", check_rc=0)
        routes = rig.node.run(["ip", "route"]).stdout
        assert f"default via 192.0.2.1 dev eth0 src {NODE_IP}" in routes
        assert f"192.0.2.0/24 dev eth0 proto kernel scope link src {NODE_IP}" in routes
    finally:
        agent(rig, "IPaddr2", f"{VIP}/24/eth0", "stop")
        rig.node.run(["ip", "route", "del", "default"], check=False)


def test_ipaddr_monitor_op_pings_the_address(rig):
    # the wrapper's own monitor: is anybody answering on the address (here the switch)?
    assert agent(rig, "IPaddr", "192.0.2.1/24/eth0", "monitor", check_rc=0).stdout == ""
