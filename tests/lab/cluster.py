"""Heartbeat clusters in a lab: configuration, a web service, control, and a watching client.

`Cluster` builds lab-findings' topology: switch "lan" whose own address
192.0.2.1 is the ping node, node1 192.0.2.11, node2 192.0.2.12 (more nodes
follow on), client 192.0.2.50 (flavor plain). The functions work on any node.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from itertools import count
from typing import Callable, NamedTuple

from .lab import LAB_DIR, Lab, Node, wait_for

VIP = "192.0.2.100"
HA_LOG = "/var/log/ha-log"
# start-up waits a fixed 10 s before taking resources (lab-findings §2a), whatever initdead is
START_TIMEOUT = 45.0


@dataclass(frozen=True)
class HaConfig:
    """ha.cf, authkeys and haresources for every node; defaults are lab-findings' base config."""

    nodes: tuple[str, ...] = ("node1", "node2")
    keepalive: str = "1"
    deadtime: str = "5"
    warntime: str = "3"
    initdead: str = "10"
    udpport: int = 694
    media: tuple[str, ...] = ("bcast eth0",)
    ping: tuple[str, ...] = ("192.0.2.1",)
    auto_failback: str = "on"
    auth: str = "md5"  # crc | md5 | sha1
    key: str = "pyhb-lab-secret"
    resources: tuple[str, ...] = (f"node1 IPaddr::{VIP}/24/eth0 httpd",)
    extra: tuple[str, ...] = ()  # more ha.cf lines, appended

    def ha_cf(self) -> str:
        lines = ["logfile /var/log/ha-log", "debugfile /var/log/ha-debug", "logfacility none",
                 f"keepalive {self.keepalive}", f"deadtime {self.deadtime}", f"warntime {self.warntime}",
                 f"initdead {self.initdead}", f"udpport {self.udpport}", *self.media]
        if self.ping:
            lines.append("ping " + " ".join(self.ping))
        lines += [f"auto_failback {self.auto_failback}", *(f"node {n}" for n in self.nodes), *self.extra]
        return "\n".join(lines) + "\n"

    def authkeys(self) -> str:
        secret = "" if self.auth == "crc" else f" {self.key}"
        return f"auth 1\n1 {self.auth}{secret}\n"

    def haresources(self) -> str:
        return "".join(f"{line}\n" for line in self.resources)


def configure(node: Node, config: HaConfig) -> None:
    node.write("/etc/ha.d/ha.cf", config.ha_cf())
    node.write("/etc/ha.d/authkeys", config.authkeys(), mode=0o600)  # 644 is fatal (§6.9)
    node.write("/etc/ha.d/haresources", config.haresources())


# ResourceManager decides from the status *text* (§6.8); a zombie counts as
# stopped because its parent may reap it late (§6.5).
HTTPD_SCRIPT = r"""#!/bin/sh
# LSB init script of the lab's web server: busybox httpd serving /srv/www.
PIDFILE=/run/httpd.pid

running() {
    [ -s "$PIDFILE" ] || return 1
    state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$(cat "$PIDFILE")/status" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ]
}

case "$1" in
start)
    running && exit 0
    busybox httpd -f -p 80 -h /srv/www </dev/null >/dev/null 2>&1 &
    echo $! > "$PIDFILE"
    exit 0;;
stop)
    if running; then
        kill "$(cat "$PIDFILE")"
        i=0
        while running && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    fi
    rm -f "$PIDFILE"
    exit 0;;
status)
    if running; then
        echo "httpd (pid $(cat "$PIDFILE")) is running..."
        exit 0
    fi
    echo "httpd is not running"
    exit 3;;
restart)
    "$0" stop
    exec "$0" start;;
*)
    echo "Usage: $0 {start|stop|status|restart}"
    exit 2;;
esac
"""


def install_httpd(node: Node) -> None:
    """`/etc/init.d/httpd`, serving a page that is the node's name."""
    node.write("/etc/init.d/httpd", HTTPD_SCRIPT, mode=0o755)
    node.write("/srv/www/index.html", f"{node.name}\n")


