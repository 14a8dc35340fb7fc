"""Without a monitor in /etc/ha.d/pyheartbeat.cf, the daemon behaves as it did before the file existed.

The same scenario runs twice on a two-node cluster of ours: once with this checkout, once
with the tree just before `heartbeat/config/pyhbcf.py` was added (exported from git into the
lab's directory and staged the way the lab stages ours). That tree wrote 3.0.6's log lines
(2.1.4's became the default later): this checkout's nodes get a pyheartbeat.cf holding only
`log_style 3.0.6`, nothing else, so that the lines compare. Scenario: start, httpd killed on
node1 and left dead for three monitor intervals' worth of time (nobody restarts it),
hb_standby on node1, both nodes stopped. Compared: every ha-log line of both nodes (digits
masked: times, pids, generations) and every non-heartbeat message on the wire (source,
type, field names), as multisets, since the order of lines from different processes and
of the two nodes' messages depends on timing; what only a loaded host causes (late
heartbeats, acknowledgements, retransmissions) is left out.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter

import pytest

from heartbeat.core.auth import Authenticator
from heartbeat.config.authkeys import parse_authkeys
from heartbeat.core.codec import WireError, decode
from heartbeat.tools.install import REPO
from tests.lab import Lab
from tests.lab.cluster import HA_LOG, Cluster
from tests.lab.demo import CONFIG, MOVE_TIMEOUT

DEAD_HTTPD_S = 6.0          # three intervals of the monitoring tests: a monitor would have acted
ADDED = "heartbeat/config/pyhbcf.py"
SAME_STYLE = "log_style 3.0.6\n"    # the log lines of the tree before ADDED


def tree_before_the_feature(dest) -> str:
    """Export the parent of the commit that added pyheartbeat.cf's parser; its hash."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                              timeout=60, check=True).stdout
    try:
        # --follow: the file was added as heartbeat/pyhbcf.py and moved into config/ later
        added = git("log", "--follow", "--diff-filter=A", "--format=%H", "--", ADDED).split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: no earlier tree to compare with")
    if not added:
        pytest.skip(f"{ADDED} is not in this checkout's history")
    base = git("rev-parse", f"{added[-1]}^").strip()
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", base], capture_output=True,
                             timeout=120, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, timeout=120, check=True)
    return base


def stage_tree(tree, stage) -> None:
    """Install `tree` the way the lab installs this checkout (launchers import that tree).
    That tree is older than the layer packages: its installer is heartbeat/install.py."""
    subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                    "from heartbeat.install import install; install(Path(sys.argv[1]), package_path=True)",
                    str(stage)], cwd=str(tree), env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(tree)},
                   capture_output=True, timeout=120, check=True)
    # that tree's install rewrote only the interpreter line of the Python scripts it copies
    # (rc.d, resource.d): they import `heartbeat` from wherever the interpreter finds one.
    # Here they import that tree, as its launchers do, never this checkout.
    for script in sorted((stage / "etc/ha.d").glob("*.d/*")):
        first, rest = script.read_text().split("\n", 1)
        if first.startswith("#!") and "python" in first:
            script.write_text(f"{first}\nimport sys; sys.path.insert(0, {str(tree)!r})\n{rest}")


def scenario(cluster: Cluster) -> None:
    poller = cluster.poll(duration=300)
    try:
        cluster.start_served(poller)
        killed = time.time()
        cluster.nodes["node1"].run(["sh", "-c", 'kill "$(cat /run/httpd.pid)"'])
        time.sleep(DEAD_HTTPD_S)
        # heartbeat v1 watches nodes, not services: nobody brought httpd back
        assert "node1" not in {p.answer for p in poller.polls() if p.start >= killed + 1}
        poller.measure(lambda: cluster.standby("node1"), "node2", MOVE_TIMEOUT)
        cluster.wait_settled()
        cluster.stop("node1")
        cluster.stop("node2")
    finally:
        poller.stop()


# what a loaded host alone brings about: a late heartbeat, a lost packet and its retransmission
TIMING_LINES = re.compile(r"Late heartbeat|Deadtime value may be too small|lost packet|Rexmit|retransmi")
TIMING_MESSAGES = frozenset({"NS_ackmsg", "NS_rexmit", "NS_nak_rexmit"})
# at start, the node whose own wait for resources ends first logs "local", the other, told
# by it, "remote": which one depends on when each started. Each still logs as many.
TRANSITION = re.compile(r"\b(local|remote) resource transition completed")


def masked(line: str) -> str:
    """`line` without what varies from run to run: digits (times, pids, generations), and
    which of the two nodes says "local" and which "remote" about the start's transition."""
    return TRANSITION.sub("local or remote resource transition completed", re.sub(r"[0-9]+", "N", line))


def log_lines(cluster: Cluster) -> Counter:
    lines: Counter = Counter()
    for name, node in cluster.nodes.items():
        text = node.read(HA_LOG) if node.path(HA_LOG).exists() else ""
        lines.update(f"{name}: {masked(line)}" for line in text.splitlines() if not TIMING_LINES.search(line))
    return lines


def wire_messages(frames, authkeys: str) -> Counter:
    auth = Authenticator(parse_authkeys(authkeys, "/etc/ha.d/authkeys", 0o600))
    messages: Counter = Counter()
    seen: set[tuple[object, object]] = set()    # (src, seq): a retransmission is the same message
    for frame in frames:
        udp = frame.packet.getlayer("UDP")
        if udp is None:
            continue
        try:
            msg = decode(bytes(udp.payload), auth)
        except WireError:
            messages["undecodable"] += 1
            continue
        key = (msg.get("src"), msg.get("seq"))
        if msg.type == "status" or msg.type in TIMING_MESSAGES or (key[1] is not None and key in seen):
            continue
        seen.add(key)
        messages[(msg.get("src"), msg.type, tuple(f.name for f in msg))] += 1
    return messages


def run_cluster(before: bool) -> tuple[Counter, Counter]:
    with Lab() as lab:
        if before:
            tree = lab.dir / "before" / "tree"
            tree_before_the_feature(tree)
            stage_tree(tree, lab.dir / "before" / "stage")
            lab._stage = lab.dir / "before" / "stage"   # the lab stages ours once; this run, that tree
        cluster = Cluster(lab, "ours", CONFIG)
        assert not any(node.path("/etc/ha.d/pyheartbeat.cf").exists() for node in cluster.nodes.values())
        if not before:
            for node in cluster.nodes.values():
                node.write("/etc/ha.d/pyheartbeat.cf", SAME_STYLE)
        capture = lab.capture(cluster.switch, "br0", "udp port 694")
        scenario(cluster)
        frames = capture.stop()
        return log_lines(cluster), wire_messages(frames, CONFIG.authkeys())


def difference(before: Counter, now: Counter) -> str:
    gone, new = before - now, now - before
    return "\n".join([f"- {k!r} x{n}" for k, n in sorted(gone.items(), key=str)]
                     + [f"+ {k!r} x{n}" for k, n in sorted(new.items(), key=str)])


def test_without_a_monitor_log_and_wire_are_as_before_the_feature():
    now_logs, now_wire = run_cluster(before=False)
    before_logs, before_wire = run_cluster(before=True)
    assert now_wire == before_wire, difference(before_wire, now_wire)
    assert now_logs == before_logs, difference(before_logs, now_logs)
    assert not any("monitor" in line for line in now_logs)
    print(f"same {sum(now_logs.values())} ha-log lines and {sum(now_wire.values())} non-heartbeat "
          "messages as before pyheartbeat.cf existed")
