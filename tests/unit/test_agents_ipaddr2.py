"""IPaddr2: its own route search, parameter checks, ip(8)-style log lines, LVS loopback
handling and exit codes, against a fake netlink (no real interface is touched)."""

import io
import os
from ipaddress import IPv4Address

import pytest

from heartbeat.resources import netlink
from heartbeat.resources.agents import ipaddr2
from heartbeat.resources.agents.ipaddr2 import LookupFailure, NicInfo, dotted_to_cidr, find_nic
from heartbeat.resources.netlink import SCOPE_LINK, Address, Route

PRIMARY = Address("eth0", "eth0", "192.0.2.11", 24, "192.0.2.255")
KERNEL = Route("eth0", IPv4Address("192.0.2.0"), 24, 0, SCOPE_LINK, "192.0.2.11")
DEFAULT = Route("eth0", IPv4Address("0.0.0.0"), 0, 0, 0, None)


def nic(ip, netmask="", name="", broadcast="", main=(DEFAULT, KERNEL), local=(), addresses=(PRIMARY,)):
    return find_nic(ip, netmask, name, broadcast, list(main), list(local), list(addresses))


def test_route_search_gives_nic_prefix_and_the_sources_broadcast():
    assert nic("192.0.2.100") == NicInfo("eth0", 24, "192.0.2.255")
    assert nic("192.0.2.100", "28") == NicInfo("eth0", 28, "192.0.2.255")
    # a route without a preferred source gives no broadcast
    bare = Route("eth1", IPv4Address("198.51.100.0"), 24, 0, SCOPE_LINK, None)
    assert nic("198.51.100.7", main=[bare]) == NicInfo("eth1", 24, "")


def test_route_search_longest_prefix_last_on_ties_and_only_the_given_nic():
    a = Route("eth1", IPv4Address("198.51.100.0"), 24, 0, SCOPE_LINK, None)
    b = Route("eth2", IPv4Address("198.51.100.0"), 25, 9, SCOPE_LINK, None)
    c = Route("eth3", IPv4Address("198.51.100.0"), 25, 1, SCOPE_LINK, None)
    assert nic("198.51.100.7", main=[a, b, c]).nic == "eth3"
    assert nic("198.51.100.7", name="eth1", main=[a, b, c]) == NicInfo("eth1", 24, "")
    # "match IP/BITS": a route narrower than the given prefix does not cover it
    assert nic("198.51.100.7", "24", main=[a, b, c]).nic == "eth1"


def test_default_host_and_universe_routes_do_not_count():
    host = Route("eth1", IPv4Address("198.51.100.7"), 32, 0, SCOPE_LINK, None)
    universe = Route("eth1", IPv4Address("198.51.100.0"), 24, 0, 0, None)
    with pytest.raises(LookupFailure) as e:
        nic("198.51.100.7", main=[DEFAULT, host, universe])
    assert (e.value.rc, str(e.value)) == (1, "Unable to find nic or netmask.")


def test_given_nic_and_prefix_need_no_route():
    assert nic("198.51.100.7", "24", "eth1", main=[]) == NicInfo("eth1", 24, "")
    assert nic("198.51.100.7", "24", "eth1", "198.51.100.255", main=[]).broadcast == "198.51.100.255"


def test_loopback_falls_back_to_the_local_table():
    local = Route("lo", IPv4Address("127.0.0.0"), 8, 0, 254, "127.0.0.1")
    assert nic("127.0.0.9", main=[], local=[local], addresses=[Address("lo", "lo", "127.0.0.1", 8, None)]) == \
        NicInfo("lo", 8, "")


@pytest.mark.parametrize("mask, result", [
    ("255.255.255.0", ("24", "Please convert dotted quad netmask 255.255.255.0 to CIDR notation 24!", None)),
    ("255.255.255.255", ("32", "Please convert dotted quad netmask 255.255.255.255 to CIDR notation 32!", None)),
    ("255.0.255.0", ("255.0.255.0", None, "Bogus netmask: 255.0.255.0")),
    ("256.0.0.0", ("256.0.0.0", None, None)),
    ("24", ("24", None, None)),
])
def test_dotted_netmasks(mask, result):
    assert dotted_to_cidr(mask) == result


@pytest.mark.parametrize("ip, mask, brd, name, message", [
    ("192.0.2.100", "", "", "eth9", 'Invalid interface name [eth9]: Device "eth9" does not exist.'),
    ("bogus", "24", "", "eth0", "IP address [bogus] not valid."),
    ("0.0.2.100", "", "", "", "IP address [0.0.2.100] not valid."),
    ("192.0.2.100", "33", "", "eth0", "Invalid netmask specification [33]."),
    ("192.0.2.100", "0", "", "eth0", "Invalid netmask specification [0]."),
    ("192.0.2.100", "24", "x", "eth0", "Invalid broadcast address [x]."),
])
def test_parameter_checks(ip, mask, brd, name, message):
    with pytest.raises(LookupFailure) as e:
        ipaddr2.check_params(ip, mask, brd, name, ["lo", "eth0"])
    assert (e.value.rc, str(e.value)) == (6, message)
    ipaddr2.check_params("192.0.2.100", "24", "+", "eth0", ["lo", "eth0"])


