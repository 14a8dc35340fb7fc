"""ha.cf: lexical rules, every directive, defaults and whole-configuration checks (spec §3)."""

import pytest

from heartbeat.config.errors import ConfigError, ConfigErrors, Warning_
from heartbeat.config.hacf import (ALIASES, DIRECTIVES, ApiAuth, AutoFailback, Bcast, Mcast, Ping,
                            PingGroup, Respawn, Serial, Ucast, load_hacf, parse_hacf, parse_time_ms)

PATH = "/etc/ha.d/ha.cf"
# the smallest configuration the original starts with: a medium and a node (it logs through logd)
BASE = "bcast eth0\nnode node1 node2\n"
BASE_LINES = BASE.count("\n")


def parse(text: str, base: str = BASE):
    return parse_hacf(base + text, PATH)


def errors(text: str, base: str = BASE) -> list[str]:
    with pytest.raises(ConfigErrors) as info:
        parse_hacf(base + text, PATH)
    return [str(e) for e in info.value.errors]


def at(line: int, reason: str) -> str:
    """The error for line ``line`` of the text appended to BASE."""
    return f"{PATH}:{BASE_LINES + line}: {reason}"


def texts(cfg) -> list[str]:
    return [w.text for w in cfg.warnings]


LAB = """\
logfile /var/log/ha-log
debugfile /var/log/ha-debug
logfacility none
keepalive 1
deadtime 5
warntime 3
initdead 10
udpport 694
bcast eth0
ping 192.0.2.1
auto_failback on
node node1
node node2
"""


def test_lab_configuration():
    cfg = parse_hacf(LAB, PATH)
    assert cfg.nodes == ("node1", "node2")
    assert cfg.media == (Bcast("eth0"), Ping("192.0.2.1"))
    assert cfg.media[0].line == 9 and cfg.media[1].line == 10
    assert (cfg.keepalive_ms, cfg.deadtime_ms, cfg.warntime_ms, cfg.initdead_ms,
            cfg.deadping_ms) == (1000, 5000, 3000, 10000, 5000)
    assert cfg.auto_failback is AutoFailback.ON
    assert cfg.ping_nodes == ("192.0.2.1",)
    # what cl_status hbparameter prints: values as written, defaults in the original's form
    assert cfg.recorded["keepalive"] == "1"
    assert cfg.recorded["deadping"] == "5000ms"
    assert cfg.recorded["udpport"] == "694"
    assert cfg.recorded["pacemaker"] == "false"
    assert cfg.lines["bcast"] == 9
    assert cfg.warnings == (
        Warning_(None, "info", "Pacemaker support: false"),
        Warning_(None, "WARN", "Logging daemon is disabled --enabling logging daemon is recommended"))


def test_defaults_and_their_recorded_forms():
    cfg = parse("")
    assert (cfg.keepalive_ms, cfg.deadtime_ms, cfg.warntime_ms, cfg.initdead_ms, cfg.deadping_ms,
            cfg.udpport, cfg.baud, cfg.auto_failback) == (1000, 30000, 15000, 30000, 30000, 694,
                                                          19200, AutoFailback.LEGACY)
    assert {k: cfg.recorded[k] for k in ("keepalive", "deadtime", "warntime", "initdead", "deadping",
                                         "udpport", "baud", "auto_failback", "debug", "cluster",
                                         "conn_logd_time", "max_rexmit_delay", "memreserve")} == {
        "keepalive": "1000ms", "deadtime": "30000ms", "warntime": "15000ms", "initdead": "30000ms",
        "deadping": "30000ms", "udpport": "694", "baud": "19200", "auto_failback": "legacy",
        "debug": "0", "cluster": "linux-ha", "conn_logd_time": "60", "max_rexmit_delay": "250",
        "memreserve": "6500"}
    assert [a.client for a in cfg.apiauth] == ["ipfail", "ccm", "ping", "lha-snmpagent", "anon"]
    assert texts(cfg)[1:4] == ["Deprecated 'legacy' auto_failback option selected.",
                               "Please convert to 'auto_failback on'.",
                               "See documentation for conversion details."]


