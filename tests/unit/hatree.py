"""A throw-away /etc/ha.d for the resource-side commands, run as the daemon runs them.

`HaTree` lays out, under a temporary directory: ``ha.d/`` (haresources, this checkout's
rc.d/ and shellfuncs, a resource.d/ and an init.d/ holding test resource scripts),
``noarchbin/`` with launchers of ResourceManager, mach_down, req_resource, hb_standby
and hb_takeover importing this checkout, ``ha.d/harc``, and a FIFO standing in for
/var/lib/heartbeat/fifo whose reading end the test holds.

The test resource scripts record every call (``NAME ARGS OP``) in ``calls`` and keep
their running state in ``state/``; they start, stop and report status like a well
behaved agent unless the test tells one to fail (`fail`) or what to print (`say`).
Log files use a fixed date, so lines compare whole.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Iterable, Iterator

from heartbeat.tools.install import LAUNCHERS, PACKAGE, REPO, launcher_text, shipped_dir

DATE = "2026/11/24_17:21:33"
# literal format: strftime prints it unchanged, the tab becomes one blank as in the daemon's
DATEFMT = DATE + "\t"

_LINE = re.compile(r"^" + re.escape(DATE) + r"  (?P<name>.+)\((?P<inst>[^()]*)\)\[(?P<pid>\d+)\]:    (?P<msg>.*)$")

# NAME [ARG] OP; state key NAME or NAME_ARG (slashes made safe)
RESOURCE_SCRIPT = r"""#!/bin/sh
name=${0##*/}
for op; do :; done
key=$name
[ $# -ge 2 ] && key="${name}_$1"
key=`printf '%s' "$key" | tr / _`
echo "$name $*" >>"$TEST_CALLS"
if [ -e "$TEST_STATE/fail-$key-$op" ]; then
	echo "$name: $op failed on purpose" >&2
	exit `cat "$TEST_STATE/fail-$key-$op"`
fi
case $op in
	start)	touch "$TEST_STATE/$key";;
	stop)	rm -f "$TEST_STATE/$key";;
	status)	if [ -e "$TEST_STATE/say-$key" ]; then cat "$TEST_STATE/say-$key"; exit `cat "$TEST_STATE/sayrc-$key"`
		elif [ -e "$TEST_STATE/$key" ]; then echo running
		else echo stopped; exit 3; fi;;
	*)	echo "usage: $0 [arg] start|stop|status" >&2; exit 2;;
