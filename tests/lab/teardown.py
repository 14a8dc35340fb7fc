"""Taking lab namespaces down, for `Lab` itself and for leftovers of dead runs.

A run names its namespaces and its state directory ``pyhb<pid>x<n>-...``.
Only names whose owner pid is gone count as leftovers, so parallel runs are
safe; processes are found by the inode of their network namespace and killed
by PID, never by name.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

NETNS_DIR = Path("/run/netns")
STATE_ROOT = Path("/var/tmp/pyhb-lab")
OWNED = re.compile(r"^pyhb(\d+)x\d+")


def owner_alive(name: str) -> bool:
    match = OWNED.match(name)
    if not match:
        raise ValueError(f"{name!r} is not a lab name")
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def pids_sharing(namespace: str, kind: str) -> list[int]:
    """Host pids of the live processes whose `kind` namespace ("net", "pid") is the
    one at path `namespace` (a /run/netns name or a /proc/PID/ns/KIND link)."""
    try:
        target = os.stat(namespace)
    except FileNotFoundError:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ns = os.stat(f"/proc/{entry}/ns/{kind}")
            except OSError:  # gone, or a zombie: it holds no namespace any more
                continue
            if (ns.st_ino, ns.st_dev) == (target.st_ino, target.st_dev):
                pids.append(int(entry))
    return pids


def netns_pids(path: Path) -> list[int]:
    return pids_sharing(str(path), "net")


def delete_netns(name: str, timeout: float = 5.0) -> None:
    """Kill every process in namespace `name` by PID, then delete the name."""
    path = NETNS_DIR / name
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.05) + 1):
        pids = netns_pids(path)
        if not pids or time.monotonic() > deadline:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    if path.exists():
        subprocess.run(["ip", "netns", "del", name], check=True, capture_output=True, timeout=10)
    if netns_pids(path):
        raise RuntimeError(f"processes still in namespace {name}: {netns_pids(path)}")


def mounted_below(directory: Path) -> list[str]:
    """Mount points at or below `directory` in this mount namespace."""
    prefix = str(directory)
    with open("/proc/self/mountinfo") as info:
        points = [line.split()[4] for line in info]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


def remove_state_dir(directory: Path) -> None:
    if mounted_below(directory):
        raise RuntimeError(f"{directory} has mounts below it: {mounted_below(directory)}")
    shutil.rmtree(directory, ignore_errors=False)


def leftovers() -> tuple[list[str], list[Path]]:
    """Namespaces and state directories of runs whose owner is gone."""
    names = sorted(n for n in os.listdir(NETNS_DIR) if OWNED.match(n) and not owner_alive(n)) \
        if NETNS_DIR.is_dir() else []
    dirs = sorted(d for d in STATE_ROOT.iterdir() if OWNED.match(d.name) and not owner_alive(d.name)) \
        if STATE_ROOT.is_dir() else []
    return names, dirs


def remove_leftovers(report=print) -> int:
    """Remove leftovers of dead runs; return how many could not be removed."""
    names, dirs = leftovers()
    failures = 0
    for what, remove in [(n, delete_netns) for n in names] + [(d, remove_state_dir) for d in dirs]:
        try:
            remove(what)
            report(f"removed {what}")
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            failures += 1
            report(f"could not remove {what}: {exc}")
    return failures

