"""Heartbeat 2.1.3, the peer of a rolling migration from 2.1.x: built once per machine, then reused.

The sources and their build script are not ours and stay outside the
repository, in the shared tools beside the clone (`../shared/tools/hb21/
build.sh`); the script installs into PREFIX (its configure line fixes that
prefix in the binaries). `ensure_built()` runs it under a lock when the daemon
is missing, in a scratch directory of its own, so one test session (or
`make hb21`) pays the minute and every later one finds it done.

    python3 -m tests.lab.hb21      (make hb21): build unless already built
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
PREFIX = Path("/opt/hb21")
DAEMON = PREFIX / "lib64/heartbeat/heartbeat"
VERSION = "2.1.3"
BUILD_SCRIPT = Path("shared/tools/hb21/build.sh")
LOCK = Path("/var/tmp/pyhb-hb21-build.lock")
BUILD_TIMEOUT = 1800  # about a minute on an idle 2-core machine; a loaded one is slower
# where shared/ may stand: beside the checkout (../shared) or beside the folder holding it
# (a worktree in wt/NAME); searching higher would find a stray shared/ in /tmp or / and
# make a fresh clone depend on the machine
SEARCH_LEVELS = 2


def build_script() -> Path | None:
    """`shared/tools/hb21/build.sh` beside the checkout or beside its parent folder."""
    for directory in list(REPO.parents)[:SEARCH_LEVELS]:
        candidate = directory / BUILD_SCRIPT
        if candidate.is_file():
            return candidate
    return None


def built() -> bool:
    return DAEMON.is_file()


def ensure_built(report=lambda line: None) -> Path:
    """PREFIX with 2.1.3 installed in it; builds it first if needed (RuntimeError if it cannot)."""
    if built():
        return PREFIX
    script = build_script()
    if script is None:
        raise RuntimeError(f"heartbeat {VERSION} is not in {PREFIX} and no {BUILD_SCRIPT} was found "
                           f"beside {REPO} or its parents")
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a parallel session builds it; wait for that one
        if built():
            return PREFIX
        report(f"building heartbeat {VERSION} into {PREFIX} with {script} (about a minute)")
        work = Path(tempfile.mkdtemp(prefix="pyhb-hb21-", dir="/var/tmp"))
        try:
            with open(work / "build.log", "wb") as log:
                done = subprocess.run(["bash", str(script)], env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                                                  "WORK": str(work), "PREFIX": str(PREFIX)},
                                      stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                      timeout=BUILD_TIMEOUT)
            if done.returncode or not built():
                tail = (work / "build.log").read_text(errors="replace").splitlines()[-20:]
                raise RuntimeError(f"{script} failed ({done.returncode}):\n" + "\n".join(tail))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return PREFIX


def main() -> int:
    try:
        ensure_built(report=print)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"heartbeat {VERSION}: {DAEMON}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
