"""The netlink codec's pure parts: no kernel (tests/netns/test_netlink.py asks a real one)."""

import errno
import ipaddress
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from heartbeat.resources import netlink

CHECKOUT = Path(__file__).resolve().parents[2]


def test_the_agents_import_no_netlink_library():
    code = ("import sys, heartbeat.resources.agents.ipaddr, heartbeat.resources.agents.ipaddr2\n"
            "import heartbeat.resources.agents.ipsrcaddr\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pyroute2', 'scapy', 'netifaces'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=CHECKOUT)
    assert done.stdout == "[]\n", done.stderr


@pytest.mark.parametrize("data", [b"\x08\x00\x01\x00", b"\x02\x00\x01\x00", b"\x10\x00\x01\x00abcd",
                                  b"\x00\x00\x01\x00"])
def test_malformed_attributes_are_a_protocol_error(data):
    with pytest.raises(netlink.NetlinkError) as e:
        netlink._attributes(b"\x04\x00\x03\x00" + data, 0)
    assert e.value.code == errno.EPROTO


class RecordingSocket:
    """In place of the rtnetlink socket: pyhb0 is link 7; requests are kept, not sent."""

    def __init__(self, sent):
        self.sent = sent

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def index(self, ifname):
        assert ifname == "pyhb0"
        return 7

    def request(self, kind, flags, body):
        self.sent.append((kind, flags, body))


def routes_sent(monkeypatch, call):
    """(rtmsg fields, attributes by kind, netlink flags) of each request ``call`` makes."""
    sent = []
    monkeypatch.setattr(netlink, "_Socket", lambda: RecordingSocket(sent))
    call()
    out = []
    for kind, flags, body in sent:
        assert kind == netlink.RTM_NEWROUTE
        out.append((netlink.RTMSG.unpack_from(body), netlink._attributes(body, netlink.RTMSG.size), flags))
    return out


def test_replace_route_asks_for_a_link_scope_route_with_its_source_and_metric(monkeypatch):
    [(head, attrs, flags)] = routes_sent(monkeypatch, lambda: netlink.replace_route(
        "198.51.100.0", 24, "pyhb0", 4, "192.0.2.100", 7))
    assert head == (socket.AF_INET, 24, 0, 0, netlink.MAIN_TABLE, 4, netlink.SCOPE_LINK, netlink.RTN_UNICAST, 0)
    assert attrs == {netlink.RTA_DST: bytes([198, 51, 100, 0]), netlink.RTA_OIF: struct.pack("=I", 7),
                     netlink.RTA_PREFSRC: bytes([192, 0, 2, 100]), netlink.RTA_PRIORITY: struct.pack("=I", 7)}
    assert flags == netlink.NLM_F_CREATE | netlink.NLM_F_REPLACE


def test_change_source_keeps_the_route_and_only_swaps_its_source(monkeypatch):
    default = netlink.Route("pyhb0", ipaddress.IPv4Address("0.0.0.0"), 0, 0, netlink.SCOPE_UNIVERSE,
                            "192.0.2.11", "192.0.2.1", netlink.RTPROT_BOOT)
    [(head, attrs, flags)] = routes_sent(monkeypatch, lambda: netlink.change_source(default, "192.0.2.100"))
    assert head == (socket.AF_INET, 0, 0, 0, netlink.MAIN_TABLE, netlink.RTPROT_BOOT, netlink.SCOPE_UNIVERSE,
                    netlink.RTN_UNICAST, 0)
    assert attrs == {netlink.RTA_OIF: struct.pack("=I", 7), netlink.RTA_GATEWAY: bytes([192, 0, 2, 1]),
                     netlink.RTA_PREFSRC: bytes([192, 0, 2, 100])}
    assert flags == netlink.NLM_F_REPLACE         # change: the route must exist


def test_a_refused_route_names_the_action_and_the_route(monkeypatch):
    class Refusing(RecordingSocket):
        def request(self, kind, flags, body):
            raise netlink.NetlinkError(errno.ENETUNREACH)

    monkeypatch.setattr(netlink, "_Socket", lambda: Refusing([]))
    with pytest.raises(netlink.NetlinkFailure, match=r"^replacing the route to 198\.51\.100\.0/24"):
        netlink.replace_route("198.51.100.0", 24, "pyhb0", 4, "192.0.2.100", 0)
    route = netlink.Route("pyhb0", ipaddress.IPv4Address("0.0.0.0"), 0)
    with pytest.raises(netlink.NetlinkFailure, match=r"^changing the route to 0\.0\.0\.0/0"):
        netlink.change_source(route, "192.0.2.100")
