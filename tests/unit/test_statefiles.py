import os
import subprocess
import sys

from heartbeat.daemon import statefiles
from heartbeat.daemon.statefiles import (Generation, load_uuid, next_generation, parse_generation, parse_pid,
                                  read_pid, render_generation, render_pid, running, start_generation, write_pid)

NOW = 1795542138.7


def test_generation_file_is_16_bytes_right_aligned_like_the_captured_one():
    assert render_generation(1795542139) == b"     1795542139\n"
    assert parse_generation(b"     1795542139\n") == 1795542139


def test_first_start_uses_the_wall_clock_plus_one_and_warns():
    assert next_generation(None, NOW) == Generation(1795542139, "No Previous generation - starting at 1795542139")


def test_garbled_file_is_reported_as_broken_and_restarts_the_count_like_the_real_daemon():
    assert next_generation(b"garbage\n", NOW) == Generation(1, "BROKEN previous generation - starting at 1795542139")


def test_empty_file_counts_as_missing():
    assert next_generation(b"", NOW) == next_generation(None, NOW)


def test_a_leading_number_counts_whatever_follows_as_the_real_daemon_does():
    assert next_generation(b"  12abc\n", NOW) == Generation(13, None)


def test_every_start_increments_and_persists(tmp_path):
    path = str(tmp_path / "hb_generation")
    first = start_generation(NOW, path=path)
    second = start_generation(NOW + 100, path=path)
    assert (first.value, second.value, second.warning) == (1795542139, 1795542140, None)
    assert open(path, "rb").read() == b"     1795542140\n"


def test_time_method_keeps_no_file(tmp_path):
    path = tmp_path / "hb_generation"
    assert start_generation(NOW, method="time", path=str(path)) == Generation(1795542138, None)
    assert not path.exists()


def test_uuid_is_created_once_and_then_kept(tmp_path):
    path = str(tmp_path / "hb_uuid")
    first = load_uuid(path)
    again = load_uuid(path)
    assert first.created and not again.created
    assert again.value == first.value and len(first.value) == 16
    assert open(path, "rb").read() == first.value


def test_uuid_text_form_of_the_captured_file(tmp_path):
    path = tmp_path / "hb_uuid"
    path.write_bytes(bytes.fromhex("3663d9298e124bac9deb3611aebc9c55"))
    assert load_uuid(str(path)).text == "3663d929-8e12-4bac-9deb-3611aebc9c55"


def test_truncated_uuid_file_is_replaced(tmp_path):
    path = tmp_path / "hb_uuid"
    path.write_bytes(b"short")
    got = load_uuid(str(path))
    assert got.created and path.read_bytes() == got.value


def test_pid_file_format_and_parse(tmp_path):
    assert render_pid(124) == b"       124\n"
    assert parse_pid(b"       124\n") == 124
    assert parse_pid(b"junk\n") is None and parse_pid(b"0\n") is None
    path = str(tmp_path / "heartbeat.pid")
    write_pid(4321, path)
    assert open(path, "rb").read() == b"      4321\n" and read_pid(path) == 4321


def test_running_distinguishes_missing_stale_and_live(tmp_path):
    path = str(tmp_path / "heartbeat.pid")
    assert running(path) == statefiles.PidState(None, False)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    write_pid(child.pid, path)
    assert running(path) == statefiles.PidState(child.pid, False)
    write_pid(os.getpid(), path)
    assert running(path) == statefiles.PidState(os.getpid(), True)
