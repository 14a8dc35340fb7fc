"""scriptenv: HA_* defaults, ha_log line formats (both styles), FIFO messages, ha_parameter,
and the shell library heartbeat/data/shellfuncs writing the very same lines."""

from __future__ import annotations

import io
import os
import re
import subprocess
import threading
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from heartbeat.resources import scriptenv
from heartbeat.resources.scriptenv import ScriptLog, shell_words, with_defaults

SHELLFUNCS = Path(__file__).resolve().parents[2] / "heartbeat" / "data" / "shellfuncs"
FIXED_DATE = "2026/11/24_17:21:33\t"   # a literal format: strftime and date(1) print it as is


def make_log(env, name="ResourceManager", instance="default", tty=False):
    err = io.StringIO()
    log = ScriptLog(env, name, instance, pid=lambda: 4242, stderr=err, isatty=lambda: tty)
    return log, err


def test_defaults_follow_ha_dir_and_keep_given_values():
    env = with_defaults({"HA_DIR": "/etc/ha.d/", "HA_DEBUGLOG": "", "HA_FIFO": "/tmp/f"})
    assert env["HA_RESOURCEDIR"] == "/etc/ha.d//resource.d"
    assert env["HA_RCDIR"] == "/etc/ha.d//rc.d"
    assert env["HA_DEBUGLOG"] == "/dev/null"          # empty takes the default (:=)
    assert env["HA_FIFO"] == "/tmp/f"
    assert env["HA_NOARCHBIN"] == "/usr/share/heartbeat"
    assert env["HA_BIN"] == "/usr/libexec/heartbeat"
    assert env["HA_RSCTMP"] == "/run/resource-agents"
    assert env["INITDIR"] == "/etc/init.d"
    assert env["HA_DATEFMT"] == "%b %d %T "
    assert with_defaults({"PYHB_LOGSTYLE": "2.1.4"})["HA_DATEFMT"] == "%Y/%m/%d_%T "


def test_fixed_ha_dir_drops_the_daemons_trailing_slash_but_keeps_inherited_dirs():
    direct = with_defaults({"HA_DIR": "/etc/ha.d/"}, fixed_ha_dir=True)
    assert direct["HA_DIR"] == "/etc/ha.d"
    assert direct["HA_RESOURCEDIR"] == "/etc/ha.d/resource.d"
    via_harc = with_defaults({"HA_DIR": "/etc/ha.d/", "HA_RESOURCEDIR": "/etc/ha.d//resource.d"},
                             fixed_ha_dir=True)
    assert via_harc["HA_RESOURCEDIR"] == "/etc/ha.d//resource.d"


def test_child_environ_exports_and_prefixes_path():
    env = with_defaults({"HA_DIR": "/x"})
    child = scriptenv.child_environ(env, {"PATH": "/usr/bin:.:/bin", "LC_ALL": "fr_FR", "HA_CURHOST": "n1"})
    assert child["HA_RESOURCEDIR"] == "/x/resource.d"
    assert child["HA_CURHOST"] == "n1"
    assert "LC_ALL" not in child
    assert "HA_VARLIB" not in child      # not exported by shellfuncs
    assert child["PATH"] == "/usr/libexec/heartbeat:/usr/sbin:/usr/share/heartbeat:/usr/bin:/bin"


@pytest.mark.parametrize("prefix, date, suffix, expected", [
    (None, "2026/11/24_17:21:33\t", " TAG:    msg", "2026/11/24_17:21:33  TAG:    msg"),
    (None, "Nov 24 17:21:33 ", "msg", "Nov 24 17:21:33 msg"),
    ("TAG:\t", "2026/11/24_17:21:33\t", "msg", "TAG:\t2026/11/24_17:21:33 msg"),
    ("TAG:\t", "Nov  4 17:21:33", "msg", "TAG:\tNov 4 17:21:33msg"),
    ("TAG:\t", " lead", "msg", "TAG:\t leadmsg"),
    ("TAG:\t", "   ", "msg", "TAG:\t msg"),
    (None, "", "msg", "msg"),
])
def test_shell_word_splitting_of_the_date(prefix, date, suffix, expected):
    assert shell_words(prefix, date, suffix) == expected


