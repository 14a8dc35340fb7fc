"""Clusters in namespaces: `Lab`, its switches and its nodes.

A switch is a Linux bridge in its own network namespace. A node is a network
namespace plus UTS, mount and PID namespaces whose PID 1 is `reaper.py`, with
private directories bind-mounted over the places heartbeat writes to
(lab-findings §6). Everything a `Lab` creates carries its unique prefix and is
removed when the `with` block ends, however it ends.
"""

from __future__ import annotations

import atexit
import ctypes
import ipaddress
import itertools
import os
import posixpath
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable
from collections.abc import Mapping

from . import flavors, teardown

if TYPE_CHECKING:
    from .capture import Capture

LAB_DIR = Path(__file__).resolve().parent
REPO = LAB_DIR.parent.parent
NSENTER = shutil.which("nsenter") or "/usr/bin/nsenter"
IP = shutil.which("ip") or "/usr/sbin/ip"

# where each node gets a private copy (a bind mount of a directory of its own)
PRIVATE_DIRS: dict[str, int] = {
    "/etc/ha.d": 0o755, "/etc/init.d": 0o755, "/var/lib/heartbeat": 0o755,
    "/var/log": 0o755, "/run": 0o755, "/tmp": 0o1777, "/srv": 0o755,
}
# created inside the private ones, as a booted system has them
SKELETON: dict[str, int] = {"/run/lock": 0o1777, "/run/lock/subsys": 0o755}
# Debian's compatibility symlinks into /run
ALIASES = {"/var/run": "/run", "/var/lock": "/run/lock"}

_counter = itertools.count()
_open_labs: set[Lab] = set()
_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # If the test process is killed outright, its helpers (and through
    # `unshare --kill-child` whole nodes) go with it instead of running on.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.05):
    """Poll `predicate` until it returns something true; bounded in time and count."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 2):
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


def node_python() -> str:
    return os.environ.get("PYHB_NODE_PYTHON") or sys.executable


def mac_for(address: str) -> str:
    """A locally administered MAC that spells the IPv4 address: 192.0.2.11 -> 02:00:c0:00:02:0b."""
    return "02:00:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(address).packed)


def host(argv: list[str], timeout: float = 10) -> str:
    """Run a host-side command (ip, cp); failures carry its stderr."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise RuntimeError(f"{shlex.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


class CommandError(subprocess.CalledProcessError):
    """A failed command in a node or switch; the message shows where and its stderr."""

    def __init__(self, where: str, done: subprocess.CompletedProcess):
        super().__init__(done.returncode, done.args, done.stdout, done.stderr)
        self.where = where

    def __str__(self) -> str:
        return f"in {self.where}: {super().__str__()}\nstdout: {self.stdout}\nstderr: {self.stderr}"


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):  # gone (ESRCH when it exits during the read)
        return []


