"""Delay and SendArp: wrapper arguments, tracking files, waits (fake sleep) and log lines."""

import io
import re
import os

import pytest

from heartbeat.resources.agents import delay, mailto, sendarp_resource
from heartbeat.resources.agents.delay import Delay


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "isatty", lambda fd: False)
    (tmp_path / "conf").mkdir()
    return {"HA_RSCTMP": str(tmp_path / "rsctmp"), "HA_LOGFILE": str(tmp_path / "ha-log"), "HA_LOGFACILITY": "none",
            "HA_DEBUGLOG": str(tmp_path / "ha-debug"), "HA_debug": "1", "HA_CONFDIR": str(tmp_path / "conf"),
            "HA_BIN": "/usr/libexec/heartbeat"}


def messages(env, name="HA_LOGFILE"):
    try:
        with open(env[name]) as f:
            return [line.split(":    ", 1)[1] for line in f.read().splitlines()]
    except FileNotFoundError:
        return []


@pytest.fixture
def slept(monkeypatch):
    waits = []
    monkeypatch.setattr(Delay, "sleep", staticmethod(waits.append))
    return waits


def run_delay(env, *args):
    out = io.StringIO()
    return delay.legacy_main(["/etc/ha.d/resource.d/Delay", *args], env, out), out.getvalue()


def test_delay_start_status_stop_with_the_4_12_defaults(env, slept):
    assert run_delay(env, "start") == (0, "INFO:  Success\n")
    assert os.path.isfile(os.path.join(env["HA_RSCTMP"], "Delay_Delay_10"))
    assert run_delay(env, "status") == (0, "INFO:  Running OK\n")
    assert run_delay(env, "stop") == (0, "INFO:  Success\n")
    assert run_delay(env, "status") == (7, "INFO:  Resource is stopped\n")
    assert slept == [10.0, 30.0, 30.0, 30.0]  # start, status (mondelay), stop, status
    assert messages(env) == ["INFO:  Success", "INFO: Delay is running OK", "INFO:  Running OK", "INFO:  Success",
                             "INFO: Delay is stopped", "INFO:  Resource is stopped"]


def test_delay_arguments(env, slept):
    assert run_delay(env, "2.5", "1", "start")[0] == 0
    assert run_delay(env, "2.5", "1", "stop")[0] == 0
    assert slept == [2.5, 1.0]
    assert os.listdir(env["HA_RSCTMP"]) == []


def test_delay_twice(env, slept):
    run_delay(env, "3", "start")
    assert run_delay(env, "3", "start")[0] == 0
    assert run_delay(env, "4", "stop")[0] == 0  # another instance: nothing to stop
    assert slept == [3.0]
    assert "INFO: Delay already running." in messages(env) and "INFO: Delay already stopped." in messages(env)


def test_delay_bad_arguments(env, slept, capfd):
    assert run_delay(env, "1.2.3", "start") == (2, "ERROR:  Illegal argument\n")
    assert run_delay(env, "x", "start")[0] == 2
    assert slept == [] and not os.path.exists(env["HA_RSCTMP"])
    assert "ocf-exit-reason:Some of the instance parameters are invalid" in capfd.readouterr().err
    usage = "usage: /etc/ha.d/resource.d/Delay [delay [stopdelay]] (start|stop|status|usage|meta-data)\n"
    assert run_delay(env) == (1, usage)
    assert run_delay(env, "1", "2", "3", "start") == (1, usage)


def run_sendarp(env, *args):
    out = io.StringIO()
    return sendarp_resource.legacy_main(["/etc/ha.d/resource.d/SendArp", *args], env, out), out.getvalue()


@pytest.fixture
def started(monkeypatch):
    calls = []
    monkeypatch.setattr(sendarp_resource, "in_background", lambda argv, on_done: calls.append(argv))
    return calls