@pytest.mark.parametrize("deadtime, initdead", [(5000, 12000), (8000, 16000), (10000, 20000),
                                                (10001, 10001), (60000, 60000)])
def test_initdead_default(deadtime, initdead):
    cfg = parse(f"deadtime {deadtime}ms\n")
    assert cfg.initdead_ms == initdead
    assert cfg.recorded["initdead"] == f"{initdead}ms"


# directive line, HaCf attribute, expected value, recorded value (None: not recorded)
DIRECTIVE_CASES = [
    ("cluster mycluster", "cluster", "mycluster", "mycluster"),
    ("node NODE3", "nodes", ("node3", "node1", "node2"), None),
    ("hopfudge 3", "hopfudge", 3, "3"),
    ("keepalive 500ms", "keepalive_ms", 500, "500ms"),
    ("deadtime 0.5", "deadtime_ms", 500, "0.5"),   # with keepalive 100ms below
    ("deadping 40", "deadping_ms", 40000, "40"),
    ("initdead 120", "initdead_ms", 120000, "120"),
    ("warntime 10", "warntime_ms", 10000, "10"),
    ("watchdog /dev/watchdog", "watchdog", "/dev/watchdog", "/dev/watchdog"),
    ("baud 38400", "baud", 38400, "38400"),
    ("udpport 695", "udpport", 695, "695"),
    ("logfacility local7", "logfacility", "local7", "local7"),
    ("logfacility none", "logfacility", None, "none"),
    ("logfile /tmp/log", "logfile", "/tmp/log", "/tmp/log"),
    ("debugfile /tmp/debug", "debugfile", "/tmp/debug", "/tmp/debug"),
    ("nice_failback on", "auto_failback", AutoFailback.LEGACY, None),
    ("auto_failback off", "auto_failback", AutoFailback.OFF, "off"),
    ("auto_failback Yes", "auto_failback", AutoFailback.ON, "Yes"),
    ("auto_failback LEGACY", "auto_failback", AutoFailback.LEGACY, "LEGACY"),
    ("rtprio 5", "rtprio", 5, "5"),
    ("hbgenmethod time", "hbgenmethod", "time", "time"),
    ("realtime off", "realtime", False, "off"),
    ("debug 2", "debug", 2, "2"),
    ("msgfmt netstring", "msgfmt", "netstring", "netstring"),
    ("use_logd yes", "use_logd", True, "yes"),
    ("conn_logd_time 2", "conn_logd_time_ms", 2000, "2"),
    ("use_apphbd no", "use_apphbd", False, None),
    ("log_badpack n", "log_badpack", False, "n"),
    ("syslogmsgfmt false", "syslogmsgfmt", False, "false"),
    ("coredumps 0", "coredumps", False, "0"),
    ("coreroot /var/lib/heartbeat/cores", "coreroot", "/var/lib/heartbeat/cores",
     "/var/lib/heartbeat/cores"),
    ("crm_daemon_dir /usr/lib/pacemaker", "crm_daemon_dir", "/usr/lib/pacemaker", "/usr/lib/pacemaker"),
    ("crmd_spawns_pengine off", "crmd_spawns_pengine", False, "off"),
    ("crm off", "recorded", None, None),
    ("pacemaker no", "recorded", None, None),
    ("autojoin None", "autojoin", "none", "None"),
    ("uuidfrom nodename", "uuidfrom", "nodename", "nodename"),
    ("compression bz2", "compression", "bz2", "bz2"),
    ("compression_threshold 4", "compression_threshold_kb", 4, "4"),
    ("traditional_compression yes", "traditional_compression", True, "yes"),
    ("env SITE=lab,COLOR=blue", "env", (("SITE", "lab"), ("COLOR", "blue")), None),
    ("max_rexmit_delay 100", "max_rexmit_delay_ms", 100, "100"),
    ("record_config_changes off", "record_config_changes", False, "off"),
    ("record_pengine_inputs off", "record_pengine_inputs", False, "off"),
    ("enable_config_writes off", "enable_config_writes", False, "off"),
    ("memreserve 1000", "memreserve_kb", 1000, "1000"),
    ("quorum_server q.example", "quorum_server", "q.example", "q.example"),
    ("apiauth ipfail uid=root,hacluster gid=haclient", "apiauth",
     ApiAuth("ipfail", ("root", "hacluster"), ("haclient",)), None),
    ("respawn hacluster /usr/lib/heartbeat/ipfail -v", "respawn",
     (Respawn("hacluster", ("/usr/lib/heartbeat/ipfail", "-v")),), None),
    ("failfast root /bin/true", "respawn", (Respawn("root", ("/bin/true",), failfast=True),), None),
    ("bcast eth1,eth2", "media", (Bcast("eth1"), Bcast("eth2"), Bcast("eth0")), None),
    ("udp eth1", "media", (Bcast("eth1"), Bcast("eth0")), None),
    ("mcast eth1 239.0.2.1 694 1 0", "media", (Mcast("eth1", "239.0.2.1", 694, 1, False), Bcast("eth0")),
     None),
    ("ucast eth1 192.0.2.12", "media", (Ucast("eth1", "192.0.2.12"), Bcast("eth0")), None),
    ("serial /dev/ttyS0", "media", (Serial("/dev/ttyS0"), Bcast("eth0")), None),
    ("ping 192.0.2.1 198.51.100.1", "media", (Ping("192.0.2.1"), Ping("198.51.100.1"), Bcast("eth0")),
     None),
    ("ping_group routers 192.0.2.1 192.0.2.2", "media",
     (PingGroup("routers", ("192.0.2.1", "192.0.2.2")), Bcast("eth0")), None),
]


