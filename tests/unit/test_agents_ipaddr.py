"""IPaddr and the legacy wrapper: argument mapping, alias choice, log lines and exit codes,
against a fake netlink and fake routes (no real interface is touched)."""

import io
import os
from ipaddress import IPv4Address

import pytest

from heartbeat.resources import netlink
from heartbeat.resources.agents import findif, ipaddr, sendarp
from heartbeat.resources.agents.findif import Route
from heartbeat.config.addressarg import parse_address_arg
from heartbeat.resources.agents.ipaddr import alias_candidates
from heartbeat.resources.netlink import Address

PRIMARY = Address("eth0", "eth0", "192.0.2.11", 24, "192.0.2.255")


class FakeNetlink:
    def __init__(self, entries=(PRIMARY,)):
        self.entries = list(entries)
        self.calls = []
        self.fail_add = False

    def addresses(self):
        # the kernel lists addresses by device (eth0 before eth1), in the order added
        return sorted(self.entries, key=lambda e: e.ifname)

    def add_address(self, ifname, address, prefixlen, broadcast, label):
        self.calls.append(("add", ifname, address, prefixlen, broadcast, label))
        if self.fail_add:
            raise netlink.NetlinkFailure("adding", netlink.NetlinkError(17, "File exists"))
        self.entries.append(Address(ifname, label or ifname, address, prefixlen, broadcast))

    def set_link(self, ifname, up):
        self.calls.append(("link", ifname, up))

    def delete_address(self, entry):
        self.calls.append(("del", entry.label, entry.address))
        self.entries.remove(entry)

    def delete_host_route(self, address, ifname=None):
        self.calls.append(("route-del", address) + ((ifname,) if ifname else ()))


@pytest.fixture
def env(tmp_path, monkeypatch):
    fake = FakeNetlink()
    for name in ("addresses", "add_address", "set_link", "delete_address", "delete_host_route"):
        monkeypatch.setattr(netlink, name, getattr(fake, name))
    routes = [Route("eth0", IPv4Address("0.0.0.0"), 0, 0), Route("eth0", IPv4Address("192.0.2.0"), 24, 0)]
    monkeypatch.setattr(findif, "lookup", lambda req: findif.find(req, routes, ["lo", "eth0", "eth1"], "lo"))
    (tmp_path / "rsctmp").mkdir()
    (tmp_path / "bin").mkdir()
    log, debug = tmp_path / "ha-log", tmp_path / "ha-debug"
    values = {"HA_RSCTMP": str(tmp_path / "rsctmp"), "HA_BIN": str(tmp_path / "bin"), "HA_LOGFILE": str(log),
              "HA_LOGFACILITY": "none", "HA_DATEFMT": "%Y/%m/%d_%T ", "HA_DEBUGLOG": str(debug), "HA_debug": "1"}
    monkeypatch.setattr(os, "isatty", lambda fd: False)
    return type("Env", (), {"values": values, "net": fake, "log": log, "debug": debug, "rsctmp": tmp_path / "rsctmp"})


def run(env, *argv):
    out = io.StringIO()
    rc = ipaddr.legacy_main(["/etc/ha.d/resource.d/IPaddr", *argv], env.values, out)
    return rc, out.getvalue()


def log_messages(env):
    """Messages after the date and tag: `<date>  <tag>:    <msg>`."""
    if not env.log.exists():
        return []
    return [line.split(":    ", 1)[1] for line in env.log.read_text().splitlines()]


def debug_messages(env):
    """Debug-file messages: `<tag>:<TAB><date> <msg>`."""
    return [line.split(" ", 1)[1] for line in env.debug.read_text().splitlines() if "DEBUG: " in line]


@pytest.mark.parametrize("arg, params", [
    ("192.0.2.100", {"ip": "192.0.2.100"}),
    ("192.0.2.100/24", {"ip": "192.0.2.100", "cidr_netmask": "24"}),
    ("192.0.2.100/24/eth0", {"ip": "192.0.2.100", "cidr_netmask": "24", "nic": "eth0", "broadcast": ""}),
    ("192.0.2.100/24/eth0/192.0.2.255", {"ip": "192.0.2.100", "cidr_netmask": "24", "nic": "eth0",
                                         "broadcast": "192.0.2.255"}),
    ("192.0.2.100/24/192.0.2.255", {"ip": "192.0.2.100", "cidr_netmask": "24", "broadcast": "192.0.2.255"}),
    ("192.0.2.100/255.255.255.0/eth0:1", {"ip": "192.0.2.100", "cidr_netmask": "255.255.255.0", "nic": "eth0:1",
                                          "broadcast": ""}),
    # runs of slashes are one separator, so an empty mask takes the next field
    ("192.0.2.100//eth0", {"ip": "192.0.2.100", "cidr_netmask": "eth0"}),
])
def test_legacy_argument_mapping(arg, params):
    assert parse_address_arg(arg) == params


