"""IPsrcaddr: checks, the default route's source, probes and the stop quirk, against a
fake netlink (no route of this machine is touched)."""

import io
import os
from ipaddress import IPv4Address

import pytest

from heartbeat.resources import netlink
from heartbeat.resources.agents import ipsrcaddr
from heartbeat.resources.agents.ipsrcaddr import check_ip, route_text_without_src
from heartbeat.resources.netlink import SCOPE_LINK, Address, Route
from heartbeat.resources.agents.ocf import AgentFailure

LINK = Route("eth0", IPv4Address("192.0.2.0"), 24, 0, SCOPE_LINK, "192.0.2.11", None, 2)
DEFAULT = Route("eth0", IPv4Address("0.0.0.0"), 0, 0, 0, None, "192.0.2.1", 3)


class FakeNetlink:
    def __init__(self):
        self.table = [DEFAULT, LINK]
        self.entries = [Address("lo", "lo", "127.0.0.1", 8, None),
                        Address("eth0", "eth0", "192.0.2.11", 24, "192.0.2.255"),
                        Address("eth0", "eth0", "192.0.2.100", 24, "192.0.2.255", True)]
        self.calls = []

    def routes(self, table=netlink.MAIN_TABLE, kind=1):
        return list(self.table) if table == netlink.MAIN_TABLE else []

    def addresses(self):
        return list(self.entries)

    def replace_route(self, dest, prefixlen, ifname, proto, prefsrc, metric):
        self.calls.append(("replace", f"{dest}/{prefixlen}", ifname, proto, prefsrc, metric))
        self.table = [r._replace(prefsrc=prefsrc, proto=proto) if r.prefixlen == prefixlen else r for r in self.table]

    def change_source(self, route, prefsrc):
        self.calls.append(("change", route.prefixlen, prefsrc))
        self.table = [r._replace(prefsrc=prefsrc) if r == route else r for r in self.table]


@pytest.fixture
def env(tmp_path, monkeypatch):
    fake = FakeNetlink()
    for name in ("routes", "addresses", "replace_route", "change_source"):
        monkeypatch.setattr(netlink, name, getattr(fake, name))
    monkeypatch.setattr(os, "isatty", lambda fd: False)
    values = {"HA_LOGFILE": str(tmp_path / "ha-log"), "HA_LOGFACILITY": "none", "HA_DEBUGLOG": str(tmp_path / "d")}
    return type("Env", (), {"values": values, "net": fake, "log": tmp_path / "ha-log"})


def run(env, *argv):
    out = io.StringIO()
    return ipsrcaddr.legacy_main(["/etc/ha.d/resource.d/IPsrcaddr", *argv], env.values, out), out.getvalue()


def messages(env):
    return [line.split(":    ", 1)[1] for line in env.log.read_text().splitlines()] if env.log.exists() else []


def test_check_ip():
    assert check_ip("192.0.2.100") and check_ip("300.1.1.1")  # the original lets big octets through
    assert not check_ip("x") and not check_ip("192.0.2") and not check_ip("192.0.2.1.")
    with pytest.raises(AgentFailure):
        check_ip("127.0.0.1")


def test_route_text_as_the_original_cuts_src_out():
    assert route_text_without_src(DEFAULT._replace(prefsrc="192.0.2.100")) == "default via 192.0.2.1 "
    assert route_text_without_src(DEFAULT) == "default via 192.0.2.1"
    assert route_text_without_src(DEFAULT._replace(prefsrc="x", proto=16, metric=5)) == \
        "default via 192.0.2.1 proto dhcp  metric 5"


def test_start_status_stop(env):
    assert run(env, "192.0.2.100", "status") == (7, "No preferred source address defined\nINFO:  Resource is stopped\n")
    assert run(env, "192.0.2.100", "start") == (0, "INFO:  Success\n")
    assert env.net.calls == [("replace", "192.0.2.0/24", "eth0", 2, "192.0.2.100", 0), ("change", 0, "192.0.2.100")]
    assert run(env, "192.0.2.100", "status") == (0, "OK\nINFO:  Running OK\n")
    assert run(env, "192.0.2.100", "start")[0] == 0
    assert messages(env)[-2] == "INFO: The ip route has been already set.(192.0.2.0/24, eth0, default via 192.0.2.1 )"
    assert run(env, "192.0.2.100", "stop") == (0, "INFO:  Success\n")
    assert env.net.calls[-2:] == [("replace", "192.0.2.0/24", "eth0", 2, "192.0.2.11", 0), ("change", 0, "192.0.2.11")]
    # the default route now names the primary address: a second stop fails, as the original's does
    assert run(env, "192.0.2.100", "stop") == (1, "ERROR:  Generic error\n")
    assert messages(env)[-2] == "ERROR: The address you specified to stop does not match the preferred source address"


def test_stop_of_an_unset_source_does_nothing(env):
    assert run(env, "192.0.2.100", "stop") == (0, "INFO:  Success\n")
    assert messages(env)[0] == "INFO: No preferred source address defined, nothing to stop"
    assert env.net.calls == []


@pytest.mark.parametrize("ip, rc, stop_rc, message", [
    ("192.0.2.77", 5, 0, "ERROR: We are not serving [192.0.2.77], hence can not make it a preferred source address"),
    ("x", 6, 0, "ERROR: Invalid IP address [x]"),
    ("127.0.0.1", 6, 6,
     "ERROR: IP address [127.0.0.1] is a loopback address, thus can not be preferred source address"),
])
def test_bad_addresses_change_nothing(env, ip, rc, stop_rc, message):
    assert run(env, ip, "start")[0] == rc
    assert messages(env)[0] == message
    assert run(env, ip, "stop")[0] == stop_rc
    assert env.net.calls == []


def test_without_a_default_route(env):
    env.net.table = [LINK]
    assert run(env, "192.0.2.100", "status")[0] == 7  # a probe
    assert run(env, "192.0.2.100", "start") == (1, "ERROR:  Generic error\n")
    assert "ERROR: no matching route exists" in messages(env)
    assert run(env, "192.0.2.100", "stop")[0] == 0
    assert env.net.calls == []


def test_usage_goes_to_stderr(env, capfd):
    assert run(env, "192.0.2.100") == (1, "")
    assert capfd.readouterr().err == ("usage: /etc/ha.d/resource.d/IPsrcaddr <ip-address> "
                                      "(start|stop|status|usage|meta-data)\n")
