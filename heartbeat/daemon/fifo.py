"""The command FIFO ``/var/lib/heartbeat/fifo`` (wire-protocol §11.1).

Scripts (``ha_clustermsg``, hb_standby, mach_down ...) write framed messages
into it; every message read is handed to ``on_message`` for the daemon to send
to the cluster.  The framing itself is :class:`heartbeat.core.codec.FifoReader`.
"""

from __future__ import annotations

import asyncio
import os
import stat
from typing import Callable

from heartbeat.core.codec import FifoReader
from heartbeat.daemon.log import DaemonLog
from heartbeat.core.message import Message

FIFO_PATH = "/var/lib/heartbeat/fifo"
FIFO_MODE = 0o600
_READ_SIZE = 65536


def create_fifo(path: str = FIFO_PATH) -> list[tuple[str, str]]:
    """Make the FIFO if it is missing; the (level, text) lines the daemon logs about it.

    Whoever can write to the FIFO speaks for this node to the cluster (hb_standby, a
    resource message), so a FIFO that is not ours and 0600 is replaced: a fresh inode
    also cuts off a writer that kept the old one open."""
    lines: list[tuple[str, str]] = []
    try:
        st = os.lstat(path)
        if stat.S_ISFIFO(st.st_mode):
            if stat.S_IMODE(st.st_mode) == FIFO_MODE and st.st_uid == os.geteuid():
                return lines
            lines.append(("WARN", f"FIFO {path} had mode {stat.S_IMODE(st.st_mode):04o} and owner uid "
                                  f"{st.st_uid}: replaced"))
        os.unlink(path)  # what 3.0.6 does too (lab): a regular file would swallow every message
    except FileNotFoundError:
        pass
    os.mkfifo(path, FIFO_MODE)
    os.chmod(path, FIFO_MODE)  # mkfifo's mode is filtered by the umask
    lines.append(("info", f"Creating FIFO {path}."))
    return lines


class FifoInput:
    """Reads the FIFO for as long as the daemon runs."""

    def __init__(self, on_message: Callable[[Message], None], log: DaemonLog, path: str = FIFO_PATH) -> None:
        self._on_message = on_message
        self._log = log
        self._path = path
        self._framing = FifoReader()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._read_fd = -1
        self._keep_fd = -1

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._read_fd = os.open(self._path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        # Our own idle writer: without it the read end reports EOF (and becomes
        # readable for ever) each time the last script closes its end.
        self._keep_fd = os.open(self._path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        self._loop.add_reader(self._read_fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._read_fd, _READ_SIZE)
        except BlockingIOError:
            return
        for message in self._framing.feed(data):
            self._on_message(message)
        for level, text in self._framing.take_log():
            self._log.log(level, text)

    def close(self) -> None:
        if self._loop is not None and self._read_fd >= 0:
            self._loop.remove_reader(self._read_fd)
        for fd in (self._read_fd, self._keep_fd):
            if fd >= 0:
                os.close(fd)
        self._read_fd = self._keep_fd = -1