def test_alias_numbers():
    assert list(alias_candidates("eth0", set(), set()))[:2] == ["eth0:0", "eth0:1"]
    assert next(alias_candidates("eth0", {"eth0:0"}, set())) == "eth0:1"
    # two stale links: the search starts at 2 ...
    assert next(alias_candidates("eth0", set(), {"IPaddr-eth0", "IPaddr-eth0:0", "IPaddr-eth0:1"})) == "eth0:2"
    # ... unless link number 2 itself exists, then at 0
    assert next(alias_candidates("eth0", set(), {"IPaddr-eth0:1", "IPaddr-eth0:2"})) == "eth0:0"
    assert len(list(alias_candidates("eth0", set(), set()))) == 512


def test_status_of_a_stopped_address(env):
    assert run(env, "192.0.2.100/24/eth0", "status") == (7, "INFO:  Resource is stopped\n")
    assert log_messages(env) == ["INFO:  Resource is stopped"]
    tag = env.log.read_text().split("  ", 1)[1].split(":    ")[0]
    assert tag == f"/usr/lib/ocf/resource.d//heartbeat/IPaddr(IPaddr_192.0.2.100)[{os.getpid()}]"


def test_start_adds_a_labelled_alias_and_logs_like_the_original(env):
    assert run(env, "192.0.2.100/24/eth0", "start") == (0, "INFO:  Success\n")
    assert env.net.calls == [("add", "eth0", "192.0.2.100", 24, "192.0.2.255", "eth0:0"), ("link", "eth0", True)]
    assert log_messages(env) == [
        "INFO: Using calculated netmask for 192.0.2.100: 255.255.255.0",
        "INFO: eval ifconfig eth0:0 192.0.2.100 netmask 255.255.255.0 broadcast 192.0.2.255",
        "INFO:  Success"]
    assert debug_messages(env) == ["DEBUG: Using calculated broadcast for 192.0.2.100: 192.0.2.255"]
    assert sorted(os.listdir(env.rsctmp)) == ["IPaddr-eth0", "IPaddr-eth0:0"]
    assert os.stat(env.rsctmp / "IPaddr-eth0").st_ino == os.stat(env.rsctmp / "IPaddr-eth0:0").st_ino
    assert run(env, "192.0.2.100/24/eth0", "status") == (0, "INFO:  Running OK\n")


def test_start_without_nic_or_mask_uses_the_calculated_ones(env):
    assert run(env, "192.0.2.100", "start")[0] == 0
    assert env.net.calls[0] == ("add", "eth0", "192.0.2.100", 24, "192.0.2.255", "eth0:0")
    # a missing nic is eth0 to the original, so it logs no "calculated nic"
    assert log_messages(env)[0] == "INFO: Using calculated netmask for 192.0.2.100: 255.255.255.0"


def test_missing_nic_means_eth0_so_a_route_through_another_nic_is_refused(env, monkeypatch):
    routes = [Route("eth1", IPv4Address("198.51.100.0"), 24, 0)]
    monkeypatch.setattr(findif, "lookup", lambda req: findif.find(req, routes, ["lo", "eth0", "eth1"], "lo"))
    assert run(env, "198.51.100.7", "start") == (2, "ERROR:  Illegal argument\n")
    assert log_messages(env)[0] == "ERROR: Invalid parameter value: nic [eth0] Calculated nic: [eth1]"
    assert env.net.calls == []


def test_an_empty_nic_from_the_environment_is_calculated(env, monkeypatch):
    routes = [Route("eth1", IPv4Address("198.51.100.0"), 24, 0)]
    monkeypatch.setattr(findif, "lookup", lambda req: findif.find(req, routes, ["lo", "eth0", "eth1"], "lo"))
    env.values["OCF_RESKEY_nic"] = ""
    assert run(env, "198.51.100.7", "start")[0] == 0
    assert log_messages(env)[0] == "INFO: Using calculated nic for 198.51.100.7: eth1"
    assert env.net.calls[0] == ("add", "eth1", "198.51.100.7", 24, "198.51.100.255", "eth1:0")


