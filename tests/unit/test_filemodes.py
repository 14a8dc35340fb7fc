"""The modes of the daemon's own files and directories (issue 8 row 13)."""

from __future__ import annotations

import os
import stat

from heartbeat.daemon.filemodes import DAEMON_UMASK, tighten


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_group_and_other_write_bits_are_removed_and_reported(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    run.chmod(0o777)
    log = tmp_path / "ha-log"
    log.write_text("")
    log.chmod(0o666)
    assert tighten([str(run), str(log)]) == [f"{run} had mode 0777, writable by others: now 0755",
                                             f"{log} had mode 0666, writable by others: now 0644"]
    assert (mode(run), mode(log)) == (0o755, 0o644)
    assert tighten([str(run), str(log)]) == []


def test_missing_files_and_symlinks_are_left_alone(tmp_path):
    target = tmp_path / "target"
    target.write_text("")
    target.chmod(0o666)
    (tmp_path / "link").symlink_to(target)
    assert tighten([str(tmp_path / "missing"), str(tmp_path / "link"), "", "/dev/null"]) == []
    assert mode(target) == 0o666


def test_the_daemon_umask_keeps_what_it_creates_from_being_writable_by_others():
    assert DAEMON_UMASK & 0o022 == 0o022