esac
exit 0
"""

COMMANDS = ("ResourceManager", "mach_down", "req_resource", "hb_standby", "hb_takeover")


def _launcher(target: str) -> str:
    # -S: the resource-side commands need only the standard library, and skipping
    # site-packages' start-up hooks halves the time of every command a test runs
    first, rest = launcher_text(target, f"{sys.executable} -S").split("\n", 1)
    return f"{first}\nimport sys; sys.path.insert(0, {str(REPO)!r})\n{rest}"


def _write(path: Path, text: str, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


class HaTree:
    def __init__(self, root: Path, haresources: str = "", curhost: str = "node1") -> None:
        self.root = root
        self.ha_dir = root / "ha.d"
        self.noarchbin = root / "noarchbin"
        self.state = root / "state"
        self.calls_file = root / "calls"
        self.logfile = root / "ha-log"
        self.debuglog = root / "ha-debug"
        self.fifo = root / "fifo"
        self.state.mkdir(parents=True)
        (root / "varlib").mkdir()
        (self.ha_dir / "resource.d").mkdir(parents=True)
        (root / "init.d").mkdir()
        shutil.copytree(shipped_dir("rc.d"), self.ha_dir / "rc.d")
        shutil.copy(PACKAGE / "data" / "shellfuncs", self.ha_dir / "shellfuncs")
        for dest, target in LAUNCHERS.items():
            name = os.path.basename(dest)
            if name in COMMANDS:
                _write(self.noarchbin / name, _launcher(target))
        self.harc = _write(self.ha_dir / "harc", _launcher(LAUNCHERS["etc/ha.d/harc"]))
        self.write_haresources(haresources)
        os.mkfifo(self.fifo, 0o600)
        # holding the reading end open lets writers in; the messages wait in the pipe
        self._reader: int | None = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "HA_DIR": f"{self.ha_dir}/",
            "HA_FUNCS": f"{self.ha_dir}/shellfuncs",
            "HA_NOARCHBIN": str(self.noarchbin),
            "HA_BIN": str(root / "bin"),
            "HA_SBIN_DIR": str(root / "sbin"),
            "HA_VARRUN": str(root / "run"),
            "HA_VARLIB": str(root / "varlib"),
            "HA_FIFO": str(self.fifo),
            "HA_LOGFILE": str(self.logfile),
            "HA_DEBUGLOG": str(self.debuglog),
            "HA_DATEFMT": DATEFMT,
            "HA_CURHOST": curhost,
            "INITDIR": str(root / "init.d"),
            "OCF_ROOT": str(root / "ocf"),
            "PYHB_REBOOT": f"/bin/sh -c 'echo reboot >>{self.calls_file}'",
            "TEST_CALLS": str(self.calls_file),
            "TEST_STATE": str(self.state),
        }

    def close(self) -> None:
        """Stop reading the FIFO: from now on it looks like no daemon runs."""
        if self._reader is not None:
            os.close(self._reader)
            self._reader = None

    # the tree ------------------------------------------------------------------------
    def write_haresources(self, text: str) -> None:
        (self.ha_dir / "haresources").write_text(text)

    def resource(self, name: str, directory: str = "resource.d") -> Path:
        """A recording resource script in resource.d (or, ``directory="init"``, INITDIR)."""
        where = self.root / "init.d" if directory == "init" else self.ha_dir / directory
        return _write(where / name, RESOURCE_SCRIPT)

    def key(self, name: str, arg: str = "") -> str:
        return f"{name}_{arg}".replace("/", "_") if arg else name

    def set_running(self, name: str, arg: str = "") -> None:
        (self.state / self.key(name, arg)).touch()

    def running(self, name: str, arg: str = "") -> bool:
        return (self.state / self.key(name, arg)).exists()

    def fail(self, name: str, op: str, arg: str = "", rc: int = 1) -> None:
        (self.state / f"fail-{self.key(name, arg)}-{op}").write_text(f"{rc}\n")

    def say(self, name: str, text: str, arg: str = "", rc: int = 0) -> None:
        """What the resource's status prints, and its exit status."""
        (self.state / f"say-{self.key(name, arg)}").write_text(text)
        (self.state / f"sayrc-{self.key(name, arg)}").write_text(f"{rc}\n")

    # running commands --------------------------------------------------------------------
    def run(self, command: str | Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
        path = command if isinstance(command, Path) else self.noarchbin / command
        env = {**self.env, **extra_env}
        return subprocess.run([str(path), *args], env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60)

    def harc_event(self, event: str, **fields: str) -> subprocess.CompletedProcess:
        """harc as the daemon runs it: the message's fields as HA_<name>."""
        return self.run(self.harc, event, **{f"HA_{k}": v for k, v in fields.items()})

    # what happened ---------------------------------------------------------------------
    def calls(self) -> list[str]:
        return self.calls_file.read_text().splitlines() if self.calls_file.exists() else []

    def entries(self) -> list[tuple[str, int, str]]:
        """(tag name, pid, message) of each HA_LOGFILE line; the line format is checked."""
        out = []
        for line in (self.logfile.read_text().splitlines() if self.logfile.exists() else []):
            m = _LINE.match(line)
            assert m, f"not a 3.0.6 ha_log line: {line!r}"
            out.append((m["name"], int(m["pid"]), m["msg"]))
        return out

    def log(self) -> list[tuple[str, str]]:
        return [(name, msg) for name, _pid, msg in self.entries()]

    def messages(self) -> list[list[tuple[str, str]]]:
        """The messages written to the FIFO since the last call, fields in order."""
        data = b""
        while self._reader is not None:
            try:
                chunk = os.read(self._reader, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
        text = data.decode()
        blocks = re.findall(r">>>\n(.*?)<<<\n", text, re.DOTALL)
        assert "".join(f">>>\n{b}<<<\n" for b in blocks) == text, f"stray FIFO data: {text!r}"
        return [[tuple(line.split("=", 1)) for line in b.splitlines()] for b in blocks]


@contextmanager
def ha_tree(root: Path, haresources: str = "", resources: Iterable[str] = ()) -> Iterator[HaTree]:
    """A tree with recording scripts ``resources`` in resource.d, closed afterwards."""
    tree = HaTree(root, haresources)
    try:
        for name in resources:
            tree.resource(name)
        yield tree
    finally:
        tree.close()
