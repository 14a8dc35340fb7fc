import os
import stat
import sys

import pytest

from heartbeat.tools.initscript import InitScript, Paths, source_defaults

CF = "keepalive 1\ndeadtime 7\nnode node1\nnode node2\n"


class Tree:
    """A root with fake programs that record their calls and answer as told."""

    def __init__(self, root):
        self.root = root
        self.sleeps: list[float] = []
        self.write("/etc/ha.d/ha.cf", CF)
        self.program("/usr/libexec/heartbeat/heartbeat", "heartbeat")
        self.program("/usr/share/heartbeat/ResourceManager", "ResourceManager")
        self.program("/usr/share/heartbeat/hb_standby", "hb_standby")
        (root / "var/run").mkdir(parents=True)
        (root / "run").mkdir()

    def write(self, path, text, mode=0o644):
        p = self.root / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        os.chmod(p, mode)
        return p

    def program(self, path, name):
        # answers with out.<name><first arg> and rc.<name><first arg> when those files exist
        r = self.root
        self.write(path, f"""#!/bin/sh
echo "{name} $*${{FOO:+ FOO=$FOO}}" >> {r}/calls
key="{name}$1"
[ -f "{r}/out.$key" ] && cat "{r}/out.$key"
[ -f "{r}/rc.$key" ] && exit $(cat "{r}/rc.$key")
exit 0
""", 0o755)

    def answer(self, key, rc=0, out=None):
        (self.root / f"rc.{key}").write_text(str(rc))
        if out is not None:
            (self.root / f"out.{key}").write_text(out)

    def calls(self):
        p = self.root / "calls"
        return p.read_text().splitlines() if p.exists() else []

    def run(self, *args, environ=None):
        script = InitScript(Paths(str(self.root)), environ or {"PATH": os.environ["PATH"]},
                            out=sys.stdout, err=sys.stderr, sleep=self.sleeps.append)
        return script.run("/etc/init.d/heartbeat", args[0] if args else None)

    @property
    def lock(self):
        return self.root / "var/lock/subsys/heartbeat"


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """Ownership is recorded, not given: only root may give a directory to root."""
    tree = Tree(tmp_path)
    tree.chowns = []
    monkeypatch.setattr(os, "chown", lambda path, uid, gid: tree.chowns.append((path, uid, gid)))
    return tree


def test_start_runs_hooks_checks_idle_starts_the_daemon_and_locks(tree, capfd):
    tree.program("/etc/ha.d/resource.d/startstop", "startstop")
    tree.answer("ResourceManagerverifyallidle", 0, "idle-check\n")
    assert tree.run("start") == 0
    assert capfd.readouterr().out == "Starting High-Availability services: idle-check\nDone.\n\n"
    assert tree.calls() == ["startstop pre-start", "ResourceManager verifyallidle", "heartbeat ",
                            "startstop post-start 0"]
    assert tree.lock.exists()
    rsctmp = os.stat(tree.root / "run/resource-agents")
    assert stat.S_IMODE(rsctmp.st_mode) == 0o1755
    assert (str(tree.root / "run/resource-agents"), 0, 0) in tree.chowns
    assert stat.S_IMODE(os.stat(tree.root / "var/run/heartbeat/ccm").st_mode) == 0o750


def test_failed_start_prints_the_daemons_output_and_its_code(tree, capfd):
    tree.answer("heartbeat", 6, "ERROR: Configuration error, heartbeat not started.\n")
    assert tree.run("start") == 6
    assert capfd.readouterr().out == ("Starting High-Availability services:  Heartbeat failure [rc=6]. Failed.\n\n"
                                      "ERROR: Configuration error, heartbeat not started.\n\n")
    assert not tree.lock.exists()


def test_ipresources_is_renamed_when_haresources_is_missing(tree, capfd):
    tree.write("/etc/ha.d/ipresources", "node1 192.0.2.100\n")
    tree.run("start")
    assert (tree.root / "etc/ha.d/haresources").read_text() == "node1 192.0.2.100\n"


def test_stop_kills_quietly_and_unlocks_only_on_success(tree, capfd):
    tree.answer("heartbeat-k", 0, "INFO: Heartbeat already stopped.\n")
    tree.lock.parent.mkdir(parents=True)
    tree.lock.touch()
    assert tree.run("stop") == 0
    assert capfd.readouterr().out == "Stopping High-Availability services: Done.\n\n"
    assert not tree.lock.exists()
    tree.lock.touch()
    tree.answer("heartbeat-k", 4)
    assert tree.run("stop") == 4
    assert capfd.readouterr().out == "Stopping High-Availability services:  Heartbeat failure [rc=4]. Failed.\n\n"
    assert tree.lock.exists()


