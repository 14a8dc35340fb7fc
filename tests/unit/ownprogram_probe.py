"""A stand-in entry point for tests/unit/test_ownprograms.py: reports what a program sees."""

import json
import os
import signal
import sys


def main() -> int:
    default = [signal.getsignal(s) == signal.SIG_DFL for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1)]
    ignored = [signal.getsignal(s) == signal.SIG_IGN for s in (signal.SIGPIPE, signal.SIGUSR2)]
    json.dump({"argv": sys.argv, "pid": os.getpid(), "ppid": os.getppid(), "env": os.environ.get("PROBE"),
               "other_env": "PROBE_PARENT_ONLY" in os.environ,
               "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
               "signals": default + ignored,
               "comm": open("/proc/self/comm").read().strip(), "stdin": os.read(0, 100).decode()}, sys.stdout)
    sys.stdout.write("\n")
    sys.stderr.write("to stderr\n")
    return int(os.environ.get("PROBE_RC", "0"))


def exits_with_text() -> None:
    sys.exit("failed: text")


def raises() -> None:
    raise RuntimeError("boom")


def report(argv: "list[str] | None" = None) -> int:
    """What a mach_down would see (arguments, whole environment) to $PROBE_OUT; status 5."""
    with open(os.environ["PROBE_OUT"], "w") as f:
        json.dump({"argv": sys.argv if argv is None else argv, "env": dict(os.environ)}, f)
    return 5


def killed() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
