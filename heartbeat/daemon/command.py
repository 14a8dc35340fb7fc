"""The `heartbeat` command's entry point, and what it can do from the pid file alone.

`heartbeat -s` (status; the init script, cluster tools and admins run it) and
`heartbeat -k` (stop; the init script's stop) only read the pid file and signal
a pid. Here they load none of the daemon: its event loop, configuration parsers
and protocol cost ~0.2 s of CPU to import, and a graceful stop waited for that
before anything else happened. Every other command line goes to the daemon's
`main`, which uses these same functions for -s and -k.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from heartbeat.daemon import statefiles
from heartbeat.config.nodename import local_node_name
from heartbeat.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from typing import Callable
    from collections.abc import Sequence

EXIT_OK = 0
EXIT_STALE = 1             # -s: a pid file, but no such process
EXIT_STOPPED = 3           # -s: no pid file
KILL_POLL_S = 1.0
KILL_POLLS = 3600          # -k gives up after an hour: resources that take longer are stuck


@record
class Paths:
    """Where the daemon keeps its files; tests move them into a temporary directory."""
    ha_dir: str = "/etc/ha.d"
    pidfile: str = "/var/run/heartbeat.pid"
    state_dir: str = "/var/lib/heartbeat"
    run_dir: str = "/var/run/heartbeat"
    noarchbin: str = "/usr/share/heartbeat"

    @property
    def fifo(self) -> str:
        return os.path.join(self.state_dir, "fifo")

    @property
    def api_socket(self) -> str:
        return os.path.join(self.run_dir, "register")

    @property
    def rsctmp(self) -> str:
        return os.path.join(self.run_dir, "rsctmp")


def running_pid(paths: Paths) -> int | None:
    state = statefiles.running(paths.pidfile)
    return state.pid if state.alive else None


def status(cmd: str, paths: Paths, out=None) -> int:
    out = out or sys.stdout
    state = statefiles.running(paths.pidfile)
    if state.alive:
        host = os.uname().nodename.lower()
        local = local_node_name(paths.ha_dir)
        print(f"{cmd} OK [pid {state.pid} et al] is running on {host} [{local}]...", file=out)
        return EXIT_OK
    print(f"{cmd} is stopped. No process", file=out)
    return EXIT_STOPPED if state.pid is None else EXIT_STALE


def kill(paths: Paths, err=None, sleep: Callable[[float], None] = time.sleep) -> int:
    err = err or sys.stderr
    pid = running_pid(paths)
    if pid is None:
        print("INFO: Heartbeat already stopped.", file=err)
        return EXIT_OK
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError as e:
        print(f"ERROR: Could not kill pid {pid}", file=err)
        print(e.strerror, file=err)
        return 1
    for _ in range(KILL_POLLS):
        if not statefiles.pid_alive(pid):
            return EXIT_OK
        sleep(KILL_POLL_S)
    print(f"ERROR: Could not kill pid {pid}", file=err)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv) or ["heartbeat"]
    if argv[1:] == ["-s"]:
        return status(os.path.basename(argv[0]), Paths())
    if argv[1:] == ["-k"]:
        return kill(Paths())
    from heartbeat.daemon.main import main as daemon_main
    return daemon_main(argv)
