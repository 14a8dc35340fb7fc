"""The netlink codec's pure parts: no kernel (tests/netns/test_netlink.py asks a real one)."""

import errno
import subprocess
import sys
from pathlib import Path

import pytest

from heartbeat.resources import netlink

CHECKOUT = Path(__file__).resolve().parents[2]


def test_the_agents_import_no_netlink_library():
    code = ("import sys, heartbeat.resources.agents.ipaddr, heartbeat.resources.agents.ipaddr2, heartbeat.resources.agents.ipsrcaddr\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pyroute2', 'scapy', 'netifaces'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=CHECKOUT)
    assert done.stdout == "[]\n", done.stderr


@pytest.mark.parametrize("data", [b"\x08\x00\x01\x00", b"\x02\x00\x01\x00", b"\x10\x00\x01\x00abcd", b"\x00\x00\x01\x00"])
def test_malformed_attributes_are_a_protocol_error(data):
    with pytest.raises(netlink.NetlinkError) as e:
        netlink._attributes(b"\x04\x00\x03\x00" + data, 0)
    assert e.value.code == errno.EPROTO
