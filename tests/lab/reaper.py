"""PID 1 of a lab node: reap orphans until SIGTERM, then exit.

When it exits the kernel kills every process left in the node's PID namespace,
which is how a node is torn down. Reaping at once matters: daemons that
double-fork are re-parented here, and a zombie left for seconds still looks
alive to `kill -0` (lab-findings §6.5).
"""

import os
import signal
import sys


def main() -> int:
    # Blocked signals stay pending until sigwait takes them, so no SIGCHLD is
    # lost between two reaps. A PID 1 ignores default-handled signals, hence
    # the handler, although sigwait consumes them first.
    wanted = {signal.SIGCHLD, signal.SIGTERM}
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.pthread_sigmask(signal.SIG_BLOCK, wanted)
    print("ready", flush=True)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    while signal.sigwait(wanted) == signal.SIGCHLD:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