def test_306_lines_in_logfile_debugfile_and_stderr(tmp_path):
    logfile, debugfile = tmp_path / "ha-log", tmp_path / "ha-debug"
    env = {"HA_DATEFMT": FIXED_DATE, "HA_LOGFILE": str(logfile), "HA_DEBUGLOG": str(debugfile)}
    log, err = make_log(env)
    log.log("info: Acquiring resource group: node1 10.0.0.1 httpd")
    assert logfile.read_text() == ("2026/11/24_17:21:33  ResourceManager(default)[4242]:    "
                                   "info: Acquiring resource group: node1 10.0.0.1 httpd\n")
    assert debugfile.read_text() == ("ResourceManager(default)[4242]:\t2026/11/24_17:21:33 "
                                     "info: Acquiring resource group: node1 10.0.0.1 httpd\n")
    assert err.getvalue() == ""
    # no file and no facility: stderr only, without tag
    log, err = make_log({"HA_DATEFMT": "Nov 24 17:23:12 ", "HA_DEBUGLOG": "/dev/null"}, "hb_standby")
    log.log("Going standby [all].")
    assert err.getvalue() == "Nov 24 17:23:12 Going standby [all].\n"


def test_306_debug_file_equal_to_logfile_gets_one_line(tmp_path):
    logfile = tmp_path / "ha-log"
    log, _ = make_log({"HA_DATEFMT": FIXED_DATE, "HA_LOGFILE": str(logfile), "HA_DEBUGLOG": str(logfile)})
    log.log("x")
    assert len(logfile.read_text().splitlines()) == 1


def test_214_lines_and_tag(tmp_path):
    logfile, debugfile = tmp_path / "ha-log", tmp_path / "ha-debug"
    env = {"PYHB_LOGSTYLE": "2.1.4", "HA_DATEFMT": FIXED_DATE, "HA_LOGFILE": str(logfile),
           "HA_DEBUGLOG": str(debugfile)}
    log, err = make_log(env)
    log.log("info: Running /etc/ha.d/rc.d/status status")
    line = "ResourceManager[4242]:\t2026/11/24_17:21:33 info: Running /etc/ha.d/rc.d/status status\n"
    assert logfile.read_text() == line
    assert debugfile.read_text() == line
    # 2.1.4 writes to stderr whenever there is no log file, even with a facility
    log, err = make_log({"PYHB_LOGSTYLE": "2.1.4", "HA_DATEFMT": FIXED_DATE, "HA_DEBUGLOG": "/dev/null"})
    log.log("hello")
    assert err.getvalue() == "2026/11/24_17:21:33 hello\n"


def test_ocf_instance_tag_and_ocf_log_words(tmp_path):
    logfile = tmp_path / "ha-log"
    log, _ = make_log({"HA_DATEFMT": FIXED_DATE, "HA_LOGFILE": str(logfile), "HA_debug": "1",
                       "HA_DEBUGLOG": str(tmp_path / "d")}, "IPaddr", "IPaddr_192.0.2.100")
    log.ocf_log("info", "Using calculated netmask for 192.0.2.100: 255.255.255.0")
    log.ocf_log("warn", "w")
    log.ocf_log("err", "e")
    log.ocf_log("crit", "c")
    log.ocf_log("debug", "d")
    lines = logfile.read_text().splitlines()
    assert lines[0] == ("2026/11/24_17:21:33  IPaddr(IPaddr_192.0.2.100)[4242]:    "
                        "INFO: Using calculated netmask for 192.0.2.100: 255.255.255.0")
    assert [line.split(":    ")[1] for line in lines[1:]] == ["WARNING: w", "ERROR: e", "CRIT: c"]
    assert (tmp_path / "d").read_text().splitlines()[-1].endswith("DEBUG: d")


def test_debug_needs_ha_debug_in_306_but_not_in_214(tmp_path):
    debugfile = tmp_path / "d"
    log, _ = make_log({"HA_DATEFMT": FIXED_DATE, "HA_DEBUGLOG": str(debugfile)})
    log.debug("debug: Starting x")
    assert not debugfile.exists()
    log, _ = make_log({"HA_DATEFMT": FIXED_DATE, "HA_DEBUGLOG": str(debugfile), "PYHB_LOGSTYLE": "2.1.4"})
    log.debug("debug: Starting x")
    assert debugfile.read_text() == "ResourceManager[4242]:\t2026/11/24_17:21:33 debug: Starting x\n"


def test_tty_prints_message_only(tmp_path):
    logfile = tmp_path / "ha-log"
    log, err = make_log({"HA_LOGFILE": str(logfile)}, tty=True)
    log.log("Going standby [all].")
    assert err.getvalue() == "Going standby [all].\n"
    assert not logfile.exists()
    log, err = make_log({"HA_LOGTAG": "mytag"}, tty=True)
    log.log("m")
    assert err.getvalue() == "mytag: m\n"