@pytest.mark.parametrize("line, attribute, expected, recorded", DIRECTIVE_CASES)
def test_directive(line, attribute, expected, recorded):
    # before BASE: udpport and baud must come before the media
    cfg = parse_hacf("keepalive 100ms\n" + line + "\n" + BASE, PATH)
    value = getattr(cfg, attribute)
    if attribute == "apiauth":
        assert value[0] == expected and value[0].line == 2
    elif attribute != "recorded":
        assert value == expected
    name = ALIASES.get(line.split()[0], line.split()[0])
    if recorded is not None:
        assert cfg.recorded[name] == recorded


def test_every_directive_is_covered():
    covered = {ALIASES.get(c[0].split()[0], c[0].split()[0]) for c in DIRECTIVE_CASES}
    covered |= {ALIASES.get(c[0].split()[0], c[0].split()[0]) for c in REFUSED}
    assert covered == set(DIRECTIVES)
    assert {c[0].split()[0] for c in DIRECTIVE_CASES} >= set(ALIASES)


REFUSED = [
    ("crm on", "pacemaker/crm mode is not supported: pyheartbeat runs haresources (v1) clusters only"),
    ("stonith baytech /etc/ha.d/conf/stonith.baytech", "STONITH devices are not supported"),
    ("stonith_host * baytech 10.0.0.3 mylogin mysecretpassword", "STONITH devices are not supported"),
    ("ucast6 eth0 fe80::1", "ucast6 media are not supported"),
    ("mcast6 eth0 ff12::1:2:3:4 694 1 0", "mcast6 media are not supported"),
    ("ping6 fe80::1", "ping6 media are not supported"),
    ("hbaping fc-card-name", "hbaping media are not supported"),
    ("tipc x", "tipc media are not supported"),
    ("rds x", "rds media are not supported"),
]


@pytest.mark.parametrize("line, reason", REFUSED)
def test_unsupported_features_are_refused(line, reason):
    assert any(e.startswith(at(1, reason)) for e in errors(line + "\n"))