def test_status_is_the_daemons(tree, capfd):
    tree.answer("heartbeat-s", 3, "heartbeat is stopped. No process\n")
    assert tree.run("status") == 3
    assert capfd.readouterr().out == "heartbeat is stopped. No process\n"


def test_restart_waits_deadtime_plus_ten_and_always_exits_0(tree, capfd):
    tree.answer("heartbeat", 6)
    assert tree.run("restart") == 0
    assert capfd.readouterr().out == (
        "Stopping High-Availability services: Done.\n\nWaiting to allow resource takeover to complete:Done.\n\n"
        "Starting High-Availability services:  Heartbeat failure [rc=6]. Failed.\n\n")
    assert tree.sleeps == [7, 10]
    assert tree.calls() == ["heartbeat -k", "ResourceManager verifyallidle", "heartbeat "]


def test_restart_with_a_deadtime_sleep_cannot_parse_only_waits_the_grace(tree, capfd):
    tree.write("/etc/ha.d/ha.cf", "deadtime 30000ms\nnode node1\n")
    tree.run("restart")
    assert "sleep: invalid time interval '30000ms'" in capfd.readouterr().err
    assert tree.sleeps == [10]


def test_reload_exits_0_even_when_the_daemon_refuses(tree, capfd):
    tree.answer("heartbeat-r", 6, "info: Config errors: Heartbeat pid 9 NOT restarted\n")
    assert tree.run("reload") == 0
    assert capfd.readouterr().out == ("Reloading High-Availability services: info: Config errors: Heartbeat pid 9 "
                                      "NOT restarted\n Heartbeat failure [rc=6]. Failed.\n\n")
    assert tree.run("force-reload") == 0
    assert tree.calls() == ["heartbeat -r", "heartbeat -r"]


@pytest.mark.parametrize("cf, text", [
    ("auto_failback legacy\n", "auto_failback is set to legacy.  Cannot enter standby.\n"),
    ("nice_failback off\n", "nice_failback is disabled.  Cannot enter standby.\n"),
    ("", "auto_failback defaulted to legacy.  Cannot enter standby.\n"),
    ("crm on\n", "use 'crm_stanby -v on' instead\n"),
])
def test_standby_refusals(tree, capfd, cf, text):
    tree.write("/etc/ha.d/ha.cf", cf + "node node1\n")
    assert tree.run("standby") == 1
    assert capfd.readouterr().out == text


def test_standby_needs_a_running_daemon_then_runs_hb_standby(tree, capfd):
    tree.write("/etc/ha.d/ha.cf", "auto_failback On\nnode node1\n")
    tree.answer("heartbeat-s", 3, "heartbeat is stopped. No process\n")
    assert tree.run("standby") == 1
    assert capfd.readouterr().out == "auto_failback: on\nHeartbeat is not currently running.\n"
    tree.answer("heartbeat-s", 0, "heartbeat OK [pid 9 et al] is running on node1 [node1]...\n")
    tree.answer("hb_standby", 0, "Going standby [all].\n")
    assert tree.run("standby") == 0
    assert capfd.readouterr().out == "auto_failback: on\nAttempting to enter standby modeGoing standby [all].\nDone.\n"


def test_unconfigured_node_fails_but_exits_0_and_no_daemon_means_silence(tree, capfd):
    os.unlink(tree.root / "etc/ha.d/ha.cf")
    assert tree.run("start") == 0
    assert capfd.readouterr().out == (f"Heartbeat not configured: {tree.root}/etc/ha.d/ha.cf not found. "
                                      "Heartbeat failure [rc=1]. Failed.\n")
    os.chmod(tree.root / "usr/libexec/heartbeat/heartbeat", 0o644)
    assert tree.run("start") == 0
    assert capfd.readouterr().out == ""


def test_unknown_action_prints_usage(tree, capfd):
    assert tree.run("bogus") == 1
    assert tree.run() == 1
    assert capfd.readouterr().out == (
        "Usage: /etc/init.d/heartbeat {start|stop|status|restart|reload|force-reload}\n" * 2)


def test_defaults_file_may_replace_the_daemon_and_exports_reach_it(tree, capfd):
    other = tree.root / "opt/hb"
    tree.program("/opt/hb", "other")
    tree.write("/etc/default/heartbeat", f'# local settings\nHEARTBEAT="{other}"\nexport FOO=bar\n')
    tree.run("status")
    assert tree.calls() == ["other -s FOO=bar"]


