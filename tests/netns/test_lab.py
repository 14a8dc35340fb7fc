"""The lab harness itself: connectivity, isolation of nodes, cleanup, captures, flavors."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from heartbeat.tools import install
from tests.lab import CommandError, Lab, mac_for, wait_for
from tests.lab.teardown import NETNS_DIR, STATE_ROOT, delete_netns, netns_pids
from tests.lab.lab import NSENTER, REPO, node_python


def netns_names() -> set[str]:
    return set(os.listdir(NETNS_DIR)) if NETNS_DIR.is_dir() else set()


def two_nodes(lab, flavor="plain"):
    sw = lab.switch("lan")
    sw.add_address("192.0.2.1/24")
    n1, n2 = lab.node("node1", flavor), lab.node("node2", flavor)
    n1.attach(sw, "eth0", "192.0.2.11/24")
    n2.attach(sw, "eth0", "192.0.2.12/24")
    return sw, n1, n2


def test_nodes_reach_each_other_and_the_switch(lab):
    sw, n1, n2 = two_nodes(lab)
    n1.run(["ping", "-c", "1", "-W", "2", "192.0.2.12"])
    n2.run(["ping", "-c", "1", "-W", "2", "192.0.2.1"])
    assert mac_for("192.0.2.11") == "02:00:c0:00:02:0b"
    assert "link/ether 02:00:c0:00:02:0b brd" in n1.run(["ip", "link", "show", "eth0"]).stdout
    assert "192.0.2.11/24 brd 192.0.2.255" in n1.run(["ip", "-4", "addr", "show", "eth0"]).stdout
    # a node sees only its own devices, also through /sys
    assert sorted(n1.run(["ls", "/sys/class/net"]).stdout.split()) == ["eth0", "lo"]


def test_node_has_its_hostname_and_private_directories(lab):
    _, n1, n2 = two_nodes(lab)
    assert n1.run(["uname", "-n"]).stdout == "node1\n"
    marker = f"/etc/ha.d/pyhb-marker-{os.getpid()}"
    n1.write(marker, "node1 only\n", mode=0o600)
    assert n1.run(["cat", marker]).stdout == "node1 only\n"
    assert oct(os.stat(n1.path(marker)).st_mode & 0o777) == "0o600"
    assert n2.run(["test", "-e", marker], check=False).returncode == 1
    assert not os.path.exists(marker)  # the host's /etc/ha.d is untouched
    n2.run(["sh", "-c", "echo from-node2 > /var/run/x"])
    assert n2.read("/run/x") == "from-node2\n" and n2.path("/var/run/x") == n2.path("/run/x")
    with pytest.raises(ValueError):
        n1.path("/etc/passwd")


def test_node_is_a_pid_namespace_that_reaps(lab):
    node = lab.node("node1")
    assert "reaper.py" in node.run(["cat", "/proc/1/cmdline"]).stdout
    sleeper = node.spawn(["sleep", "60"])
    assert node.pids() == [sleeper.pid]
    sleeper.terminate()
    assert sleeper.wait(5) == -signal.SIGTERM
    assert node.pids() == []
    # an orphan is re-parented to the reaper, which must collect it at once
    orphan = int(node.run(["sh", "-c", "sleep 60 >/dev/null & echo $!"]).stdout.split()[0])
    [pid] = node.pids()
    assert node.run(["sh", "-c", f"grep PPid /proc/{orphan}/status"]).stdout.split() == ["PPid:", "1"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 2, "the killed orphan to be reaped")


def test_run_is_bounded_and_reports_failures(lab):
    node = lab.node("node1")
    with pytest.raises(subprocess.TimeoutExpired):
        node.run(["sleep", "60"], timeout=0.3)
    assert node.pids() == []
    with pytest.raises(CommandError, match="no-such-file"):
        node.run(["ls", "/no-such-file"])
    assert node.run(["sh", "-c", "exit 3"], check=False).returncode == 3
    assert node.run(["cat"], input="typed\n").stdout == "typed\n"
    assert node.python("import heartbeat, socket; print(socket.gethostname())").stdout == "node1\n"


def test_everything_is_removed_even_when_the_body_raises():
    with pytest.raises(RuntimeError, match="test body failed"):
        with Lab() as lab:
            _, n1, n2 = two_nodes(lab, flavor="real")
            n1.spawn(["sleep", "60"])
            n2.run(["sh", "-c", "sleep 60 >/dev/null &"])
            names = {n.netns for n in (*lab.nodes.values(), *lab.switches.values())}
            pids = n1.pids() + n2.pids() + [n1.init_pid, n2.init_pid, n1._holder.pid]
            state = lab.dir
            assert names <= netns_names() and all(os.path.exists(f"/proc/{p}") for p in pids)
            raise RuntimeError("test body failed")
    assert not names & netns_names()
    assert [p for p in pids if os.path.exists(f"/proc/{p}")] == []
    assert not state.exists()
    mounted = [p for p in Path("/proc").glob("[0-9]*/mountinfo") if _mentions(p, str(state))]
    assert mounted == []


def _mentions(path: Path, text: str) -> bool:
    try:
        return text in path.read_text()
    except OSError:  # the process ended meanwhile
        return False


def test_capture_returns_timed_frames(lab):
    sw, n1, _ = two_nodes(lab)
    cap = lab.capture(sw, "br0", "icmp")
    start = time.time()
    n1.run(["ping", "-c", "3", "-i", "0.2", "192.0.2.12"])
    end = time.time()
    frames = cap.stop()
    requests = [f for f in frames if f.packet["IP"].src == "192.0.2.11" and f.packet["ICMP"].type == 8]
    assert len(requests) == 3
    assert all(start <= f.time <= end for f in requests)
    assert requests[0].packet.src == mac_for("192.0.2.11")
    assert cap.stop() is frames


def test_real_flavor_has_the_debian_package_files(lab):
    node = lab.node("node1", flavor="real")
    listing = node.run(["stat", "-c", "%n %U:%G %a", "/var/lib/heartbeat/ccm", "/run/heartbeat",
                        "/run/resource-agents", "/etc/ha.d/harc", "/etc/init.d/heartbeat"]).stdout
    assert listing.splitlines() == ["/var/lib/heartbeat/ccm hacluster:haclient 750",
                                    "/run/heartbeat hacluster:haclient 750",
                                    "/run/resource-agents root:root 1755",
                                    "/etc/ha.d/harc root:root 755",
                                    "/etc/init.d/heartbeat root:root 755"]
    assert node.run(["ls", "/var/lib/heartbeat"]).stdout.split().count("hb_uuid") == 0


def test_ours_flavor_shows_the_staged_tree(lab):
    node = lab.node("node1", flavor="ours")
    visible = ("etc/", "usr/share/heartbeat/", "usr/libexec/heartbeat/", "usr/bin/cl_status", "usr/sbin/")
    for dest, target in install.LAUNCHERS.items():
        assert dest.startswith(visible), dest
        text = node.run(["cat", f"/{dest}"]).stdout
        assert text.startswith(f"#!{node_python()}\n") and str(REPO) in text, dest
        assert f"from {target.split(':')[0]} import" in text, dest
        node.run(["test", "-x", f"/{dest}"])
    shipped = [f"/{dest}/{src.name}" for src_dir, dest in install.TREES.items()
               for src in install.shipped_dir(src_dir).iterdir() if src.is_file() and not src.name.startswith(".")]
    shipped += [f"/{dest}" for dest, _ in install.FILES.values() if dest.startswith(visible)]
    for path in shipped:
        node.run(["test", "-f", path])
    # the host keeps Debian's files, and the node the host's own commands beside ours
    assert Path("/usr/libexec/heartbeat/heartbeat").read_bytes()[:4] == b"\x7fELF"
    assert not Path("/usr/sbin/hb2pcs").exists()
    node.run(["/usr/sbin/ip", "-V"])


def test_cleanup_command_removes_only_dead_runs(lab):
    mine = lab.node("node1").netns
    ended = subprocess.Popen(["true"])
    ended.wait()
    name = f"pyhb{ended.pid}x0-left"
    state = STATE_ROOT / f"pyhb{ended.pid}x0"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        state.mkdir(parents=True)
        lingering = subprocess.Popen([NSENTER, f"--net={NETNS_DIR / name}", "sleep", "60"])
        wait_for(lambda: netns_pids(NETNS_DIR / name), 5, "the lingering process")
        done = subprocess.run([sys.executable, "-m", "tests.lab.cleanup"], cwd=REPO,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stdout + done.stderr
        assert lingering.wait(5) == -signal.SIGKILL
        assert name not in netns_names() and not state.exists()
        assert mine in netns_names()
    finally:
        if name in netns_names():
            delete_netns(name)
        if state.exists():
            state.rmdir()


def test_hb21_node_runs_2_1_3_on_its_own_files(lab):
    from tests.lab import hb21
    node = lab.node("node1", "hb21")
    assert node.run([str(hb21.DAEMON), "-V"]).stdout.strip() == hb21.VERSION
    # its compiled-in paths lead to the node's private places, the helpers' paths hold
    node.write("/etc/ha.d/ha.cf", "node node1\n")
    assert node.run(["cat", "/opt/hb21/etc/ha.d/ha.cf"]).stdout == "node node1\n"
    assert node.run(["test", "-x", "/opt/hb21/etc/ha.d/harc"], check=False).returncode == 0
    node.run(["sh", "-c", "echo 1 > /opt/hb21/var/run/heartbeat.pid && touch /opt/hb21/var/lock/subsys/x"])
    assert node.read("/var/run/heartbeat.pid") == "1\n" and node.path("/run/lock/subsys/x").exists()
    assert not (hb21.PREFIX / "var/run/heartbeat.pid").exists()   # the install stays as built
    assert node.run(["head", "-1", "/etc/init.d/heartbeat"]).stdout == "#!/bin/bash\n"
    assert "ifname%:" in node.run(["cat", "/opt/hb21/lib/ocf/resource.d/heartbeat/IPaddr"]).stdout
    assert "ifname%:" not in (hb21.PREFIX / "lib/ocf/resource.d/heartbeat/IPaddr").read_text()
    node.run(["cmp", "/usr/share/heartbeat/hb_standby", str(hb21.PREFIX / "share/heartbeat/hb_standby")])
    node.run(["cmp", "/usr/bin/cl_status", str(hb21.PREFIX / "bin/cl_status")])