@pytest.mark.parametrize("line, reason", [
    ("Node node3", "Illegal directive [Node] (directives are case-sensitive: [node]?)"),
    ("nosuch 1", "Illegal directive [nosuch]"),
    ("normalpoll on", "Illegal directive [normalpoll]"),
    ("keepalive 2s", "Invalid keepalive [2s]: a time is a number of seconds (2, 0.5) or a number "
                     "followed by ms or us (500ms); 's' is not a unit"),
    ("keepalive 0", "Invalid keepalive [0]: must be at least 1ms"),
    ("warntime 0", "Invalid warntime [0]: must be at least 1ms"),
    ("deadtime 500 ms", "Invalid deadtime [ms]"),
    ("deadtime 1.2.3", "Invalid deadtime [1.2.3]"),
    ("hopfudge 256", "Invalid hopfudge [256]: must be an integer from 0 to 255"),
    ("udpport 0", "Invalid udpport [0]: must be an integer from 1 to 65535"),
    ("udpport 694x", "Invalid udpport [694x]"),
    ("baud 1200", "invalid baudrate [1200] specified"),
    ("logfacility LOCAL7", "Log facility(LOCAL7) not valid"),
    ("auto_failback maybe", "Invalid auto_failback [maybe]: must be on, off or legacy"),
    ("nice_failback maybe", "Invalid nice_failback [maybe]: must be a boolean"),
    ("rtprio 100", "Invalid rtprio [100]: must be an integer from 1 to 99"),
    ("hbgenmethod Time", "Invalid hbgenmethod directive [Time]: must be one of file, time"),
    ("realtime sometimes", "Invalid realtime [sometimes]: must be a boolean"),
    ("debug 256", "Invalid debug [256]"),
    ("msgfmt xml", "Invalid msgfmt directive [xml]"),
    ("autojoin all", "Invalid autojoin directive [all]"),
    ("uuidfrom uname", "Invalid uuidfrom directive [uname]"),
    ("compression lzo", "Invalid compression directive [lzo]: must be one of zlib, bz2"),
    ("compression_threshold 0", "Invalid compression_threshold [0]"),
    ("max_rexmit_delay -1", "Invalid max_rexmit_delay [-1]"),
    ("memreserve 0", "Invalid memreserve [0]"),
    ("env NOVALUE", "set_env: invalid nvpair(NOVALUE): must be NAME=value"),
    ("env =x", "set_env: invalid nvpair(=x)"),
    ("pacemaker maybe", "Invalid pacemaker [maybe]"),
    ("node " + "n" * 100, "node name [" + "n" * 100 + "] is longer than 99 bytes"),
    ("mcast", "mcast needs: interface group port ttl loop"),
    ("mcast eth0", "mcast [eth0] missing mcast address"),
    ("mcast eth0 239.0.2.1", "mcast [eth0] missing port"),
    ("mcast eth0 239.0.2.1 694", "mcast [eth0] missing ttl"),
    ("mcast eth0 239.0.2.1 694 1", "mcast [eth0] missing loop"),
    ("mcast eth0 192.0.2.1 694 1 0", "mcast [eth0] bad addr [192.0.2.1]: must be an IPv4 address in 224.0.0.0/4"),
    ("mcast eth0 239.1 694 1 0", "mcast [eth0] bad addr [239.1]"),
    ("mcast eth0 239.0.2.1 0 1 0", "mcast [eth0] bad port [0]: must be 1..65535"),
    ("mcast eth0 239.0.2.1 694 5 0", "mcast [eth0] bad ttl [5]: must be 0..4"),
    ("mcast eth0 239.0.2.1 694 1 2", "mcast [eth0] bad loop [2]: must be 0..1"),
    ("ucast", "ucast needs: interface peer"),
    ("ucast eth0", "ucast: [eth0] missing target IP address/hostname"),
    ("ping_group routers", "ping_group needs a group name and at least one host"),
    ("serial ttyS0", "Serial port not full pathname [ttyS0] in config file"),
    ("apiauth ipfail", "Invalid apiauth directive [ipfail]: Syntax: apiauth client [uid=uidlist] [gid=gidlist]"),
    ("apiauth ipfail uid=a uid=b", "Invalid apiauth directive [ipfail uid=a uid=b]: Duplicate uid list in apiauth"),
    ("apiauth ipfail root", "Invalid apiauth directive [ipfail root]: Missing uid or gid in apiauth"),
    ("apiauth ipfail gid=", "Invalid apiauth directive [ipfail gid=]: empty gid list"),
    ("respawn hacluster ipfail", "Client child command [ipfail] is not full pathname"),
    ("failfast root", "Client child command [] is not full pathname"),
])
def test_bad_value(line, reason):
    errs = errors(line + "\n")
    assert len(errs) == 1 and errs[0].startswith(at(1, reason)), errs