@pytest.mark.parametrize("msg, level", [
    ("ERROR: x", "err"), ("WARN: it", "warning"), ("WARNING: y", "warning"),
    ("INFO:  Running OK", "info"), ("info", "info"), ("info: Running x", "notice"),
    ("CRIT: z", "notice"),
])
def test_syslog_level_is_guessed_from_the_text(msg, level):
    assert scriptenv.syslog_level(msg) == level


def test_logd_first_then_fallback(tmp_path):
    calls = []
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "ha_logger"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    env = {"HA_LOGD": "yes", "HA_BIN": str(bindir), "HA_DATEFMT": FIXED_DATE, "HA_DEBUGLOG": "/dev/null"}
    err = io.StringIO()
    log = ScriptLog(env, "harc", pid=lambda: 1, stderr=err, isatty=lambda: False,
                    run=lambda argv: calls.append(argv) or 0)
    log.log("info: hi")
    assert calls == [[str(fake), "-t", "harc(default)[1]", "info: hi"]]
    assert err.getvalue() == ""
    log = ScriptLog(env, "harc", pid=lambda: 1, stderr=err, isatty=lambda: False, run=lambda argv: 1)
    log.log("info: hi")
    assert err.getvalue() == "2026/11/24_17:21:33 info: hi\n"


# --- FIFO ------------------------------------------------------------------------------------

def read_fifo(path: Path, out: list) -> threading.Thread:
    def reader():
        with open(path, "rb") as f:
            out.append(f.read())
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    return t


def wait_reader(path: Path) -> None:
    """Poll (bounded) until the reader thread has the FIFO open."""
    for _ in range(200):
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            return
        except OSError:
            threading.Event().wait(0.01)
    raise AssertionError("reader did not open the FIFO")