class FakeNetlink:
    def __init__(self):
        self.entries = [Address("lo", "lo", "127.0.0.1", 8, None), PRIMARY]
        self.calls = []

    def addresses(self):
        return list(self.entries)

    def routes(self, table=netlink.MAIN_TABLE, kind=1):
        return [DEFAULT, KERNEL] if table == netlink.MAIN_TABLE else []

    def add_address(self, ifname, address, prefixlen, broadcast, label):
        self.calls.append(("add", ifname, address, prefixlen, broadcast, label))
        self.entries.append(Address(ifname, label or ifname, address, prefixlen, broadcast))

    def set_link(self, ifname, up):
        self.calls.append(("link", ifname, up))

    def delete_address(self, entry):
        self.calls.append(("del", entry.ifname, entry.address, entry.prefixlen))
        self.entries.remove(entry)

    def delete_host_route(self, address, ifname=None):
        self.calls.append(("route-del", address, ifname))
        raise netlink.NetlinkFailure("x", netlink.NetlinkError(3, "No such process"))


@pytest.fixture
def env(tmp_path, monkeypatch):
    fake = FakeNetlink()
    for name in ("addresses", "routes", "add_address", "set_link", "delete_address", "delete_host_route"):
        monkeypatch.setattr(netlink, name, getattr(fake, name))
    monkeypatch.setattr(ipaddr2.IPaddr2, "interfaces", lambda self: ["lo", "eth0"])
    started = []
    monkeypatch.setattr(ipaddr2, "in_background", lambda argv, on_done, capture: started.append(argv))
    monkeypatch.setattr(os, "isatty", lambda fd: False)
    monkeypatch.setattr(os, "geteuid", lambda: 0)      # the daemon runs agents as root; the netlink is fake
    (tmp_path / "rsctmp").mkdir()
    values = {"HA_RSCTMP": str(tmp_path / "rsctmp"), "HA_BIN": "/usr/libexec/heartbeat", "HA_LOGFACILITY": "none",
              "HA_LOGFILE": str(tmp_path / "ha-log"), "HA_DEBUGLOG": str(tmp_path / "ha-debug")}
    return type("Env", (), {"values": values, "net": fake, "started": started, "rsctmp": tmp_path / "rsctmp",
                            "log": tmp_path / "ha-log"})


def run(env, *argv):
    out = io.StringIO()
    rc = ipaddr2.legacy_main(["/etc/ha.d/resource.d/IPaddr2", *argv], env.values, out)
    return rc, out.getvalue()


def messages(env):
    return [line.split(":    ", 1)[1] for line in env.log.read_text().splitlines()] if env.log.exists() else []


def test_start_with_a_label_then_status_and_stop(env):
    assert run(env, "192.0.2.100/24/eth0:web", "start") == (0, "INFO:  Success\n")
    assert env.net.calls == [("add", "eth0", "192.0.2.100", 24, "192.0.2.255", "eth0:web"), ("link", "eth0", True)]
    assert env.started == [["/usr/libexec/heartbeat/send_arp", "-i", "200", "-r", "5", "-p",
                            f"{env.rsctmp}/send_arp-192.0.2.100", "eth0", "192.0.2.100", "auto", "not_used",
                            "not_used"]]
    assert messages(env) == [
        "INFO: Adding inet address 192.0.2.100/24 with broadcast address 192.0.2.255 to device eth0 "
        "(with label eth0:web)",
        "INFO: Bringing device eth0 up",
        f"INFO: /usr/libexec/heartbeat/send_arp  -i 200 -r 5 -p {env.rsctmp}/send_arp-192.0.2.100 eth0 192.0.2.100 "
        "auto not_used not_used",
        "INFO:  Success"]
    assert run(env, "192.0.2.100/24/eth0:web", "status") == (0, "INFO:  Running OK\n")
    (env.rsctmp / "send_arp-192.0.2.100").write_text(f"{os.getpid()}0000\n")  # no such process
    assert run(env, "192.0.2.100/24/eth0:web", "stop") == (0, "INFO:  Success\n")
    assert env.net.calls[-1] == ("del", "eth0", "192.0.2.100", 24)
    assert messages(env)[-3:] == ["WARNING: Could not kill previously running send_arp for 192.0.2.100",
                                  "INFO: IP status = ok, IP_CIP=", "INFO:  Success"]
    assert not (env.rsctmp / "send_arp-192.0.2.100").exists()
    assert run(env, "192.0.2.100/24/eth0:web", "status") == (7, "INFO:  Resource is stopped\n")


def test_start_when_served_does_nothing_not_even_arp(env):
    env.net.entries.append(Address("eth0", "eth0", "192.0.2.100", 24, "192.0.2.255"))
    assert run(env, "192.0.2.100", "start")[0] == 0
    assert env.net.calls == [] and env.started == []


