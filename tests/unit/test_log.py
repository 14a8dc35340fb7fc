import io
import time

import pytest

from heartbeat.daemon.log import DaemonLog, LogSettings
from heartbeat.logformat import (STYLE_214, STYLE_306, RateLimit, facility_number, file_format_is_syslog, format_line,
                                 reword)

# 2026-11-24 17:57:21 local time, whatever the machine's zone
WHEN = time.mktime((2026, 11, 4, 17, 57, 21, 0, 0, -1))


def test_syslog_style_line_has_zero_padded_day():
    line = format_line("info", "Comm_now_up(): updating status to active", when=WHEN, pid=1457, host="node1")
    assert line == "Nov 04 17:57:21 node1 heartbeat: [1457]: info: Comm_now_up(): updating status to active"


def test_2_1_4_style_line():
    line = format_line("WARN", "node node2: is dead", when=WHEN, pid=3765, host="node1", syslogfmt=False)
    assert line == "heartbeat[3765]: 2026/11/04_17:57:21 WARN: node node2: is dead"


def test_long_messages_are_truncated_like_the_original():
    line = format_line("info", "x" * 6000, when=WHEN, pid=1, host="n")
    assert line.endswith("x" * 5119) and "x" * 5120 not in line


def _log(tmp_path, **kw):
    settings = LogSettings(host="node1", logfile=str(tmp_path / "ha-log"), debugfile=str(tmp_path / "ha-debug"),
                           stderr=False, **kw)
    return DaemonLog(settings, clock=lambda: WHEN, pid=lambda: 42)


def test_logfile_gets_all_but_debug_and_debugfile_gets_everything(tmp_path):
    log = _log(tmp_path, debug_level=1)
    log.info("one")
    log.debug("two")
    log.crit("three")
    assert (tmp_path / "ha-log").read_text().splitlines() == [
        "Nov 04 17:57:21 node1 heartbeat: [42]: info: one",
        "Nov 04 17:57:21 node1 heartbeat: [42]: CRIT: three",
    ]
    assert len((tmp_path / "ha-debug").read_text().splitlines()) == 3


def test_debug_lines_need_a_debug_level(tmp_path):
    log = _log(tmp_path)
    log.debug("hidden")
    assert not (tmp_path / "ha-debug").exists()
    log.set_debug(2)
    log.debug("shown")
    assert "debug: shown" in (tmp_path / "ha-debug").read_text()


def test_dev_null_in_any_case_disables_a_file():
    err = io.StringIO()
    log = DaemonLog(LogSettings(host="n", logfile="/DEV/NULL", stderr=False), clock=lambda: WHEN, stderr=err)
    log.info("nothing written")
    assert err.getvalue() == ""  # "/DEV/NULL" does not exist: an attempt to append would have complained


def test_stderr_before_daemonizing():
    err = io.StringIO()
    log = DaemonLog(LogSettings(host="n"), clock=lambda: WHEN, pid=lambda: 7, stderr=err)
    log.error("Configuration error, heartbeat not started.")
    log.detach_stderr()
    log.info("after daemonizing")
    assert err.getvalue() == "Nov 04 17:57:21 n heartbeat: [7]: ERROR: Configuration error, heartbeat not started.\n"


def test_unwritable_log_file_does_not_raise(tmp_path):
    err = io.StringIO()
    log = DaemonLog(LogSettings(host="n", logfile=str(tmp_path / "missing-dir" / "ha-log"), stderr=False),
                    stderr=err)
    log.info("still running")
    assert "cannot write log file" in err.getvalue()


def test_unknown_level_is_a_programming_error():
    with pytest.raises(ValueError):
        DaemonLog(LogSettings(host="n", stderr=False)).log("warning", "x")


def test_facility_numbers():
    assert facility_number("daemon") == 3
    assert facility_number("local7") == 23
    assert facility_number("none") == -1
    assert facility_number(None) == -1


def test_control_characters_in_logged_values_cannot_forge_lines(tmp_path):
    # row 9: a value with a newline wrote a forged CRIT line into ha-log
    log = _log(tmp_path)
    log.info("Status update for node node2: status up\n"
             "Jan 01 00:00:00 node1 heartbeat: [1]: CRIT: forged\r\x1b[2J\u2028x\ty")
    lines = (tmp_path / "ha-log").read_text().split("\n")[:-1]
    assert len(lines) == 1
    assert lines[0].endswith("status up\\x0aJan 01 00:00:00 node1 heartbeat: [1]: CRIT: forged\\x0d\\x1b[2J\\u2028x\ty")


def test_rate_limit_lets_a_burst_through_per_window_and_counts_the_rest():
    now = [0.0]
    limit = RateLimit(3, 60.0, clock=lambda: now[0])
    assert [limit.allow() for _ in range(5)] == [0, 0, 0, None, None]
    now[0] = 59.9
    assert limit.allow() is None
    now[0] = 60.0
    assert [limit.allow(), limit.allow()] == [3, 0]
    now[0] = 10.0          # a clock that went back opens a new window too
    assert limit.allow() == 0


@pytest.mark.parametrize("text, words_214", [
    ("Pacemaker support: false", "Version 2 support: false"),
    ("Configuration validated. Starting heartbeat 3.0.6 (pyheartbeat 1.0)",
     "Configuration validated. Starting heartbeat 2.1.4 (pyheartbeat 1.0)"),
    ("heartbeat: version 3.0.6 (pyheartbeat 1.0)", "heartbeat: version 2.1.4 (pyheartbeat 1.0)"),
    ("WARN: File /etc/ha.d//haresources exists.", "WARN: File /etc/ha.d/haresources exists."),
    ("node node2: is dead", "node node2: is dead"),
    ("For information on cluster partitions, See URL: http://linux-ha.org/wiki/Split_Brain",
     "For information on cluster partitions, See URL: http://linux-ha.org/SplitBrain"),
    ("URL: http://linux-ha.org/wiki/FAQ#Heavy_Load", "URL: http://linux-ha.org/FAQ#heavy_load"),
    # only whole phrases: the same words elsewhere in a line stay
    ("Status update: Pacemaker support: x", "Status update: Pacemaker support: x"),
])
def test_2_1_4_style_words_lines_as_2_1_4_does(text, words_214):
    assert reword(text, STYLE_214) == words_214
    assert reword(text, STYLE_306) == text


def test_the_style_gives_the_file_format_unless_ha_cf_says(tmp_path):
    assert file_format_is_syslog(STYLE_214, True, explicit=False) is False
    assert file_format_is_syslog(STYLE_306, True, explicit=False) is True
    assert file_format_is_syslog(STYLE_214, True, explicit=True) is True
    assert file_format_is_syslog(STYLE_306, False, explicit=True) is False
    log = _log(tmp_path, syslogfmt=False)   # the 2.1.4 default style
    log.info("Pacemaker support: false")
    assert (tmp_path / "ha-log").read_text() == "heartbeat[42]: 2026/11/04_17:57:21 info: Version 2 support: false\n"