def test_clustermsg_one_write_with_markers(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list = []
    # keep a reader open for the whole message: open our own read end first
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        scriptenv.ha_clustermsg(str(fifo), [("t", "ask_resources"), ("rsc_hold", "all"), ("info", "me")])
        got.append(os.read(rfd, 65536))
    finally:
        os.close(rfd)
    assert got == [b">>>\nt=ask_resources\nrsc_hold=all\ninfo=me\n<<<\n"]


def test_clustermsg_without_reader_fails_fast(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(scriptenv.ClusterMsgError, match="no heartbeat daemon is reading it"):
        scriptenv.ha_clustermsg(str(fifo), [("t", "x")])
    with pytest.raises(scriptenv.ClusterMsgError, match="No such file or directory"):
        scriptenv.ha_clustermsg(str(tmp_path / "missing"), [("t", "x")])
    (tmp_path / "plain").write_text("")
    with pytest.raises(scriptenv.ClusterMsgError, match="is not a FIFO"):
        scriptenv.ha_clustermsg(str(tmp_path / "plain"), [("t", "x")])
    err = io.StringIO()
    assert scriptenv.send_clustermsg({"HA_FIFO": str(fifo)}, [("t", "x")], stderr=err) == 1
    assert "no heartbeat daemon" in err.getvalue()


# --- ha_parameter ----------------------------------------------------------------------------

def test_ha_parameter(tmp_path):
    cf = tmp_path / "ha.cf"
    cf.write_text("# c\nKeepAlive\t\t2   # comment\nnode  node1 node2\nnode node3\n  deadtime 9\n")
    assert scriptenv.ha_parameter(str(cf), "keepalive") == "2"
    assert scriptenv.ha_parameter(str(cf), "node") == "node1 node2 node3"
    assert scriptenv.ha_parameter(str(cf), "deadtime") == "9"
    assert scriptenv.ha_parameter(str(cf), "warntime") == ""
    cf.write_text("keepalive 3\n")
    assert scriptenv.ha_parameter(str(cf), "deadtime") == "7"
    assert scriptenv.ha_parameter(str(tmp_path / "none"), "keepalive") == "2"
    assert scriptenv.ha_parameter(str(tmp_path / "none"), "deadtime") == "5"


# --- the shell library writes the same bytes ---------------------------------------------------

def run_shell(script: str, env: dict, stdin: str | None = None) -> subprocess.CompletedProcess:
    full = {"PATH": os.environ["PATH"], **env}
    return subprocess.run(["/bin/sh", "-c", f". {SHELLFUNCS}\n{script}", "myscript"],
                          env=full, input=stdin, capture_output=True, text=True, timeout=30)


def mask_pid(text: str) -> str:
    return re.sub(r"\[\d+\]", "[PID]", text)


@pytest.mark.parametrize("style", ["3.0.6", "2.1.4"])
@pytest.mark.parametrize("datefmt", [FIXED_DATE, "Nov 04 17:21:33 ", " two  words\t"])
def test_shell_and_python_write_identical_lines(tmp_path, style, datefmt):
    msgs = ["info: Running /etc/ha.d//rc.d/status status", "ERROR:  Generic error",
            "a  b\\tc $x *", ""]
    files = {}
    for side in ("sh", "py"):
        d = tmp_path / side
        d.mkdir()
        env = {"HA_DATEFMT": datefmt, "HA_LOGFILE": str(d / "log"), "HA_DEBUGLOG": str(d / "debug"),
               "PYHB_LOGSTYLE": style, "HA_debug": "1", "OCF_RESOURCE_INSTANCE": "IPaddr_192.0.2.100"}
        if side == "sh":
            script = "".join(f"ha_log '{m}'\nocf_log info '{m}'\nha_debug '{m}'\n" for m in msgs)
            done = run_shell(script, env, stdin="")
            assert done.returncode == 0, done.stderr
        else:
            log = ScriptLog(env, "myscript", "IPaddr_192.0.2.100", isatty=lambda: False)
            for m in msgs:
                log.log(m)
                log.ocf_log("info", m)
                log.debug(m)
        files[side] = {n: mask_pid((d / n).read_text()) for n in ("log", "debug")}
    assert files["sh"] == files["py"]
    assert files["py"]["log"]


@pytest.mark.parametrize("style", ["3.0.6", "2.1.4"])
def test_shell_and_python_stderr_lines(tmp_path, style):
    env = {"HA_DATEFMT": FIXED_DATE, "PYHB_LOGSTYLE": style, "HA_DEBUGLOG": str(tmp_path / "d")}
    done = run_shell("ha_log 'Going standby [all].'", env, stdin="")
    err = io.StringIO()
    ScriptLog(env, "myscript", stderr=err, isatty=lambda: False).log("Going standby [all].")
    assert done.stderr == err.getvalue() == "2026/11/24_17:21:33 Going standby [all].\n"


def test_shell_defaults_match_python():
    names = [n for n, _ in scriptenv._DEFAULTS] + ["HA_DATEFMT"]
    script = "".join(f"printf '%s=%s\\n' {n} \"${n}\"\n" for n in names)
    for env in ({"HA_DIR": "/etc/ha.d/"}, {"PYHB_LOGSTYLE": "2.1.4", "HA_DEBUGLOG": ""}):
        done = run_shell(script, env)
        expected = with_defaults(env)
        assert done.stdout == "".join(f"{n}={expected[n]}\n" for n in names)


def test_shell_clustermsg_and_parameter(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    env = {"HA_FIFO": str(fifo), "HA_CF": str(tmp_path / "ha.cf")}
    (tmp_path / "ha.cf").write_text("keepalive 3\n")
    done = run_shell("printf 't=x\\n' | ha_clustermsg; echo rc=$?", env)
    assert done.stdout == "rc=1\n"
    assert done.stderr == f"cannot send cluster message: {fifo}: no heartbeat daemon is reading it\n"
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        done = run_shell("printf 't=hb_takeover\\nrsc_hold=all\\n' | ha_clustermsg; echo rc=$?", env)
        assert os.read(rfd, 65536) == b">>>\nt=hb_takeover\nrsc_hold=all\n<<<\n"
    finally:
        os.close(rfd)
    assert done.stdout == "rc=0\n"
    done = run_shell("ha_parameter keepalive; ha_parameter deadtime; ha_parameter node", env)
    assert done.stdout == "3\n7\n\n"


@given(st.text(alphabet=" \tab/:_%0\n", max_size=12), st.text(alphabet=" ab\t", max_size=4))
def test_shell_words_matches_sh(date, suffix):
    expected = subprocess.run(["/bin/sh", "-c", 'set -- "P:"$1"$2"; printf "%s\\n" "$*"', "sh", date, suffix],
                              capture_output=True, text=True, timeout=10).stdout[:-1]
    assert shell_words("P:", date, suffix) == expected