def test_dotted_mask_equal_to_findif_is_not_logged(env):
    assert run(env, "192.0.2.100/255.255.255.0/eth0", "start")[0] == 0
    assert not any("calculated netmask" in m for m in log_messages(env))


def test_start_twice_is_a_no_op(env):
    run(env, "192.0.2.100/24/eth0", "start")
    calls = len(env.net.calls)
    assert run(env, "192.0.2.100/24/eth0", "start") == (0, "INFO:  Success\n")
    assert len(env.net.calls) == calls


def test_second_address_gets_the_next_alias(env):
    run(env, "192.0.2.100/24/eth0", "start")
    run(env, "192.0.2.101/24/eth0", "start")
    assert env.net.calls[-2][5] == "eth0:1"


def test_stop_removes_the_alias_and_its_lock(env):
    run(env, "192.0.2.100/24/eth0", "start")
    (env.rsctmp / "send_arp-192.0.2.100").write_text("999999999\n")  # no such process
    assert run(env, "192.0.2.100/24/eth0", "stop") == (0, "INFO:  Success\n")
    assert env.net.calls[-2:] == [("route-del", "192.0.2.100"), ("del", "eth0:0", "192.0.2.100")]
    assert "INFO: ifconfig eth0:0 down" in log_messages(env)
    assert sorted(os.listdir(env.rsctmp)) == ["IPaddr-eth0"]
    assert run(env, "192.0.2.100/24/eth0", "status")[0] == 7


def test_stop_when_stopped_succeeds_and_changes_nothing(env):
    assert run(env, "192.0.2.100/24/eth0", "stop") == (0, "INFO:  Success\n")
    assert env.net.calls == []


def test_unlabelled_address_is_not_ours(env):
    env.net.entries.append(Address("eth0", "eth0", "192.0.2.100", 24, "192.0.2.255"))
    assert run(env, "192.0.2.100/24/eth0", "status")[0] == 7


def test_alias_on_another_nic_is_an_error(env):
    env.net.entries.append(Address("eth1", "eth1:0", "192.0.2.100", 24, "192.0.2.255"))
    assert run(env, "192.0.2.100/24/eth0", "status") == (1, "ERROR:  Generic error\n")
    assert log_messages(env)[0] == ("ERROR: 192.0.2.100 is running an interface (eth1) "
                                    "instead of the configured one (eth0)")
    # start adds it on eth0 all the same; eth0's alias is then the first one found
    assert run(env, "192.0.2.100/24/eth0", "start") == (0, "INFO:  Success\n")
    assert env.net.calls[0] == ("add", "eth0", "192.0.2.100", 24, "192.0.2.255", "eth0:0")
    assert run(env, "192.0.2.100/24/eth1", "status")[0] == 1


@pytest.mark.parametrize("arg, rc, message", [
    ("192.0.2.100/33/eth0", 1, None),
    ("192.0.2.100/24/eth7", 1, None),
    ("198.51.100.5", 1, None),
    ("bogus", 6, "ERROR: Parameter OCF_RESKEY_ip [bogus] not an IP address"),
    ("192.0.2.100/24/eth0/garbage", 1, None),
])
def test_bad_arguments_change_nothing(env, arg, rc, message, capfd):
    got, out = run(env, arg, "start")
    assert got == rc
    assert env.net.calls == [] and os.listdir(env.rsctmp) == []
    if message:
        assert log_messages(env)[0] == message
    if rc == 1:
        assert out == "ERROR:  Generic error\n"


def test_findif_failure_is_logged_with_its_rc(env):
    assert run(env, "192.0.2.100/33/eth0", "start")[0] == 1
    assert log_messages(env)[0] == f"ERROR: {env.values['HA_BIN']}/findif failed [rc=6]."


def test_given_broadcast_must_match(env):
    assert run(env, "192.0.2.100/24/eth0/192.0.2.77", "start")[0] == 0  # findif echoes a given broadcast
    env.net.calls.clear()
    assert run(env, "192.0.2.101/24/192.0.2.255", "start")[0] == 0