def test_lexical_rules():
    cfg = parse("  keepalive 2 # comment ,with, commas\n"
                "node node3,NODE4\tnode5#no blank needed\n"
                "deadtime 40\r\n"
                "# node ignored\n"
                "\n")
    assert cfg.keepalive_ms == 2000 and cfg.deadtime_ms == 40000
    assert cfg.nodes == ("node1", "node2", "node3", "node4", "node5")


def test_no_line_continuation():
    # a trailing backslash is an ordinary character: here a node named "\"
    assert parse("node node3 \\\n").nodes == ("node1", "node2", "node3", "\\")


def test_udp_alias_and_ignored_things_are_warnings():
    cfg = parse("udp eth1\nkeepalive\nucast eth0 192.0.2.12 extra words\n"
                "keepalive 2\nkeepalive 1\nnode node1\nbcast eth0\n")
    line = BASE_LINES
    assert [w for w in cfg.warnings if w.line is not None and w.line > line] == [
        Warning_(line + 1, "WARN", "WARNING: directive 'udp' replaced by 'bcast'"),
        Warning_(line + 2, "WARN", "keepalive without a value is ignored"),
        Warning_(line + 3, "WARN", "ucast: extra text ignored: [extra words]"),
        Warning_(line + 5, "WARN", f"keepalive given again (line {line + 4} before); the last value [1] wins"),
        Warning_(line + 6, "WARN", "node [node1] declared twice"),
        Warning_(line + 7, "WARN", "bcast [eth0] given twice"),
    ]


def test_every_error_is_reported_in_line_order():
    errs = errors("keepalive 2s\nNode x\nbaud 1\n")
    assert [e.split(": ")[0] for e in errs] == [f"{PATH}:{BASE_LINES + i}" for i in (1, 2, 3)]


def test_whole_configuration_checks_run_only_after_a_clean_parse():
    # as in the original: "no media" is not reported next to a parse error
    assert errors("keepalive 2s\n", base="node node1\n") == [
        f"{PATH}:2: Invalid keepalive [2s]: a time is a number of seconds (2, 0.5) or a number "
        "followed by ms or us (500ms); 's' is not a unit"]


def test_no_media_and_no_nodes():
    assert errors("", base="logfile /x\n") == [f"{PATH}: No heartbeat media defined",
                                                f"{PATH}: no nodes defined"]


def test_ping_nodes_are_not_cluster_nodes():
    assert errors("", base="logfile /x\nping 192.0.2.1\n") == [f"{PATH}: no nodes defined"]


def test_ping_node_names_are_lower_case_but_media_keep_the_host_as_written():
    cfg = parse("ping Router.Example\nping_group Uplinks 192.0.2.1 192.0.2.2\n")
    assert cfg.ping_nodes == ("router.example", "uplinks")
    assert [m.link for m in cfg.media[1:]] == ["Router.Example", "Uplinks"]


