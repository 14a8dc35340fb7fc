"""The daemon's state files: hb_generation, hb_uuid and the pid file.

Formats are those of heartbeat 3.0.6 (spec config-and-resources §16, wire-protocol
§8.5, §8.6, §12.10) so a node can switch between the original and us without
peers seeing a new identity or an old generation.  The decisions are pure
functions of the bytes read (and the clock); the thin readers and writers around
them touch the file system.
"""

from __future__ import annotations

import errno
import os
import re

from heartbeat.record import record

STATE_DIR = "/var/lib/heartbeat"
GENERATION_FILE = f"{STATE_DIR}/hb_generation"
UUID_FILE = f"{STATE_DIR}/hb_uuid"
PID_FILE = "/var/run/heartbeat.pid"

GENERATION_WIDTH = 15
UUID_BYTES = 16
_FILE_MODE = 0o644


# -- generation ----------------------------------------------------------------
@record
class Generation:
    value: int
    warning: str | None  # a WARN line the caller logs, or None when the file was sound


_LEADING_NUMBER = re.compile(rb"[ \t\n\v\f\r]*([0-9]+)")


def parse_generation(data: bytes) -> int | None:
    """The generation stored in hb_generation, or None when the content is not one.

    Like the original's scanf, the leading number counts and what follows it is
    ignored: the real 3.0.6 read "  12abc" as 12 and started at 13.
    """
    m = _LEADING_NUMBER.match(data)
    return int(m.group(1)) if m else None


def render_generation(value: int) -> bytes:
    return b"%*d\n" % (GENERATION_WIDTH, value)


def next_generation(stored: bytes | None, now: float) -> Generation:
    """The generation of this start given the file's bytes (None: missing/unreadable).

    A missing or empty file falls back to the wall clock, so a re-installed node
    still moves past what its peers remember.  A file without a number is the
    real 3.0.6's quirk (seen in the lab): it logs the clock value it meant to use
    but counts on from 0, so the generation becomes 1.
    """
    clock = int(now) + 1
    if not stored:
        return Generation(clock, f"No Previous generation - starting at {clock}")
    previous = parse_generation(stored)
    if previous is None:
        return Generation(1, f"BROKEN previous generation - starting at {clock}")
    return Generation(previous + 1, None)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _write_synced(path: str, data: bytes) -> None:
    # a generation that goes backwards after a crash would let peers drop our
    # messages as replays, hence O_SYNC, fsync and the directory sync
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_SYNC, _FILE_MODE)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    dirfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


def start_generation(now: float, method: str = "file", path: str = GENERATION_FILE) -> Generation:
    """Read, increment and persist the generation for this start (``hbgenmethod``)."""
    if method == "time":
        return Generation(int(now), None)
    generation = next_generation(_read(path), now)
    _write_synced(path, render_generation(generation.value))
    return generation


# -- uuid ------------------------------------------------------------------------
@record
class NodeUuid:
    value: bytes        # 16 raw bytes, as sent in srcuuid
    created: bool       # True: the caller logs the "No uuid found" line

    @property
    def text(self) -> str:
        # uuid (and platform, which it loads) only where a uuid is shown or made:
        # `heartbeat -s` reads the pid file through this module
        import uuid
        return str(uuid.UUID(bytes=self.value))


NO_UUID_MESSAGE = "No uuid found for current node - generating a new uuid."


def load_uuid(path: str = UUID_FILE) -> NodeUuid:
    """This node's uuid; a fresh random one is generated and stored when none is usable."""
    stored = _read(path)
    if stored is not None and len(stored) == UUID_BYTES:
        return NodeUuid(stored, False)
    import uuid  # see NodeUuid.text
    value = uuid.uuid4().bytes
    _write_synced(path, value)
    return NodeUuid(value, True)


# -- pid file ----------------------------------------------------------------------
def render_pid(pid: int) -> bytes:
    return b"%10d\n" % pid


def parse_pid(data: bytes) -> int | None:
    text = data.strip(b" \t\n")
    if not text.isdigit() or int(text) <= 0:
        return None
    return int(text)


def write_pid(pid: int, path: str = PID_FILE) -> None:
    tmp = f"{path}.tmp{pid}"
    with open(tmp, "wb") as f:
        f.write(render_pid(pid))
    os.chmod(tmp, _FILE_MODE)
    os.replace(tmp, path)


def read_pid(path: str = PID_FILE) -> int | None:
    data = _read(path)
    return None if data is None else parse_pid(data)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as e:
        # EPERM: the process exists but belongs to someone else
        return e.errno == errno.EPERM
    return True


@record
class PidState:
    """What the pid file says: ``pid`` None means no (readable) pid file."""
    pid: int | None
    alive: bool


def running(path: str = PID_FILE) -> PidState:
    """The daemon recorded in the pid file and whether it still runs (`heartbeat -s`, `-k`).

    The original leaves its pid file behind after a clean stop, so a recorded pid
    that is gone is a normal state, distinct from having no pid file at all.
    """
    pid = read_pid(path)
    return PidState(pid, pid is not None and pid_alive(pid))