def test_lvs_loopback_is_moved_and_restored(env):
    env.net.entries.append(Address("lo", "lo", "192.0.2.100", 32, None))
    assert run(env, "192.0.2.100", "start")[0] == 0
    assert env.net.calls[:2] == [("del", "lo", "192.0.2.100", 32), ("route-del", "192.0.2.100", "lo")]
    assert (env.rsctmp / "192.0.2.100").read_text() == "192.0.2.100 32 255.255.255.255 lo\n"
    assert run(env, "192.0.2.100", "stop")[0] == 0
    assert env.net.calls[-3:] == [("del", "eth0", "192.0.2.100", 24),
                                  ("add", "lo", "192.0.2.100", 32, "255.255.255.255", None), ("link", "lo", True)]
    assert "INFO: Restoring loopback IP Address  192.0.2.100 32 255.255.255.255 lo." in messages(env)
    assert not (env.rsctmp / "192.0.2.100").exists()


def test_stop_of_an_address_that_is_not_there(env):
    assert run(env, "192.0.2.100/24/eth0", "stop") == (0, "INFO:  Success\n")
    assert messages(env) == ["INFO: IP status = no, IP_CIP=", "INFO:  Success"]
    assert env.net.calls == []


def test_stop_when_findif_fails_is_a_success(env):
    assert run(env, "198.51.100.7", "stop") == (0, "INFO:  Success\n")
    assert messages(env)[:2] == ["ERROR: Unable to find nic or netmask.", "WARNING: [findif] failed"]


@pytest.mark.parametrize("arg, rc, first", [
    ("192.0.2.100/33/eth0", 6, "ERROR: Invalid netmask specification [33]."),
    ("192.0.2.100/24/eth9", 6, 'ERROR: Invalid interface name [eth9]: Device "eth9" does not exist.'),
    ("198.51.100.77", 1, "ERROR: Unable to find nic or netmask."),
    ("bogus/24/eth0", 6, "ERROR: IP address [bogus] not valid."),
    ("192.0.2.100/24/eth0:averyverylonglabel", 6,
     "ERROR: Interface label [eth0:averyverylonglabel] exceeds maximum character limit of 15"),
])
def test_bad_arguments_change_nothing(env, arg, rc, first, capfd):
    got, out = run(env, arg, "start")
    assert got == rc
    assert messages(env)[0] == first
    assert env.net.calls == [] and env.started == []
    assert "ocf-exit-reason:" in capfd.readouterr().err


def test_arp_count_must_be_positive(env):
    env.values["OCF_RESKEY_arp_count"] = "0"
    assert run(env, "192.0.2.100/24/eth0", "start")[0] == 6
    assert messages(env)[0] == "ERROR: Invalid OCF_RESKEY_arp_count [0]"


def test_dotted_mask_is_converted_with_a_warning(env):
    assert run(env, "192.0.2.100/255.255.255.0/eth0", "start")[0] == 0
    assert messages(env)[0] == "WARNING: Please convert dotted quad netmask 255.255.255.0 to CIDR notation 24!"
    assert env.net.calls[0][3] == 24


def test_non_root_may_not_start(env, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert run(env, "192.0.2.100/24/eth0", "start") == (4, "ERROR:  User had insufficient privilege\n")
    assert run(env, "192.0.2.100/24/eth0", "status")[0] == 7


def test_usage_op_prints_and_succeeds_like_the_original(env):
    usage = ("usage: /etc/ha.d/resource.d/IPaddr2 ip-address[/netmaskbits[/interface[:label][/broadcast]]] "
             "(start|stop|status|usage|meta-data)\n")
    assert run(env, "192.0.2.100", "usage") == (0, usage + "INFO:  Success\n")
    assert run(env, "192.0.2.100") == (1, usage)


def test_status_without_a_route_is_a_probe_that_says_stopped(env):
    assert run(env, "198.51.100.7", "status") == (7, "INFO:  Resource is stopped\n")
    assert messages(env)[:2] == ["ERROR: Unable to find nic or netmask.", "INFO: [findif] failed"]
    env.values["OCF_RESKEY_CRM_meta_interval"] = "10000"  # a recurring monitor is no probe
    assert run(env, "198.51.100.7", "status") == (1, "ERROR:  Generic error\n")


def test_the_first_request_leaves_from_the_agent_on_the_nic(env, tmp_path, first_requests):
    program = tmp_path / "send_arp"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    env.values["HA_BIN"] = str(tmp_path)
    assert run(env, "192.0.2.100/24/eth0:web", "start")[0] == 0
    assert first_requests.sent == [("eth0", "192.0.2.100")]
    assert len(env.started) == 1


def test_foreground_send_arp_output_and_failure_are_logged(env, tmp_path):
    program = tmp_path / "send_arp"
    program.write_text("#!/bin/sh\necho sent some\nexit 3\n")
    program.chmod(0o755)
    env.values.update({"HA_BIN": str(tmp_path), "OCF_RESKEY_arp_bg": "false"})
    assert run(env, "192.0.2.100/24/eth0", "start")[0] == 0
    assert messages(env)[-3:-1] == ["ERROR: Could not send gratuitous arps: rc=3", "INFO: sent some"]