def heartbeat(node: Node, action: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`/etc/init.d/heartbeat ACTION` in the node; only `status` may fail."""
    return node.run(["/etc/init.d/heartbeat", action], timeout=timeout, check=action != "status")


def heartbeat_pids(node: Node) -> list[int]:
    """Every heartbeat process of the node (master and children alike keep comm "heartbeat")."""
    pids = []
    for pid in node.pids():
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "heartbeat":
                    pids.append(pid)
        except (FileNotFoundError, ProcessLookupError):  # exited since the listing (ESRCH: during the read)
            continue
    return pids


def kill_heartbeat(node: Node, sig: int = signal.SIGKILL) -> list[int]:
    """Signal every heartbeat process of the node by PID; return the pids."""
    pids = heartbeat_pids(node)
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return pids


def log_size(node: Node, path: str = HA_LOG) -> int:
    """An offset for `wait_for_log(start=...)`: only lines written after now."""
    host_path = node.path(path)
    return host_path.stat().st_size if host_path.exists() else 0


def wait_for_log(node: Node, pattern: str, timeout: float = 30, path: str = HA_LOG, start: int = 0) -> re.Match:
    """The first match of `pattern` (a regex, multiline) in the node's log after byte `start`."""
    regex = re.compile(pattern, re.MULTILINE)
    host_path = node.path(path)

    def search():
        if not host_path.exists():
            return None
        with open(host_path, "rb") as f:
            f.seek(start)
            return regex.search(f.read().decode(errors="replace"))

    return wait_for(search, timeout, f"/{pattern}/ in {node.name}:{path}", interval=0.1)


# heartbeat's own stamp, and the syslog-style one that 3.0.6 writes with its default logfile format
LOG_STAMPS = ((re.compile(r"\d{4}/\d\d/\d\d_\d\d:\d\d:\d\d"), "%Y/%m/%d_%H:%M:%S"),
              (re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"), "%Y %b %d %H:%M:%S"))


def line_time(line: str) -> float:
    """Unix seconds of a log line, by its own timestamp (whole seconds, floored)."""
    for regex, layout in LOG_STAMPS:
        stamp = regex.search(line)
        if stamp:
            # the syslog style has no year: the lab's logs are minutes old
            text = stamp.group(0) if "%Y/" in layout else time.strftime("%Y ") + stamp.group(0)
            return time.mktime(time.strptime(text, layout))
    raise ValueError(f"no timestamp in log line {line!r}")


def logged_at(node: Node, pattern: str, timeout: float = 30, start: int = 0) -> float:
    """When the node's daemon wrote the first line matching `pattern` after byte `start`, by the
    line's own timestamp (whole seconds, floored): unlike the time the test sees the line, it does
    not stretch when the test itself is slow to run."""
    match = wait_for_log(node, pattern, timeout, start=start)
    text = match.string
    return line_time(text[text.rfind("\n", 0, match.start()) + 1:].split("\n", 1)[0])


def holder_of(nodes: list[Node], address: str = VIP) -> list[str]:
    """Names of the nodes that have `address` on an interface."""
    return [node.name for node in nodes
            if f" {address}/" in subprocess.run(["ip", "-n", node.netns, "-o", "-4", "addr", "show"],
                                                capture_output=True, text=True, timeout=10, check=True).stdout]


class Poll(NamedTuple):
    start: float  # Unix seconds
    end: float
    answer: str | None  # the serving node's name


class Move(NamedTuple):
    """What the client saw of one action that moves (or keeps) the service."""

    took: float  # seconds from the action to the end of the first poll the new server answered
    outage: float  # seconds without answers: last answer of another node -> first of the new server
    started: float = 0.0  # Unix seconds at the action (the fault), comparable with capture times


class Poller:
    """A client polling http://ADDRESS/ every 50 ms (new connection, 200 ms timeout)."""

    _numbers = count()

    def __init__(self, client: Node, address: str = VIP, duration: float = 600):
        self.client = client
        self.file = f"/tmp/poll-{address}-{next(self._numbers)}.log"
        self._proc = client.spawn([sys.executable, str(LAB_DIR / "poller.py"), address, self.file,
                                   "--duration", str(duration)])

    def polls(self) -> list[Poll]:
        return [Poll(float(start), float(end), None if answer == "-" else answer)
                for start, end, answer in self.client.records(self.file, 3)]

    def first_answer(self, node: str, after: float) -> Poll | None:
        """The first poll started at or after `after` that `node` answered."""
        return next((p for p in self.polls() if p.start >= after and p.answer == node), None)

    def wait_answer(self, node: str, after: float, timeout: float) -> float:
        """Seconds from `after` to the end of the first poll `node` answers."""
        poll = wait_for(lambda: self.first_answer(node, after), timeout, f"an answer from {node}", interval=0.05)
        return poll.end - after

    def outage(self, node: str, after: float) -> float:
        """From the last answer of another node to the first of `node`, both after `after`."""
        first = self.first_answer(node, after)
        if first is None:
            raise ValueError(f"{node} never answered after {after}")
        others = [p.end for p in self.polls() if after <= p.start and p.end <= first.start
                  and p.answer not in (None, node)]
        return first.end - max(others, default=after)

    def measure(self, action: Callable[[], object], node: str, timeout: float) -> Move:
        """Run `action`, then wait until `node` answers; the clock starts before the action."""
        started = time.time()
        action()
        took = self.wait_answer(node, started, timeout)
        return Move(took, self.outage(node, started), started)

    def answers_since(self, after: float) -> set[str | None]:
        """Every answer (None for a failed poll) of the polls started at or after `after`."""
        return {p.answer for p in self.polls() if p.start >= after}

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(5)


class Cluster:
    """Nodes configured from `config`, each with the httpd service, plus the client."""

    def __init__(self, lab: Lab, flavors: str | dict[str, str] = "real", config: HaConfig = HaConfig()):
        self.lab, self.config = lab, config
        self.switch = lab.switch("lan")
        self.switch.add_address("192.0.2.1/24")
        self.nodes: dict[str, Node] = {}
        for number, name in enumerate(config.nodes, start=11):
            node = lab.node(name, flavors if isinstance(flavors, str) else flavors[name])
            node.attach(self.switch, "eth0", f"192.0.2.{number}/24")
            configure(node, config)
            install_httpd(node)
            self.nodes[name] = node
        self.client = lab.node("client")
        self.client.attach(self.switch, "eth0", "192.0.2.50/24")

    def start(self, *names: str) -> None:
        for name in names or self.nodes:
            heartbeat(self.nodes[name], "start")

    def start_served(self, poller: Poller, server: str = "node1", timeout: float = START_TIMEOUT) -> None:
        """Start every node, then wait until `server` answers `poller` and no node is in a
        resource transition: the settled cluster most scenarios begin from."""
        started = time.time()
        self.start()
        poller.wait_answer(server, started, timeout)
        self.wait_settled()

    def stop(self, name: str) -> None:
        heartbeat(self.nodes[name], "stop")

    def kill(self, name: str) -> list[int]:
        return kill_heartbeat(self.nodes[name])

    def standby(self, name: str, what: str = "all") -> None:
        self.nodes[name].run(["/usr/share/heartbeat/hb_standby", what])

    def takeover(self, name: str, what: str = "all") -> None:
        self.nodes[name].run(["/usr/share/heartbeat/hb_takeover", what])

    def holder_of(self, address: str = VIP) -> list[str]:
        return holder_of(list(self.nodes.values()), address)

    def running(self) -> list[str]:
        """Names of the nodes that have heartbeat processes."""
        return [name for name, node in self.nodes.items() if heartbeat_pids(node)]

    def poll(self, address: str = VIP, duration: float = 600) -> Poller:
        return Poller(self.client, address, duration)

    def cut(self, name: str) -> None:
        """Pull the node's cable: its switch port goes down, the node sees its link go away."""
        self.switch.run(["ip", "link", "set", f"{name}-eth0", "down"])

    def mend(self, name: str) -> None:
        self.switch.run(["ip", "link", "set", f"{name}-eth0", "up"])

    def ping_node(self, up: bool) -> None:
        """Make the ping node (the switch's own address) answer, or vanish."""
        self.switch.run(["ip", "addr", "add" if up else "del", "192.0.2.1/24", "brd", "+", "dev", "br0"])

    def release(self, name: str) -> None:
        """Stop every resource group on a node whose heartbeat is gone.

        A killed heartbeat leaves its resources running (lab-findings §2c), and
        a new start would find them active; an admin releases them first.
        """
        for line in self.config.resources:
            self.nodes[name].run(["/usr/share/heartbeat/ResourceManager", "givegroup", line.split()[1]])

    def reconfigure(self, config: HaConfig) -> None:
        """New configuration files on every node (heartbeat reads them when it starts)."""
        self.config = config
        for node in self.nodes.values():
            configure(node, config)

    def rscstatus(self, name: str) -> str:
        """`cl_status rscstatus`: what the node holds, "transition" while resources move."""
        return self.nodes[name].run(["cl_status", "rscstatus"], check=False, timeout=15).stdout.strip()

    def wait_settled(self, *names: str, timeout: float = 30) -> None:
        """Until no node (of `names`, default all) reports a resource transition.

        hb_standby and hb_takeover are refused while either side is in flux, so
        a scenario waits for this before its next action.
        """
        names = names or tuple(self.nodes)
        wait_for(lambda: all(self.rscstatus(n) not in ("", "transition") for n in names), timeout,
                 f"no resource transition on {', '.join(names)}", interval=0.3)

    def wait_log(self, name: str, pattern: str, timeout: float = 30, start: int = 0) -> re.Match:
        return wait_for_log(self.nodes[name], pattern, timeout, start=start)
