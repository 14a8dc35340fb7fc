"""serial: heartbeats over a null-modem line (wire-protocol §6.5; from the 3.0.6 sources, no capture).

Messages travel as classic text with the ``auth`` field, no NUL, written in
512-byte chunks with a pause of one chunk's transmission time between them so a
slow line is not overrun.  The reader skips noise up to a ``>>>`` line and hands
everything up to ``<<<`` to the daemon.  The line is raw 8N1 with hardware flow
control; the input flags make the driver strip the 8th bit and drop CRs.
"""

from __future__ import annotations

import asyncio
import collections
import os
import stat
import termios

from heartbeat.core.auth import Authenticator
from heartbeat.core.codec import CLASSIC_END, CLASSIC_START, MAXMSG, encode
from heartbeat.daemon.log import DaemonLog
from heartbeat.core.message import Message
from heartbeat.daemon.media.base import PLUGIN_PREFIX, Medium, MediumError, Receive

CHUNK = 512
MAX_EOFS = 10
MAX_QUEUED = 64      # messages waiting for a slow line; beyond that a send counts as failed
_BAUDS = {9600: termios.B9600, 19200: termios.B19200, 38400: termios.B38400, 57600: termios.B57600,
          115200: termios.B115200, 230400: termios.B230400, 460800: termios.B460800}


def chunk_pause(baud: int) -> float:
    """Seconds one chunk takes on the line (8 bits a byte, as the original reckons)."""
    return CHUNK / (baud / 8)


def configure_line(fd: int, baud: int) -> None:
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(fd)
    speed = _BAUDS[baud]
    iflag = termios.INPCK | termios.ISTRIP | termios.IGNCR | termios.BRKINT
    oflag = 0
    cflag = termios.CS8 | termios.CREAD | termios.CLOCAL | termios.CRTSCTS | speed
    lflag = 0
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 1
    termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, speed, speed, cc])


class LineFramer:
    """Complete ``>>>`` ... ``<<<`` messages out of a byte stream; noise and over-long messages are dropped."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._message: bytearray | None = None

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out = []
        while (eol := self._buf.find(b"\n")) >= 0:
            line = bytes(self._buf[:eol + 1])
            del self._buf[:eol + 1]
            if line == CLASSIC_START:
                self._message = bytearray(line)
            elif self._message is not None:
                self._message += line
                if line == CLASSIC_END:
                    out.append(bytes(self._message))
                    self._message = None
                elif len(self._message) >= MAXMSG:
                    self._message = None
        if len(self._buf) >= MAXMSG:
            del self._buf[:]
            self._message = None
        return out


class SerialMedium(Medium):
    kind = "serial"

    def __init__(self, device: str, fd: int, baud: int, auth: Authenticator, log: DaemonLog,
                 receive: Receive) -> None:
        super().__init__(device, log)
        self._fd = fd
        self._pause = chunk_pause(baud)
        self._auth = auth
        self._receive = receive
        self._framer = LineFramer()
        self._eofs = 0
        self._queue: collections.deque[bytes] = collections.deque()
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._readable)
        self._writer = self._loop.create_task(self._write_queue())

    def send(self, packet: bytes, msg: Message) -> None:
        if len(self._queue) >= MAX_QUEUED:
            self._failed([("ERROR", f"TTY write timeout on [{self.name}] "
                                    "(no connection or bad cable? [see documentation])")],
                         OSError(0, "Resource temporarily unavailable"))
            return
        self._queue.append(encode(msg, self._auth, encoding="serial"))
        self._wake.set()

    async def _write_queue(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._write_message(self._queue.popleft())

    async def _write_message(self, text: bytes) -> None:
        for start in range(0, len(text), CHUNK):
            if start:
                await asyncio.sleep(self._pause)
            chunk = memoryview(text)[start:start + CHUNK]
            while chunk:
                try:
                    written = os.write(self._fd, chunk)
                except BlockingIOError:
                    # the far end holds CTS: wait a chunk's time, as a blocking write would
                    await asyncio.sleep(self._pause)
                    continue
                except OSError as e:
                    self._failed([("ERROR", f"TTY write failure on [{self.name}]: {e.strerror}")], e)
                    return
                chunk = chunk[written:]
        self._sent()

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._plugin_log("ERROR", f"EOF in ttygets [{self.name}]: {e.strerror} [{e.errno}]")
            data = b""
        if data:
            self._eofs = 0
            self._datagram(data)
            return
        self._eofs += 1
        if self._eofs >= MAX_EOFS:
            # a hung-up line stays readable: stop listening rather than spin
            self._plugin_log("ERROR", f"{MAX_EOFS} consecutive EOF errors from serial port {self.name}")
            self._loop.remove_reader(self._fd)

    def _datagram(self, data: bytes) -> None:
        for message in self._framer.feed(data):
            self._receive(self.name, message)

    def close(self) -> None:
        self._writer.cancel()
        self._loop.remove_reader(self._fd)
        os.close(self._fd)


def open_serial(device: str, baud: int, auth: Authenticator, log: DaemonLog, receive: Receive) -> SerialMedium:
    try:
        mode = os.stat(device).st_mode
    except OSError as e:
        raise MediumError(f"Nonexistent serial port [{device}] in config file") from e
    if not stat.S_ISCHR(mode):
        raise MediumError(f"Serial port [{device}] not a char device in config file")
    try:
        fd = os.open(device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise MediumError(f"cannot open {device}: {e.strerror}") from e
    try:
        configure_line(fd, baud)
        termios.tcsendbreak(fd, 0)
    except termios.error as e:
        os.close(fd)
        raise MediumError(f"cannot set tty attributes: {e.args[-1]}") from e
    log.info(f"{PLUGIN_PREFIX}Starting serial heartbeat on tty {device} ({baud} baud)")
    return SerialMedium(device, fd, baud, auth, log, receive)