def test_deadtime_must_exceed_twice_keepalive():
    assert errors("keepalive 2\ndeadtime 4\n") == [
        at(2, "Dead time [4000] is too small compared to keeplive [2000]")]
    assert errors("keepalive 20\n") == [at(1, "Dead time [30000] is too small compared to keeplive [20000]")]


def test_initdead_checks():
    assert errors("deadtime 20\ninitdead 10\n") == [
        at(2, "Initial dead time [10000] is smaller than deadtime [20000]")]
    cfg = parse("keepalive 100ms\ndeadtime 1\ninitdead 2\n")
    assert [w for w in cfg.warnings if w.line == BASE_LINES + 3] == [
        Warning_(BASE_LINES + 3, "WARN", "Initial dead time [2000 ms] may be too small!"),
        Warning_(BASE_LINES + 3, "info", "Initial dead time accounts for slow network startup time"),
        Warning_(BASE_LINES + 3, "info", "It should be >= deadtime and >= 10 seconds")]


def test_deadping_check():
    assert errors("keepalive 2\ndeadping 4\n") == [
        at(2, "Ping dead time [4000] is too small compared to keeplive [2000]")]


def test_warntime_not_below_deadtime_is_a_warning():
    cfg = parse("deadtime 10\nwarntime 10\n")
    assert Warning_(BASE_LINES + 2, "WARN", "Warn time [10000 ms] is not smaller than deadtime "
                                            "[10000 ms]: no late heartbeat will ever be warned about") \
        in cfg.warnings


def test_udpport_must_precede_bcast_and_ucast():
    assert errors("udpport 695\n") == [
        at(1, "udpport must precede media statements: the bcast/ucast medium on line 1 already "
              "uses 694, so [695] would not apply to it")]
    assert parse("udpport 694\n").udpport == 694      # the port they use anyway
    cfg = parse_hacf("udpport 695\nbcast eth0\nnode a\nlogfile /x\nmcast eth0 239.0.2.1 694 1 0\n", PATH)
    assert cfg.udpport == 695


def test_baud_rules():
    assert errors("baud 9600\nbaud 9600\n") == [at(2, f"Baudrate multiply specified. (first on line {BASE_LINES + 1})")]
    assert errors("serial /dev/ttyS0\nbaud 9600\n") == [
        at(2, f"baud must precede media statements: the serial medium on line {BASE_LINES + 1} already uses 19200, "
              "so [9600] would not apply to it")]


def test_watchdog_once():
    assert errors("watchdog /dev/a\nwatchdog /dev/b\n") == [
        at(2, f"Watchdog device multiply specified. (first on line {BASE_LINES + 1})")]


def test_pacemaker_rules():
    assert errors("crm off\npacemaker off\n") == [at(2, "pacemaker/crm directive used multiple times!")]
    assert errors("crm off\ncrm_daemon_dir /x\n") == [
        at(2, "If you specify crm_daemon_dir, it must come before the pacemaker directive")]
    cfg = parse("crm no\n")
    assert cfg.recorded["pacemaker"] == "no" and "crm" not in cfg.recorded
    assert Warning_(BASE_LINES + 1, "info", "Pacemaker support: no") in cfg.warnings
    assert any(e.startswith(at(1, "pacemaker/crm mode is not supported")) for e in errors("crm respawn\n"))


def test_nice_failback_quirks():
    cfg = parse("nice_failback off\n")
    assert cfg.auto_failback is AutoFailback.LEGACY     # whatever the value
    assert [w.text for w in cfg.warnings if w.level == "ERROR"] == [
        "nice_failback flag is obsolete.. Use auto_failback {on, off, legacy} instead.",
        "nice_failback off has been strictly interpreted as 'auto_failback legacy'",
        "Consider converting to 'auto_failback on'.",
        "When you do, then you can use ipfail, and hb_standby",
        "See documentation for details."]
    cfg = parse("auto_failback on\nnice_failback yes\n")
    assert cfg.auto_failback is AutoFailback.OFF and cfg.recorded["auto_failback"] == "on"
    assert "'nice_failback yes' has been changed to 'auto_failback off'" in texts(cfg)


