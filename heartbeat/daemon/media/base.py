"""What every medium shares: its link name, how it reports write failures.

Write-failure reporting is the 3.0.6 write child's, as observed with the link
down (real daemon in the lab): each failure logs the plugin's own line(s) and
``write_child: write failure on <kind> <name>.: <strerror>``; the 11th failure in
a row adds ``Temporarily Suppressing write error messages`` and ``Is a cable
unplugged on <kind> <name>?`` and then nothing more is logged until a write
succeeds again.
"""

from __future__ import annotations

import abc
import asyncio
import mmap
import socket
from typing import Callable

from heartbeat.core.codec import MAXMSG
from heartbeat.daemon.log import DaemonLog
from heartbeat.core.message import Message

Receive = Callable[[str, bytes], None]
LogLine = tuple[str, str]

LOGGED_FAILURES = 10   # failures in a row logged before the 11th switches reporting off
PLUGIN_PREFIX = "glib: "   # how 3.0.6 prints lines its HBcomm plugins log


class MediumError(Exception):
    """A medium could not be opened; the text is what the original logs (without prefix)."""


class WriteErrors:
    """Consecutive write failures of one medium, and the log lines they produce."""

    def __init__(self, kind: str, name: str) -> None:
        self._what = f"{kind} {name}"
        self._failures = 0

    def succeeded(self) -> None:
        self._failures = 0

    def failed(self, plugin_lines: list[LogLine], strerror: str) -> list[LogLine]:
        if self._failures > LOGGED_FAILURES:
            return []
        self._failures += 1
        lines = [(level, PLUGIN_PREFIX + text) for level, text in plugin_lines]
        lines.append(("ERROR", f"write_child: write failure on {self._what}.: {strerror}"))
        if self._failures > LOGGED_FAILURES:
            lines += [("WARN", "Temporarily Suppressing write error messages"),
                      ("WARN", f"Is a cable unplugged on {self._what}?")]
        return lines


class Medium(abc.ABC):
    """One link: ``send`` never blocks, received datagrams go to ``receive(name, data)``."""

    kind: str = ""
    is_ping: bool = False

    def __init__(self, name: str, log: DaemonLog) -> None:
        self.name = name
        self._log = log
        self._errors = WriteErrors(self.kind, name)

    @abc.abstractmethod
    def send(self, packet: bytes, msg: Message) -> None:
        """Write one serialized message (``msg`` is what it encodes)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop reading and release the sockets."""

    @abc.abstractmethod
    def _datagram(self, data: bytes) -> None:
        """One datagram read from the socket given to ``_listen``."""

    def _listen(self, sock: socket.socket, recv_error: str) -> None:
        # One buffer for every read: recv(MAXMSG) would allocate 256 KiB per datagram,
        # which the C library maps and unmaps (three system calls and a page fault for
        # each heartbeat; issue 10's idle CPU). An anonymous mapping, not a bytearray
        # (which would zero, so allocate, all of it): pages never written stay unallocated.
        self._buffer = memoryview(mmap.mmap(-1, MAXMSG))
        self._socket = sock
        self._recv_error = recv_error
        sock.setblocking(False)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            size = self._socket.recv_into(self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._plugin_log("ERROR", self._recv_error + (e.strerror or str(e)))
            return
        self._datagram(bytes(self._buffer[:size]))

    def _stop_listening(self) -> None:
        if self._socket.fileno() >= 0:
            self._loop.remove_reader(self._socket.fileno())
        self._socket.close()

    def _sent(self) -> None:
        self._errors.succeeded()

    def _failed(self, plugin_lines: list[LogLine], error: OSError) -> None:
        for level, text in self._errors.failed(plugin_lines, error.strerror or str(error)):
            self._log.log(level, text)

    def _plugin_log(self, level: str, text: str) -> None:
        self._log.log(level, PLUGIN_PREFIX + text)