def test_sendarp_start_status_stop(env, started):
    assert run_sendarp(env, "192.0.2.100/eth0", "start") == (0, "INFO:  Success\n")
    pidfile = os.path.join(env["HA_RSCTMP"], "send_arp-192.0.2.100")
    assert started == [["/usr/libexec/heartbeat/send_arp", "-i", "200", "-r", "5", "-p", pidfile, "eth0",
                        "192.0.2.100", "auto", "192.0.2.100", "ffffffffffff"]]
    assert os.path.isfile(os.path.join(env["HA_RSCTMP"], "SendArp_SendArp_192.0.2.100"))
    assert run_sendarp(env, "192.0.2.100/eth0", "status") == (0, "INFO:  Running OK\n")
    with open(pidfile, "w") as f:
        f.write(f"{os.getpid()}0000\n")  # a send_arp that is gone
    assert run_sendarp(env, "192.0.2.100/eth0", "stop") == (1, "ERROR:  Generic error\n")
    assert messages(env)[-3:-1] == ["WARNING: Could not kill previously running send_arp for 192.0.2.100",
                                    "WARNING: SendArp for 192.0.2.100/eth0 NOT released"]
    assert run_sendarp(env, "192.0.2.100/eth0", "stop") == (0, "INFO:  Success\n")
    assert "INFO: SendArp for 192.0.2.100/eth0 released" in messages(env)
    assert run_sendarp(env, "192.0.2.100/eth0", "status") == (7, "INFO:  Resource is stopped\n")


def test_sendarp_reads_arp_config(env, started):
    with open(os.path.join(env["HA_CONFDIR"], "arp_config"), "w") as f:
        f.write("# tuned\nARP_INTERVAL_MS=100\nexport ARP_REPEAT='3'\nOTHER=1\n")
    assert run_sendarp(env, "192.0.2.100/eth0", "start")[0] == 0
    assert started[0][1:5] == ["-i", "100", "-r", "3"]


def test_sendarp_without_a_slash_uses_the_address_as_nic(env, started):
    run_sendarp(env, "192.0.2.100", "start")
    assert started[0][7] == "192.0.2.100"


def test_sendarp_usage(env, started):
    usage = "usage: /etc/ha.d/resource.d/SendArp ip-address/interface (start|stop|status|usage|meta-data)\n"
    assert run_sendarp(env, "192.0.2.100/eth0") == (1, usage)
    assert started == []


@pytest.fixture
def mailbox(tmp_path, env, monkeypatch):
    """A `mail` on PATH that records its arguments and the message."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "mail").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/args\ncat > {tmp_path}/body\nexit 1\n')
    (bindir / "mail").chmod(0o755)
    env["PATH"] = f"{bindir}:/usr/bin:/bin"
    monkeypatch.setattr(mailto.MailTo, "clock", staticmethod(lambda: 1796192750.0))
    monkeypatch.setattr(os, "uname", lambda: os.uname_result(("Linux", "node1", "r", "v", "m")))
    return tmp_path


def run_mailto(env, *args):
    out = io.StringIO()
    return mailto.legacy_main(["/etc/ha.d/resource.d/MailTo", *args], env, out), out.getvalue()


def test_mailto_start_mails_and_tracks_even_if_mail_fails(env, mailbox):
    assert run_mailto(env, "root@localhost", "Web  server", "start") == (0, "INFO:  Success\n")
    date = mailto.date_text(1796192750.0)
    subject = f"Web server Takeover in progress at {date} on node1"
    assert (mailbox / "args").read_text() == f"-s\n{subject}\nroot@localhost\n"
    assert (mailbox / "body").read_text() == (f"        {subject}\n \n        Command line was:\n"
                                              "        /usr/lib/ocf/resource.d//heartbeat/MailTo start\n")
    assert run_mailto(env, "root@localhost", "Web  server", "status") == (0, "running\nINFO:  Running OK\n")
    assert run_mailto(env, "root@localhost", "stop")[0] == 0
    subject = (mailbox / "args").read_text().split("\n")[1]
    assert subject == f"Resource Group Migrating resource away at {date} from node1"
    assert run_mailto(env, "root@localhost", "status") == (7, "stopped\nINFO:  Resource is stopped\n")


def test_mailto_date_is_dates_c_locale_format():
    assert re.fullmatch(r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ 123][0-9] \d\d:\d\d:\d\d \S+ \d{4}", mailto.date_text(0.0))


def test_mailto_needs_mail_and_an_address(env, mailbox):
    env["PATH"] = "/nonexistent"
    assert run_mailto(env, "root@localhost", "start") == (5, "ERROR:  Program is not installed\n")
    assert not os.path.exists(os.path.join(env["HA_RSCTMP"], "MailTo_MailTo"))
    usage = "Usage: /etc/ha.d/resource.d/MailTo <email> [<subject>] (start|stop|status|usage|meta-data)\n"
    assert run_mailto(env, "start") == (1, "At least 1 Email address has to be given!\n" + usage)
    assert run_mailto(env, "a", "b", "c", "start") == (
        1, "Additional parameters found: 4 but max. 3 are allowed!\n" + usage)