class Process:
    """A background process in a node or switch.

    `pid` is the host pid of the command itself (not of the nsenter that
    started it); None only if it ended before it could be seen.
    """

    def __init__(self, popen: subprocess.Popen, forks: bool):
        self.popen = popen
        self.pid: int | None = popen.pid
        if forks:  # nsenter -p forks; the command is its only child
            self.pid = None
            for _ in range(2000):
                kids = _children(popen.pid)
                if kids or popen.poll() is not None:
                    self.pid = kids[0] if kids else None
                    break
                time.sleep(0.001)

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.popen.wait(timeout)

    def send_signal(self, sig: int) -> None:
        # only while nsenter has not yet collected it, so the pid cannot be reused
        if self.pid is not None and self.popen.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class _Place:
    """Somewhere commands run: `enter` is the argv prefix that gets there."""

    name: str
    lab: Lab
    enter: list[str]
    forks: bool

    def spawn(self, argv: list[str], *, stdout=None, stderr=None, env=None,
              stdin=subprocess.DEVNULL) -> Process:
        popen = subprocess.Popen(self.enter + list(argv), stdin=stdin, stdout=stdout, stderr=stderr,
                                 env=env, preexec_fn=_die_with_parent)
        proc = Process(popen, self.forks)
        self.lab._processes.append(proc)
        return proc

    def run(self, argv: list[str], *, timeout: float = 30, check: bool = True, input: str | None = None,
            env=None) -> subprocess.CompletedProcess:
        # Output goes to files, not pipes: a daemon started by the command may
        # keep them open, and we wait for the command, not for the daemon.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = self.spawn(argv, stdout=out, stderr=err, env=env,
                              stdin=subprocess.DEVNULL if input is None else subprocess.PIPE)
            try:
                proc.popen.communicate(None if input is None else input.encode(), timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
                raise
            finally:
                self.lab._processes.remove(proc)
            out.seek(0)
            err.seek(0)
            done = subprocess.CompletedProcess(list(argv), proc.returncode,
                                               out.read().decode(errors="replace"),
                                               err.read().decode(errors="replace"))
        if check and done.returncode:
            raise CommandError(self.name, done)
        return done


class Switch(_Place):
    """A bridge `br0` in its own network namespace; ports are named `<node>-<ifname>`."""

    def __init__(self, lab: Lab, name: str):
        self.lab, self.name = lab, name
        self.netns = lab._add_netns(name)
        lab.switches[name] = self
        self.enter = [NSENTER, f"--net={teardown.NETNS_DIR / self.netns}", "--"]
        self.forks = False
        host([IP, "-n", self.netns, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"])
        host([IP, "-n", self.netns, "link", "set", "br0", "up"])

    def add_address(self, cidr: str) -> None:
        """Let the switch answer as a host (a ping node) on `cidr`."""
        address = cidr.split("/")[0]
        host([IP, "-n", self.netns, "link", "set", "br0", "address", mac_for(address)])
        host([IP, "-n", self.netns, "addr", "add", cidr, "brd", "+", "dev", "br0"])


class Node(_Place):
    """One cluster machine; see the module docstring and README.md."""

    def __init__(self, lab: Lab, name: str, flavor: str, own_etc: bool = False,
                 private: Mapping[str, int] | None = None):
        if flavor not in flavors.FLAVORS:
            raise ValueError(f"unknown flavor {flavor!r}; one of {sorted(flavors.FLAVORS)}")
        self.lab, self.name, self.flavor = lab, name, flavor
        # the usual private directories, and those a test's other software writes to
        self.private = {**PRIVATE_DIRS, **(private or {})}
        self.init_pid: int | None = None
        self._holder: subprocess.Popen | None = None
        self.netns = lab._add_netns(name)
        lab.nodes[name] = self  # from here on, a failed start is still cleaned up
        self.root = lab.dir / name
        self.forks = True
        for directory, mode in {**self.private, **SKELETON}.items():
            (self.root / directory[1:]).mkdir(parents=True, exist_ok=True)
            os.chmod(self.root / directory[1:], mode)
        binds = flavors.FLAVORS[flavor](self)
        self._start_holder()
        self.enter = [NSENTER, "-t", str(self.init_pid), "-n", "-m", "-u", "-p", "--"]
        setup = [f"echo {shlex.quote(name)} > /proc/sys/kernel/hostname",
                 # copies of /run/netns/* would keep every namespace alive
                 "! mountpoint -q /run/netns || umount -R /run/netns",
                 # a sysfs mounted here shows this network namespace's devices
                 "mount -t sysfs sysfs /sys"]
        if own_etc:
            # the host's /etc with the node's own changes on top (an EL host's
            # /etc/redhat-release, /etc/sysconfig): written from inside the node
            for d in ("etc-upper", "etc-work"):
                (self.root / d).mkdir()
            upper, work = (shlex.quote(str(self.root / d)) for d in ("etc-upper", "etc-work"))
            setup.append(f"mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} /etc")
        hidden = any(Path(d) == REPO or Path(d) in REPO.parents for d in self.private)
        if hidden:
            # a checkout under /tmp (or another private dir) would vanish behind the
            # node's own copy, and with it the editable install: carry it across
            (self.root / "checkout").mkdir()
            setup.append(f"mount --bind {shlex.quote(str(REPO))} {shlex.quote(str(self.root / 'checkout'))}")
        for entry in [(d, self.root / d[1:]) for d in self.private] + binds:
            if isinstance(entry, flavors.Overlay):
                setup.append(f"mount -t overlay overlay -o lowerdir={shlex.quote(str(entry.additions))}:"
                             f"{shlex.quote(entry.target)} {shlex.quote(entry.target)}")
            else:
                target, source = entry
                setup.append(f"mount --bind {shlex.quote(str(source))} {shlex.quote(target)}")
        if hidden:
            setup.append(f"mkdir -p {shlex.quote(str(REPO))}")
            setup.append(f"mount --bind {shlex.quote(str(self.root / 'checkout'))} {shlex.quote(str(REPO))}")
        self.run(["sh", "-ec", "\n".join(setup)])

    def _start_holder(self) -> None:
        self._holder = subprocess.Popen(
            [NSENTER, f"--net={teardown.NETNS_DIR / self.netns}", "--",
             "unshare", "--uts", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc",
             "--propagation", "private", "--", sys.executable, str(LAB_DIR / "reaper.py")],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, preexec_fn=_die_with_parent)
        ready, _, _ = select.select([self._holder.stdout], [], [], 10)
        line = self._holder.stdout.readline() if ready else b""
        self._holder.stdout.close()
        if line != b"ready\n":
            raise RuntimeError(f"node {self.name}: the reaper did not start (got {line!r})")
        self.init_pid = wait_for(lambda: _children(self._holder.pid), 5, "the reaper's pid")[0]

    def attach(self, switch: Switch, ifname: str = "eth0", cidr: str | None = None) -> str:
        """Connect `ifname` to `switch` with a veth; return the switch-side port name."""
        port = f"{self.name}-{ifname}"
        if len(port) > 15:
            raise ValueError(f"port name {port!r} is longer than 15 characters")
        host([IP, "-n", switch.netns, "link", "add", port, "type", "veth",
              "peer", "name", ifname, "netns", self.netns])
        if cidr:
            host([IP, "-n", self.netns, "link", "set", ifname, "address", mac_for(cidr.split("/")[0])])
            host([IP, "-n", self.netns, "addr", "add", cidr, "brd", "+", "dev", ifname])
        host([IP, "-n", self.netns, "link", "set", ifname, "up"])
        host([IP, "-n", switch.netns, "link", "set", port, "master", "br0", "up"])
        return port

    def python(self, code: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
        """Run `python3 -c code` in the node with this checkout importable."""
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        return self.run([sys.executable, "-c", code], timeout=timeout, check=check,
                        env=dict(os.environ, PYTHONPATH=path))

    def path(self, node_path: str) -> Path:
        """Host path of `node_path`, which must lie in one of the node's private directories."""
        p = posixpath.normpath(node_path)
        for alias, real in ALIASES.items():
            if p == alias or p.startswith(alias + "/"):
                p = real + p[len(alias):]
        if not any(p == d or p.startswith(d + "/") for d in self.private):
            raise ValueError(f"{node_path} is not in a private directory of the node ({', '.join(self.private)})")
        return self.root / p[1:]

    def write(self, node_path: str, text: str, mode: int = 0o644) -> Path:
        target = self.path(node_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        os.chmod(target, mode)
        return target

    def read(self, node_path: str) -> str:
        return self.path(node_path).read_text(errors="replace")

    def records(self, node_path: str, width: int) -> list[list[str]]:
        """The lines of a log the node's helpers append to (poller, arpwatch), split in
        fields; a missing file has none, and a line of another width (the last one, half
        written) is left out."""
        host_path = self.path(node_path)
        text = host_path.read_text(errors="replace") if host_path.exists() else ""
        return [fields for fields in map(str.split, text.splitlines()) if len(fields) == width]

    def pids(self) -> list[int]:
        """Host pids of the live processes in the node, the reaper excepted."""
        if self.init_pid is None:
            return []
        found = teardown.pids_sharing(f"/proc/{self.init_pid}/ns/pid", "pid")
        return sorted(p for p in found if p != self.init_pid)

    def _stop(self, timeout: float = 5) -> None:
        if self._holder is None:
            return
        if self._holder.poll() is None:
            if self.init_pid is None:
                self._holder.kill()
            else:
                os.kill(self.init_pid, signal.SIGTERM)
        try:
            self._holder.wait(timeout)
        except subprocess.TimeoutExpired:
            self._holder.kill()  # unshare --kill-child then SIGKILLs the reaper
            self._holder.wait(timeout)


class Lab:
    """Switches and nodes under one unique prefix; a context manager."""

    def __init__(self):
        self.prefix = f"pyhb{os.getpid()}x{next(_counter)}-"
        self.dir = teardown.STATE_ROOT / self.prefix.rstrip("-")
        self.nodes: dict[str, Node] = {}
        self.switches: dict[str, Switch] = {}
        self._netns: list[str] = []
        self._processes: list[Process] = []
        self._captures: list = []
        self._stage: Path | None = None

    def __enter__(self) -> Lab:
        self.dir.mkdir(parents=True)
        _open_labs.add(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        problems = self.close()
        if problems and exc is None:
            raise RuntimeError("lab cleanup: " + "; ".join(problems))

    def _add_netns(self, name: str) -> str:
        if name in self.nodes or name in self.switches:
            raise ValueError(f"{name!r} already exists in this lab")
        netns = self.prefix + name
        host([IP, "netns", "add", netns])
        self._netns.append(netns)
        # no IPv6: nothing may leave the node but the lab's IPv4 addresses
        for key in ("all", "default"):
            host([NSENTER, f"--net={teardown.NETNS_DIR / netns}", "--",
                  "sysctl", "-q", "-w", f"net.ipv6.conf.{key}.disable_ipv6=1"])
        host([IP, "-n", netns, "link", "set", "lo", "up"])
        return netns

    def switch(self, name: str) -> Switch:
        return Switch(self, name)

    def node(self, name: str, flavor: str = "plain", own_etc: bool = False,
             private: Mapping[str, int] | None = None) -> Node:
        """A node; ``own_etc`` overlays /etc, ``private`` adds directories (path -> mode) the
        node gets its own copy of."""
        return Node(self, name, flavor, own_etc, private)

    def capture(self, switch: Switch, iface: str = "br0", bpf: str = "") -> Capture:
        from .capture import Capture
        cap = Capture(switch, iface, bpf)
        self._captures.append(cap)
        return cap

    def stage(self) -> Path:
        """Our implementation installed once under this lab's state dir (for flavor "ours")."""
        if self._stage is None:
            from heartbeat.tools.install import install
            # PYHB_NODE_PYTHON: the interpreter of the nodes' daemon and scripts
            # (`make netns39` runs a scenario on Python 3.9); default ours
            install(self.dir / "stage", node_python(), package_path=REPO)
            self._stage = self.dir / "stage"
        return self._stage

    def close(self) -> list[str]:
        """Tear everything down; return what could not be removed."""
        problems: list[str] = []

        def attempt(what: str, action: Callable[[], object]) -> None:
            try:
                action()
            except Exception as exc:  # keep going: the rest must still be removed
                problems.append(f"{what}: {exc}")

        for cap in self._captures:
            attempt(f"capture {cap.file.name}", cap.stop)
        for node in self.nodes.values():
            attempt(f"node {node.name}", node._stop)
        for proc in self._processes:
            attempt(f"process {proc.pid}", lambda proc=proc: proc.popen.kill() or proc.wait(5))
        for netns in reversed(self._netns):
            attempt(f"namespace {netns}", lambda netns=netns: teardown.delete_netns(netns))
        if self.dir.exists() and not os.environ.get("PYHB_LAB_KEEP"):
            attempt(f"state dir {self.dir}", lambda: teardown.remove_state_dir(self.dir))
        self._captures, self._processes, self._netns = [], [], []
        self.nodes, self.switches = {}, {}
        _open_labs.discard(self)
        return problems


@atexit.register
def _close_forgotten_labs() -> None:
    for lab in list(_open_labs):
        lab.close()