def test_failed_add_reports_like_ifconfig(env):
    env.net.fail_add = True
    rc, out = run(env, "192.0.2.100/24/eth0", "start")
    assert rc == 1
    assert out == ("ERROR: eval ifconfig eth0:0 192.0.2.100 netmask 255.255.255.0 broadcast 192.0.2.255 failed (rc=1)\n"
                   "ERROR:  Generic error\n")
    assert "ERROR: Could not add 192.0.2.100 to eth0: rc=1" in log_messages(env)


def test_send_arp_is_run_with_the_original_arguments(env, monkeypatch):
    program = env.rsctmp.parent / "bin" / "send_arp"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    started = []
    monkeypatch.setattr(ipaddr, "in_background", lambda argv, on_done: started.append(argv))
    assert run(env, "192.0.2.100/24/eth0", "start")[0] == 0
    assert started == [[str(program), "-i", "500", "-r", "10", "-p", f"{env.rsctmp}/send_arp-192.0.2.100",
                        "eth0", "192.0.2.100", "auto", "192.0.2.100", "ffffffffffff"]]
    assert "DEBUG: Sending Gratuitous Arp for 192.0.2.100 on eth0:0 [eth0]" in debug_messages(env)


def test_the_first_request_leaves_from_the_agent_and_send_arp_is_told_when(env, monkeypatch, first_requests):
    program = env.rsctmp.parent / "bin" / "send_arp"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    seen = []
    monkeypatch.setattr(ipaddr, "in_background",
                        lambda argv, on_done: seen.append(os.environ.get(sendarp.FIRST_SENT)))
    first_requests.answer = "192.0.2.100 eth0 12.500000"
    assert run(env, "192.0.2.100/24/eth0:3", "start")[0] == 0
    assert first_requests.sent == [("eth0", "192.0.2.100")]
    assert seen == ["192.0.2.100 eth0 12.500000"]


def test_no_frame_without_send_arp_installed(env, first_requests):
    assert run(env, "192.0.2.100/24/eth0", "start")[0] == 0
    assert first_requests.sent == []
    assert sendarp.FIRST_SENT not in os.environ


def test_arp_tunables_from_the_environment(env, monkeypatch):
    env.values["OCF_RESKEY_ARP_REPEAT"] = "0"
    assert run(env, "192.0.2.100/24/eth0", "start")[0] == 2
    assert log_messages(env)[0] == "ERROR: Invalid parameter value: ARP_REPEAT [0]"
    assert env.net.calls == []


@pytest.mark.parametrize("argv, rc, out", [
    ([], 1, "usage: /etc/ha.d/resource.d/IPaddr <ip-address> (start|stop|status|usage|meta-data)\n"),
    (["192.0.2.100", "start", "x"], 1,
     "usage: /etc/ha.d/resource.d/IPaddr <ip-address> (start|stop|status|usage|meta-data)\n"),
    (["192.0.2.100", ""], 1, "ERROR: No action specfied.\n"
                             "usage: /etc/ha.d/resource.d/IPaddr <ip-address> (start|stop|status|usage|meta-data)\n"),
    (["192.0.2.100", "reload"], 1,
     "ERROR: Unknown operation: reload\n"
     "usage: /etc/ha.d/resource.d/IPaddr <ip-address> (start|stop|status|usage|meta-data)\n"),
    (["192.0.2.100", "usage"], 1,
     "usage: /etc/ha.d/resource.d/IPaddr <ip-address> (start|stop|status|usage|meta-data)\n"),
])
def test_wrapper_usage_and_unknown_operations(env, argv, rc, out):
    assert run(env, *argv) == (rc, out)
    assert env.net.calls == []


def test_wrapper_2_1_4_tags(env):
    env.values["PYHB_LOGSTYLE"] = "2.1.4"
    run(env, "192.0.2.100/24/eth0", "status")
    assert env.log.read_text().startswith(f"IPaddr[{os.getpid()}]:\t")


def test_foreground_send_arp_failure_is_logged(env):
    program = env.rsctmp.parent / "bin" / "send_arp"
    program.write_text("#!/bin/sh\nexit 3\n")
    program.chmod(0o755)
    env.values["OCF_RESKEY_ARP_BACKGROUND"] = "no"
    assert run(env, "192.0.2.100/24/eth0", "start")[0] == 0
    assert "ERROR: Could not send gratuitous arps. rc=3" in log_messages(env)
