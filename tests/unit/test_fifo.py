import asyncio
import os
import stat

import pytest

from heartbeat.daemon.fifo import FifoInput, create_fifo
from heartbeat.daemon.log import DaemonLog, LogSettings
from heartbeat.core.message import Message


def test_missing_fifo_is_created_0600_and_reported_once(tmp_path):
    path = str(tmp_path / "fifo")
    old = os.umask(0o077)
    try:
        assert create_fifo(path) == [("info", f"Creating FIFO {path}.")]
    finally:
        os.umask(old)
    mode = os.stat(path).st_mode
    assert stat.S_ISFIFO(mode) and stat.S_IMODE(mode) == 0o600
    assert create_fifo(path) == []


def test_a_regular_file_in_the_way_is_replaced_and_reported_as_the_real_daemon_does(tmp_path):
    path = tmp_path / "fifo"
    path.write_text("stale")
    assert create_fifo(str(path)) == [("info", f"Creating FIFO {path}.")]
    assert stat.S_ISFIFO(path.stat().st_mode)


@pytest.mark.parametrize("old_mode", [0o666, 0o644])
def test_a_fifo_others_may_write_is_replaced_by_a_fresh_0600_one(tmp_path, old_mode):
    """Issue 8 row 13: a FIFO left 0666 let anyone send cluster messages; a new inode also
    cuts off writers holding the old one open. (One of another owner: tests/netns/test_fifo.py,
    as only root can give it away.)"""
    assert_replaced(tmp_path / "fifo", old_mode, os.geteuid())


def assert_replaced(path, old_mode: int, owner: int) -> None:
    os.mkfifo(path)
    path.chmod(old_mode)
    if owner != os.geteuid():
        os.chown(path, owner, -1)
    old_inode = path.stat().st_ino
    writer = os.open(path, os.O_RDWR | os.O_NONBLOCK)   # holds the old inode: not reused
    try:
        replaced = create_fifo(str(path))
        assert path.stat().st_ino != old_inode
    finally:
        os.close(writer)
    assert replaced == [("WARN", f"FIFO {path} had mode {old_mode:04o} and owner uid {owner}: replaced"),
                        ("info", f"Creating FIFO {path}.")]
    st = path.stat()
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid()


def _write(path: str, data: bytes) -> None:
    # O_NONBLOCK: ENXIO instead of a hang if nobody holds the read end
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


async def _collect(path: str, writes: list[bytes], wanted: int, log: DaemonLog) -> list[Message]:
    got: list[Message] = []
    arrived = asyncio.Event()

    def on_message(msg: Message) -> None:
        got.append(msg)
        if len(got) >= wanted:
            arrived.set()

    fifo = FifoInput(on_message, log, path)
    fifo.start()
    try:
        for data in writes:
            _write(path, data)
        await asyncio.wait_for(arrived.wait(), 5)
        await asyncio.sleep(0)
    finally:
        fifo.close()
    return got


def _log(tmp_path) -> DaemonLog:
    return DaemonLog(LogSettings(host="node1", logfile=str(tmp_path / "ha-log"), stderr=False),
                     clock=lambda: 0.0, pid=lambda: 1)


def test_messages_from_successive_writers_are_delivered(tmp_path):
    path = str(tmp_path / "fifo")
    create_fifo(path)
    got = asyncio.run(_collect(path, [
        b"noise\n>>>\nt=ask_resources\nrsc_hold=all\ninfo=me\n<<<\n",
        b">>>\nt=hb_standby\n",
        b"<<<\n",
    ], 2, _log(tmp_path)))
    assert got == [Message.of(t="ask_resources", rsc_hold="all", info="me"), Message.of(t="hb_standby")]


def test_bad_message_is_logged_and_reading_goes_on(tmp_path):
    path = str(tmp_path / "fifo")
    create_fifo(path)
    got = asyncio.run(_collect(path, [b">>>\n" + b"x" * 600 + b"\n<<<\n>>>\nt=ok\n<<<\n"], 1, _log(tmp_path)))
    assert got == [Message.of(t="ok")]
    assert "msgfromstream: field too long; message dropped" in (tmp_path / "ha-log").read_text()


def test_writers_fail_fast_once_the_reader_is_closed(tmp_path):
    path = str(tmp_path / "fifo")
    create_fifo(path)
    asyncio.run(_collect(path, [b">>>\nt=x\n<<<\n"], 1, _log(tmp_path)))
    with pytest.raises(OSError):
        _write(path, b">>>\nt=y\n<<<\n")
