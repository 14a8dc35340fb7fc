"""findif: route choice, netmask and broadcast, errors and their exit codes (resource-agents 4.12 behaviour)."""

import io
from ipaddress import IPv4Address

import pytest

from heartbeat.resources.agents import findif
from heartbeat.resources.agents.findif import FindifError, Request, Route

LAN = [Route("eth0", IPv4Address("0.0.0.0"), 0, 0), Route("eth0", IPv4Address("192.0.2.0"), 24, 0)]
IFACES = ["lo", "eth0", "eth1"]


def find(ip, netmask="", broadcast="", nic="", routes=LAN, loopback="lo"):
    return findif.find(Request(ip, netmask, broadcast, nic), routes, IFACES, loopback)


def test_calculated_netmask_and_broadcast_from_the_route():
    r = find("192.0.2.100")
    assert r.line() == "eth0\tnetmask 255.255.255.0\tbroadcast 192.0.2.255"
    assert r.line(cidr=True) == "eth0\tnetmask 24\tbroadcast 192.0.2.255"


@pytest.mark.parametrize("mask, line", [
    ("28", "eth0\tnetmask 255.255.255.240\tbroadcast 192.0.2.111"),
    ("32", "eth0\tnetmask 255.255.255.255\tbroadcast 192.0.2.100"),
    ("16", "eth0\tnetmask 255.255.0.0\tbroadcast 192.0.255.255"),
])
def test_given_bits_override_the_route(mask, line):
    assert find("192.0.2.100", mask).line() == line


def test_dotted_mask_is_converted_from_its_lowest_set_bit():
    r = find("192.0.2.100", "255.0.255.0")
    assert r.prefixlen == 24 and r.notes == ("Converted dotted-quad netmask to CIDR as: 24\n",)
    assert find("192.0.2.100", "255.255.0.0").netmask == "255.255.0.0"


@pytest.mark.parametrize("mask, note", [("0", ""), ("33", ""), ("-1", ""), ("024", ""), ("abc", ""), ("24x", ""),
                                        ("0.0.0.0", "Converted dotted-quad netmask to CIDR as: -1\n"),
                                        ("300.0.0.0", "Converted dotted-quad netmask to CIDR as: -1\n")])
def test_bad_netmasks(mask, note):
    with pytest.raises(FindifError) as e:
        find("192.0.2.100", mask)
    assert (e.value.rc, e.value.text, e.value.usage) == (6, f"Invalid netmask specification [{mask}]", True)


def test_most_specific_route_wins_then_lowest_metric_then_first():
    routes = [Route("d2", IPv4Address("198.51.100.0"), 25, 7), Route("d2", IPv4Address("198.51.100.0"), 24, 3),
              Route("d1", IPv4Address("198.51.100.0"), 24, 5), Route("d1", IPv4Address("192.0.2.0"), 24, 9),
              Route("d2", IPv4Address("192.0.2.0"), 24, 9)]
    assert find("198.51.100.3", routes=routes).line() == "d2\tnetmask 255.255.255.128\tbroadcast 198.51.100.127"
    assert find("198.51.100.200", routes=routes).nic == "d2"
    assert find("192.0.2.7", routes=routes).nic == "d1"


def test_default_route_only_needs_a_netmask():
    with pytest.raises(FindifError) as e:
        find("198.51.100.5")
    assert e.value.rc == 1 and e.value.text == "ERROR: Cannot use default route w/o netmask [198.51.100.5]\n"
    assert not e.value.usage
    assert find("198.51.100.5", "24").line() == "eth0\tnetmask 255.255.255.0\tbroadcast 198.51.100.255"


def test_no_route():
    with pytest.raises(FindifError) as e:
        find("198.51.100.5", routes=[])
    assert (e.value.rc, e.value.text) == (1, "No interface found.\n")


def test_given_nic_skips_routes_and_defaults_to_a_host_mask():
    assert find("198.51.100.5", nic="eth1", routes=[]).line() == "eth1\tnetmask 255.255.255.255\tbroadcast 198.51.100.5"
    assert find("192.0.2.100", "24", nic="eth1").line() == "eth1\tnetmask 255.255.255.0\tbroadcast 192.0.2.255"
    r = find("192.0.2.100", nic="eth0:3")
    assert r.nic == "eth0:3" and r.notes == ("eth0:3: warning: name may be invalid\n",)
    with pytest.raises(FindifError) as e:
        find("192.0.2.100", nic="eth7")
    assert (e.value.rc, e.value.text, e.value.usage) == (6, "eth7: unknown interface: No such device\n", True)


def test_loopback_addresses_without_netmask():
    assert find("127.0.0.5").line() == "lo\tnetmask 255.0.0.0\tbroadcast 127.255.255.255"
    assert find("127.0.0.5", "24").line() == "eth0\tnetmask 255.255.255.0\tbroadcast 127.0.0.255"
    with pytest.raises(FindifError):
        find("127.0.0.5", loopback=None)


def test_given_broadcast_is_echoed_when_valid():
    assert find("192.0.2.100", broadcast="192.0.2.77").broadcast == "192.0.2.77"
    for bad in ("garbage", "192.0.2.9999"):
        with pytest.raises(FindifError) as e:
            find("192.0.2.100", broadcast=bad)
        assert (e.value.rc, e.value.text) == (6, f"Invalid broadcast address [{bad}].")


@pytest.mark.parametrize("ip, text", [("", "ERROR: IP address parameter is mandatory."),
                                      ("bogus", "IP address [bogus] not valid."),
                                      ("192.0.2", "IP address [192.0.2] not valid."),
                                      (" 192.0.2.1", "IP address [ 192.0.2.1] not valid.")])
def test_bad_addresses(ip, text):
    with pytest.raises(FindifError) as e:
        find(ip)
    assert (e.value.rc, e.value.text, e.value.usage) == (6, text, True)


def test_main_prints_the_line_the_notes_and_the_usage(monkeypatch):
    monkeypatch.setattr(findif, "lookup", lambda req: findif.find(req, LAN, IFACES, "lo"))
    out, err = io.StringIO(), io.StringIO()
    assert findif.main(["/x/findif", "-C"], {"OCF_RESKEY_ip": "192.0.2.9", "OCF_RESKEY_cidr_netmask": "255.255.255.0"},
                       out, err) == 0
    assert out.getvalue() == "eth0\tnetmask 24\tbroadcast 192.0.2.255\n"
    assert err.getvalue() == "Converted dotted-quad netmask to CIDR as: 24\n"
    out, err = io.StringIO(), io.StringIO()
    assert findif.main(["/x/findif"], {"OCF_RESKEY_ip": "bogus"}, out, err) == 6
    assert out.getvalue() == ""
    assert err.getvalue().startswith("IP address [bogus] not valid.\n"
                                     "/x/findif version 2.99.1 Copyright Alan Robertson\n\n"
                                     "Usage: /x/findif [-C]\n")
    for bad in (["/x/findif", "-x"], ["/x/findif", "-C", "-C"], ["/x/findif", "extra"]):
        err = io.StringIO()
        assert findif.main(bad, {"OCF_RESKEY_ip": "192.0.2.9"}, io.StringIO(), err) == 2
        assert "Usage: /x/findif [-C]" in err.getvalue()
