"""pyheartbeat.cf: ha.cf's lexical rules, strict file:line errors, typed immutable result,
defaults without the file, and the cross-checks against haresources and ha.cf."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heartbeat.config import configcheck, pyhbcf
from heartbeat.config.errors import ConfigError, ConfigErrors, flatten
from heartbeat.config.haresources import parse_haresources
from heartbeat.config.pyhbcf import (DIRECTIVES, MAX_RESTARTS, MAX_TIME_MS, MIN_INTERVAL_MS, Monitor, OnFail, PyHbCf,
                              check_monitors, group_of, load_pyhbcf, parse_pyhbcf)
from tests.unit.test_configcheck import HACF, executable, load, tree

PATH = "/etc/ha.d/pyheartbeat.cf"
RES = parse_haresources("node1 IPaddr::192.0.2.100/24/eth0 httpd\n"
                        "node2 192.0.2.101 Filesystem::/dev/sdb1::/srv::ext4\n", "/etc/ha.d/haresources")


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigErrors) as e:
        parse_pyhbcf(text, PATH)
    return [str(err) for err in e.value.errors]


def test_absent_file_is_all_defaults(tmp_path):
    cf = load_pyhbcf(str(tmp_path / "pyheartbeat.cf"))
    assert cf == PyHbCf(str(tmp_path / "pyheartbeat.cf"))
    assert cf.monitors == ()


def test_unreadable_path_is_an_error(tmp_path):
    (tmp_path / "pyheartbeat.cf").mkdir()
    with pytest.raises(ConfigError) as e:
        load_pyhbcf(str(tmp_path / "pyheartbeat.cf"))
    assert str(e.value).startswith(f"{tmp_path}/pyheartbeat.cf: Cannot open config file")


def test_empty_and_comment_only_file_is_all_defaults():
    assert parse_pyhbcf("", PATH) == PyHbCf(PATH)
    assert parse_pyhbcf("# nothing\n   \n\t# indented comment\n", PATH) == PyHbCf(PATH)


def test_monitor_defaults_and_settings():
    cf = parse_pyhbcf("monitor httpd\n"
                      "monitor_group IPaddr::192.0.2.100/24/eth0 interval=2 timeout=500ms restarts=0 "
                      "window=3600 on_fail=log restart_timeout=30 name=web  # a comment\n", PATH)
    first, second = cf.monitors
    assert first == Monitor("httpd", False, "httpd")
    assert (first.interval_ms, first.timeout_ms, first.restarts, first.window_ms, first.on_fail,
            first.restart_timeout_ms, first.command) == (10000, 20000, 3, 600000, OnFail.STANDBY, 120000, None)
    assert first.line == 1
    assert second == Monitor("IPaddr::192.0.2.100/24/eth0", True, "web", interval_ms=2000, timeout_ms=500,
                             restarts=0, window_ms=3600000, on_fail=OnFail.LOG, restart_timeout_ms=30000)


def test_log_style_is_2_1_4_unless_the_file_says_3_0_6():
    assert parse_pyhbcf("", PATH).log_style == "2.1.4"
    assert parse_pyhbcf("log_style 3.0.6\n", PATH).log_style == "3.0.6"
    assert parse_pyhbcf("log_style 2.1.4  # as before the migration\n", PATH).log_style == "2.1.4"


def test_arp_refresh_is_off_unless_the_file_sets_an_interval():
    assert parse_pyhbcf("", PATH).arp_refresh_ms is None
    assert parse_pyhbcf("arp_refresh 30\n", PATH).arp_refresh_ms == 30000
    assert parse_pyhbcf("arp_refresh 1500ms  # tight switch\n", PATH).arp_refresh_ms == 1500
    assert parse_pyhbcf("arp_refresh 86400\n", PATH).arp_refresh_ms == 86400000


def test_default_name_is_file_name_safe():
    cf = parse_pyhbcf("monitor IPaddr::192.0.2.100/24/eth0\n", PATH)
    assert cf.monitors[0].name == "IPaddr__192.0.2.100_24_eth0"


def test_result_is_immutable():
    cf = parse_pyhbcf("monitor httpd\n", PATH)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cf.monitors = ()   # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cf.monitors[0].restarts = 9   # type: ignore[misc]
    assert isinstance(cf.monitors, tuple)


def test_command_is_argv_without_shell():
    cf = parse_pyhbcf("monitor httpd\n"
                      "monitor_command httpd /usr/bin/curl -fsS -o /dev/null http://192.0.2.100/\n", PATH)
    m = cf.monitors[0]
    assert m.command == ("/usr/bin/curl", "-fsS", "-o", "/dev/null", "http://192.0.2.100/")
    assert m.command_line == 2


def test_lexical_rules_are_ha_cf_s():
    # tabs and blanks separate, '#' starts a comment anywhere, text after a CR is dropped
    cf = parse_pyhbcf("\tmonitor\thttpd  restarts=1#restarts=2\nmonitor_group x\r restarts=bad\n", PATH)
    assert [(m.target, m.restarts) for m in cf.monitors] == [("httpd", 1), ("x", 3)]


@pytest.mark.parametrize("text, reason", [
    ("monitr httpd\n", "Illegal directive [monitr]: one of monitor, monitor_group, monitor_command"),
    ("Monitor httpd\n", "Illegal directive [Monitor]"),
    ("monitor\n", "monitor needs a resource and optionally name=value settings"),
    ("monitor_group\n", "monitor_group needs a group key"),
    ("monitor httpd interval=5s\n", "Invalid interval [5s]: a time is a number of seconds"),
    ("monitor httpd timeout=0.05\n", "Invalid timeout [0.05]: must be at least 100ms"),
    ("monitor httpd interval=0.5\n", "Invalid interval [0.5]: must be at least 1000ms"),
    ("monitor httpd window=2days\n", "Invalid window [2days]"),
    ("monitor httpd interval=86401\n", "Invalid interval [86401]: at most 86400 seconds"),
    ("monitor httpd restarts=-1\n", "Invalid restarts [-1]: must be an integer from 0 to 100"),
    ("monitor httpd restarts=101\n", "Invalid restarts [101]"),
    ("monitor httpd restarts=3x\n", "Invalid restarts [3x]"),
    ("monitor httpd on_fail=reboot\n", "Invalid on_fail directive [reboot]: must be one of standby, log"),
    ("monitor httpd intervall=5\n", "monitor httpd: unknown setting [intervall=5]: one of interval="),
    ("monitor httpd restarts\n", "monitor httpd: unknown setting [restarts]"),
    ("monitor httpd restarts=1 restarts=2\n", "monitor httpd: restarts given twice"),
    ("monitor httpd name=a/b\n", "Invalid name [a/b]"),
    ("monitor httpd name=all\n", "monitor httpd: the name [all] is the pause file of every monitor"),
    ("monitor all\n", "monitor all: the name [all] is the pause file of every monitor; set another"),
    ("monitor_command httpd\n", "monitor_command needs a monitored resource or group and a command"),
    ("log_style 3.0.5\n", "Invalid log_style directive [3.0.5]: must be one of 2.1.4, 3.0.6"),
    ("log_style\n", "log_style takes exactly one value, not 0"),
    ("log_style 2.1.4\nlog_style 3.0.6\n", "log_style given twice (first on line 1)"),
    ("arp_refresh\n", "arp_refresh takes exactly one value, not 0"),
    ("arp_refresh 10 20\n", "arp_refresh takes exactly one value, not 2"),
    ("arp_refresh 10s\n", "Invalid arp_refresh [10s]: a time is a number of seconds"),
    ("arp_refresh 0.5\n", "Invalid arp_refresh [0.5]: must be at least 1000ms"),
    ("arp_refresh 0\n", "Invalid arp_refresh [0]: must be at least 1000ms"),
    ("arp_refresh 86401\n", "Invalid arp_refresh [86401]: at most 86400 seconds"),
    ("arp_refresh 1e9\n", "Invalid arp_refresh [1e9]"),
    ("arp_refresh 30\narp_refresh 60\n", "arp_refresh given twice (first on line 1)"),
    ("monitor httpd\nmonitor_command httpd curl http://x/\n",
     "monitor_command httpd: command [curl] is not a full pathname"),
])
def test_bad_line(text, reason):
    problems = errors(text)
    assert len(problems) == 1
    assert problems[0].startswith(f"{PATH}:{text.count(chr(10))}: {reason}")


def test_duplicates_and_dangling_commands_in_line_order():
    assert errors("monitor httpd\nmonitor httpd restarts=1\n"
                  "monitor_group g name=httpd\n"
                  "monitor_command nothere /bin/true\n"
                  "monitor_command httpd /bin/true\nmonitor_command httpd /bin/false\n"
                  "monitor_group httpd\n") == [
        f"{PATH}:2: monitor httpd given twice (first on line 1)",
        f"{PATH}:3: monitor_group g: name [httpd] already used on line 1 (set another with name=)",
        f"{PATH}:4: monitor_command nothere: no monitor or monitor_group line for it",
        f"{PATH}:6: monitor_command httpd given twice (first on line 5)",
        f"{PATH}:7: httpd is monitored both as a resource and as a group (line 1): keep one",
    ]


def test_every_problem_is_reported_and_lines_are_bounded():
    assert errors("bogus\nmonitor httpd restarts=x\nmonitor " + "x" * 6000 + "\nfoo\0\n") == [
        f"{PATH}:1: Illegal directive [bogus]: one of monitor, monitor_group, monitor_command, log_style, "
        "arp_refresh",
        f"{PATH}:2: Invalid restarts [x]: must be an integer from 0 to 100",
        f"{PATH}:3: line longer than 5118 bytes",
        f"{PATH}:4: NUL byte in line",
    ]


def test_too_many_monitors():
    text = "".join(f"monitor r{i}\n" for i in range(pyhbcf.MAX_MONITORS + 1))
    assert errors(text) == [f"{PATH}:{pyhbcf.MAX_MONITORS + 1}: too many monitors (at most {pyhbcf.MAX_MONITORS})"]


def test_single_value_directives_are_one_table_row(monkeypatch):
    """What another option needs: a row with a value parser of ha.cf and a typed field."""
    @dataclasses.dataclass(frozen=True)
    class Extended(PyHbCf):
        refresh_ms: int | None = None
    row = pyhbcf.Directive(pyhbcf._value(pyhbcf._time(1000)), "refresh_ms")
    monkeypatch.setattr(pyhbcf, "DIRECTIVES", {**DIRECTIVES, "refresh": row})
    monkeypatch.setattr(pyhbcf, "PyHbCf", Extended)
    cf = parse_pyhbcf("# x\nrefresh 30\n", PATH)
    assert cf.refresh_ms == 30000 and cf.lines == {"refresh": 2}
    assert parse_pyhbcf("", PATH).refresh_ms is None
    assert errors("refresh 30\nrefresh 40\n") == [f"{PATH}:2: refresh given twice (first on line 1)"]
    assert errors("refresh\n") == [f"{PATH}:1: refresh takes exactly one value, not 0"]
    assert errors("refresh 1 2\n") == [f"{PATH}:1: refresh takes exactly one value, not 2"]
    assert errors("refresh 1s\n")[0].startswith(f"{PATH}:1: Invalid refresh [1s]")


def test_every_table_field_is_a_field_of_the_result():
    names = {f.name for f in dataclasses.fields(PyHbCf)} | {"commands"}
    assert {d.field for d in DIRECTIVES.values()} <= names


# -- cross-checks -----------------------------------------------------------------------------
def test_monitors_must_name_haresources_entries():
    cf = parse_pyhbcf("monitor httpd\nmonitor_group 192.0.2.101 on_fail=log\n", PATH)
    assert check_monitors(cf, RES, nice_failback=True) == []
    assert group_of(cf.monitors[0], RES) is RES.groups[0]
    assert group_of(cf.monitors[1], RES) is RES.groups[1]
    inner = parse_pyhbcf("monitor Filesystem::/dev/sdb1::/srv::ext4\n", PATH)
    assert check_monitors(inner, RES, nice_failback=True) == []
    assert group_of(inner.monitors[0], RES) is RES.groups[1]
    bad = parse_pyhbcf("monitor apache\nmonitor_group httpd\nmonitor 192.0.2.100\n", PATH)
    assert [str(e) for e in check_monitors(bad, RES, nice_failback=True)] == [
        f"{PATH}:1: monitor apache: no such resource in /etc/ha.d/haresources (write it as it is written there)",
        f"{PATH}:2: monitor_group httpd: no resource group with that key in /etc/ha.d/haresources "
        "(keys: IPaddr::192.0.2.100/24/eth0, 192.0.2.101)",
        f"{PATH}:3: monitor 192.0.2.100: no such resource in /etc/ha.d/haresources (write it as it is written there)",
    ]


def test_a_resource_is_watched_once_and_monitoring_needs_nice_failback():
    cf = parse_pyhbcf("# x\nmonitor_group IPaddr::192.0.2.100/24/eth0 on_fail=log\nmonitor httpd\n", PATH)
    assert [str(e) for e in check_monitors(cf, RES, nice_failback=False)] == [
        f"{PATH}:3: resource httpd is already monitored by IPaddr::192.0.2.100/24/eth0 (line 2)",
        f"{PATH}:2: resource monitoring needs auto_failback on or off in ha.cf: legacy mode keeps no "
        "record of which groups this node holds, and has no standby",
    ]
    assert check_monitors(PyHbCf(PATH), RES, nice_failback=False) == []


def test_a_resource_in_two_groups_cannot_be_monitored():
    res = parse_haresources("node1 192.0.2.100 httpd\nnode2 192.0.2.101 httpd\n", "/h")
    cf = parse_pyhbcf("monitor httpd\n", PATH)
    assert [e.reason for e in check_monitors(cf, res, nice_failback=True)] == [
        "monitor httpd: the resource is in 2 groups (lines 1, 2); it cannot be restarted for one of them"]


# -- configcheck and heartbeat -c -------------------------------------------------------------------
def test_configcheck_loads_defaults_without_the_file(tmp_path):
    cfg = load(tree(tmp_path))
    assert cfg.pyhbcf == PyHbCf(str(tmp_path / "ha.d" / "pyheartbeat.cf"))


def test_configcheck_reports_our_file_with_the_others(tmp_path, capsys):
    ha_dir = tree(tmp_path, hacf=HACF.replace("auto_failback on", "auto_failback legacy"))
    (ha_dir / "pyheartbeat.cf").write_text("monitor httpd\nmonitor_command httpd /nonexistent/check\n"
                                           "monitor_group nokey on_fail=log\n")
    with pytest.raises(ConfigErrors) as e:
        load(ha_dir)
    cf = str(ha_dir / "pyheartbeat.cf")
    assert [str(err) for err in e.value.errors] == [
        f"{cf}:2: monitor_command httpd: [/nonexistent/check] is not an executable file",
        f"{cf}:3: monitor_group nokey: no resource group with that key in {ha_dir}/haresources "
        "(keys: IPaddr::192.0.2.100/24/eth0)",
        f"{cf}:1: resource monitoring needs auto_failback on or off in ha.cf: legacy mode keeps no "
        "record of which groups this node holds, and has no standby",
    ]
    (ha_dir / "pyheartbeat.cf").write_text("monitor httpd restarts=x\n")
    with pytest.raises(ConfigErrors) as e:
        load(ha_dir)
    assert [str(err) for err in e.value.errors] == [f"{cf}:1: Invalid restarts [x]: must be an integer from 0 to 100"]


def test_heartbeat_c_counts_monitors(tmp_path, capsys, monkeypatch):
    ha_dir = tree(tmp_path)
    executable(tmp_path / "check")
    (ha_dir / "pyheartbeat.cf").write_text(f"monitor httpd\nmonitor_command httpd {tmp_path}/check -x\n")
    monkeypatch.setattr(configcheck, "local_node_name", lambda d: "node1")
    monkeypatch.setattr(configcheck, "iface_exists", lambda name: True)
    real = configcheck.load_config
    monkeypatch.setattr(configcheck, "load_config", lambda d: real(d, iface_exists=lambda n: True,
                                                                   node_name="node1",
                                                                   init_dir=str(tmp_path / "none")))
    from heartbeat.daemon import main as daemon
    assert daemon.main(["heartbeat", "-c", str(ha_dir)]) == configcheck.EXIT_OK
    assert capsys.readouterr().out == (f"{ha_dir}: configuration OK: 2 nodes, 1 media, 1 resource groups, "
                                       "1 resource monitors\n")
    (ha_dir / "pyheartbeat.cf").write_text("monitor httpd\nmonitor_command httpd\n")
    assert daemon.main(["heartbeat", "-c", str(ha_dir)]) == configcheck.EXIT_NOT_CONFIGURED
    assert capsys.readouterr().err == (f"{ha_dir}/pyheartbeat.cf:2: monitor_command needs a monitored "
                                       "resource or group and a command\n")


def test_example_file_parses():
    example = Path(__file__).resolve().parents[2] / "ha.d-examples" / "pyheartbeat.cf"
    cf = load_pyhbcf(str(example))
    assert cf.monitors and all(m.line is not None for m in cf.monitors)


# -- whatever the text: a typed result or ConfigErrors naming the file -----------------------
WORDS = sorted(DIRECTIVES) + [
    "httpd", "IPaddr::192.0.2.100/24/eth0", "interval=2", "interval=2s", "timeout=500ms", "restarts=3",
    "restarts=-1", "window=600", "on_fail=standby", "on_fail=log", "on_fail=", "name=web", "name=all",
    "name=a/b", "restart_timeout=30", "=", "/bin/true", "/usr/bin/curl", "curl", "-fsS", "#", "\r", "\t",
    "99999999999999999999", "é", "\udcff", "\0",
]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join) | st.text(max_size=30), max_size=10))
def test_any_text_parses_or_raises_config_errors_naming_the_file(lines):
    try:
        cf = parse_pyhbcf("\n".join(lines), PATH)
    except ConfigError as e:
        assert all(err.path == PATH and err.line is not None for err in flatten(e))
        return
    assert isinstance(cf, PyHbCf)
    assert len({m.name for m in cf.monitors}) == len(cf.monitors)
    for m in cf.monitors:
        assert MIN_INTERVAL_MS <= m.interval_ms <= MAX_TIME_MS and 0 <= m.restarts <= MAX_RESTARTS
        assert m.command is None or m.command[0].startswith("/")
