"""The modes of the daemon's own files and directories.

The daemon runs as root and trusts what it finds in its run and state directories (the
API socket, the FIFO, rsctmp, hb_generation, hb_uuid) and appends to its log files. It
sets its own umask, so what it creates is writable by root only whatever umask it was
started under, and it takes the group and other write bits off what an earlier run, an
admin or a package left behind (3.0.6's files are 0644, its directories 0755 or 0750:
read access is kept as it is).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

DAEMON_UMASK = 0o022
_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH


def tighten(paths: Iterable[str]) -> list[str]:
    """Remove group and other write from each existing regular file or directory in
    ``paths`` (symlinks, devices and missing paths are left alone); one line per change."""
    changed = []
    for path in paths:
        if not path:
            continue
        try:
            # opened without following a symlink and changed through the descriptor: a
            # directory others could write must not let them swap the file in between
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            old = stat.S_IMODE(st.st_mode)
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)) or not old & _WRITABLE_BY_OTHERS:
                continue
            new = old & ~_WRITABLE_BY_OTHERS
            try:
                os.fchmod(fd, new)
            except OSError as e:
                changed.append(f"{path} has mode {old:04o}, writable by others, and cannot be changed: "
                               f"{e.strerror}")
                continue
            changed.append(f"{path} had mode {old:04o}, writable by others: now {new:04o}")
        finally:
            os.close(fd)
    return changed