def test_logging_sinks():
    cfg = parse("", base="bcast eth0\nnode a\n")
    assert cfg.use_logd is True and cfg.recorded["use_logd"] == "yes"
    assert Warning_(None, "info", "No log entry found in ha.cf -- use logd") in cfg.warnings
    assert errors("use_logd off\n", base="bcast eth0\nnode a\n") == [
        f"{PATH}:3: No log entry found in ha.cf and use_logd is set to off"]
    cfg = parse("use_logd on\nlogfacility daemon\n")
    assert texts(cfg)[:2] == ["Enabling logging daemon ",
                              "logfile and debug file are those specified in logd config file "
                              "(default /etc/logd.cf)"]
    assert "logd is enabled but logfile/debugfile/logfacility is still configured in ha.cf" in texts(cfg)
    cfg = parse("logfacility daemon\n", base="bcast eth0\nnode a\n")
    assert (cfg.recorded["logfile"], cfg.recorded["debugfile"], cfg.logfile) == ("/dev/null", "/dev/null", None)


def test_autojoin_conflicts_with_haresources():
    assert errors("autojoin any\n") == [
        at(1, "R1 style resource management conflicts with  autojoin set: "
              "unset autojoin (pacemaker/crm is not supported)")]


def test_apiauth_duplicates_and_overrides():
    cfg = parse("apiauth ping uid=root\n")
    assert [a for a in cfg.apiauth if a.client == "ping"] == [ApiAuth("ping", ("root",), ())]
    assert errors("apiauth x uid=root\napiauth x gid=root\n") == [
        at(2, "Duplicate apiauth directive for API client x")]


def test_limits():
    many = "".join(f"node n{i}\n" for i in range(98)) + "ping 192.0.2.1\n"
    assert errors(many)[-1] == at(99, "too many nodes (at most 100, ping nodes included)")
    media = "".join(f"bcast e{i}\n" for i in range(64))
    assert errors(media)[-1] == at(64, "Too many media specified (> 64)")
    assert errors("node " + "x" * 6000 + "\n") == [at(1, "line longer than 5118 bytes")]
    assert errors("node a\0b\n") == [at(1, "NUL byte in line")]


@pytest.mark.parametrize("text, ms", [
    ("1", 1000), ("0.5", 500), (".5", 500), ("2.", 2000), ("1000ms", 1000), ("10MS", 10),
    ("5msec", 5), ("1000000us", 1000), ("1000usec", 1), ("499us", 0), ("501us", 1), ("0.001", 1),
    ("0.0004", 0),
])
def test_times(text, ms):
    assert parse_time_ms(text) == ms


@pytest.mark.parametrize("text", ["2s", "1sec", "1m", "", "ms", "1e3", "1.2.3", "1 ms", "-1",
                                  "1mss", "9" * 400])
def test_bad_times(text):
    with pytest.raises(ValueError):
        parse_time_ms(text)


def test_load(tmp_path):
    f = tmp_path / "ha.cf"
    f.write_text(LAB)
    assert load_hacf(str(f)).nodes == ("node1", "node2")
    with pytest.raises(ConfigError) as info:
        load_hacf(str(tmp_path / "none"))
    assert "Cannot open config file" in str(info.value)


@pytest.mark.parametrize("text", ["ping node2\n", "ping NODE2\n", "ping_group node2 192.0.2.1\n"])
def test_a_ping_node_named_like_a_cluster_node_is_an_error(text):
    """Issue 8 row 12: the daemon would have two table entries for one name."""
    assert errors(text) == [at(1, "ping node [node2] is also a cluster node (node directive): "
                               "a cluster node is watched by its heartbeats, not pinged")]