def test_source_defaults_reads_assignments_quotes_and_expansions_only():
    variables, exported = {"HOME": "/root"}, {"HOME"}
    source_defaults("A=1\nB='two words' C=\"$A-${HOME}\"\nexport D\necho E=no\nF=x # c\nexport G=$F\n",
                    variables, exported)
    assert {k: variables[k] for k in "ABCFG"} == {"A": "1", "B": "two words", "C": "1-/root", "F": "x", "G": "x"}
    assert "E" not in variables and exported == {"HOME", "D", "G"}


def test_sbd_that_fails_to_start_aborts_the_start(tree, capfd):
    tree.program("/usr/sbin/sbd", "sbd")
    tree.answer("sbd-d", 1, "sbd: no such device\n")
    tree.write("/etc/default/sbd", "SBD_DEVICE=/dev/pyhb-none\nSBD_OPTS='-W -P'\n")
    assert tree.run("start") == 1
    assert capfd.readouterr().out == ("Starting High-Availability services: Starting SBD - SBD failed to start; "
                                      "aborting.\n\nsbd: no such device\n")
    assert tree.calls()[-1] == "sbd -d /dev/pyhb-none -D -W -P watch"
    assert not tree.lock.exists()


def test_systemd_unit_drives_installed_programs_and_the_daemons_pid_file():
    import configparser
    from pathlib import Path

    from heartbeat.tools import install
    from heartbeat.daemon import statefiles

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(Path(install.PACKAGE) / "data/heartbeat.service")
    service = unit["Service"]
    assert service["Type"] == "forking"
    # Debian's /var/run is a link to /run
    assert service["PIDFile"] == statefiles.PID_FILE.replace("/var/run", "/run")
    for key in ("ExecStart", "ExecStop", "ExecReload"):
        program = service[key].split()[0].lstrip("/")
        assert program in install.LAUNCHERS, key
    assert service["ExecStart"].endswith(" start") and service["ExecStop"].endswith(" stop")
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_restart_under_crm_neither_waits_nor_checks_idle(tree, capfd):
    tree.write("/etc/ha.d/ha.cf", "pacemaker respawn\nnode node1\n")
    assert tree.run("restart") == 0
    assert capfd.readouterr().out == ("Stopping High-Availability services: Done.\n\n"
                                      "Starting High-Availability services: Done.\n\n")
    assert tree.sleeps == [] and tree.calls() == ["heartbeat -k", "heartbeat "]


# A stand-in for Red Hat's /etc/init.d/functions: its two reporting functions in
# its own words, and a line that would print if the library's body leaked out.
RH_FUNCTIONS = """echo "sourced the library"
echo_success() { printf '[  OK  ]\\r'; return 0; }
echo_failure() { printf '[FAILED]\\r'; return 1; }
"""


def el_host(tree):
    tree.write("/etc/redhat-release", "Red Hat Enterprise Linux release 9.4 (Plow)\n")
    tree.write("/etc/init.d/functions", RH_FUNCTIONS)


def test_on_a_red_hat_host_success_and_failure_are_the_functions_library_s(tree, capfd):
    el_host(tree)
    assert tree.run("start") == 0
    assert tree.run("stop") == 0
    tree.answer("heartbeat", 6, "ERROR: Configuration error, heartbeat not started.\n")
    assert tree.run("start") == 6
    assert capfd.readouterr().out == ("Starting High-Availability services: [  OK  ]\r\n"
                                      "Stopping High-Availability services: [  OK  ]\r\n"
                                      "Starting High-Availability services: [FAILED]\r\n"
                                      "ERROR: Configuration error, heartbeat not started.\n\n")


def test_on_a_red_hat_host_settings_come_from_sysconfig_not_default(tree, capfd):
    el_host(tree)
    tree.write("/etc/default/heartbeat", "export FOO=debian\n")
    tree.write("/etc/sysconfig/heartbeat", "export FOO=sysconfig\n")
    tree.run("status")
    assert tree.calls() == ["heartbeat -s FOO=sysconfig"]


def test_the_functions_library_alone_does_not_make_a_red_hat_host(tree, capfd):
    tree.write("/etc/init.d/functions", RH_FUNCTIONS)
    tree.write("/etc/default/heartbeat", "export FOO=debian\n")
    tree.write("/etc/sysconfig/heartbeat", "export FOO=sysconfig\n")
    assert tree.run("reload") == 0
    assert capfd.readouterr().out == "Reloading High-Availability services: [  OK  ]\r\n"
    assert tree.calls() == ["heartbeat -r FOO=debian"]
