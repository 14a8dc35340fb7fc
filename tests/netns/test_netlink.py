"""The agents' netlink requests against a real kernel, in a network namespace of the test's
own (``unshare -n``, gone with the command): what ``ip`` shows afterwards is the check."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]

SETUP = """
ip link add pyhb0 address 02:00:c0:00:02:0b type veth peer name pyhb1
ip addr add 192.0.2.11/24 brd + dev pyhb0
ip link set pyhb0 up
ip link set pyhb1 up
ip route add 198.51.100.0/24 dev pyhb0 metric 7 proto static
ip route add default via 192.0.2.1 dev pyhb0
"""

PROBE = r"""
import json, subprocess
from heartbeat.resources import netlink as n

def ip(*args):
    return subprocess.run(["ip", "-4", "-o", *args], capture_output=True, text=True).stdout.split("\n")

def failure(call):
    try:
        call()
    except n.NetlinkFailure as e:
        return [e.errno, e.strerror, str(e)]
    return None

out = {}
out["interfaces"] = n.interfaces()
out["loopback"] = n.loopback()
out["addresses"] = [list(map(str, a)) for a in n.addresses()]
out["routes"] = [list(map(str, r)) for r in n.routes()]
out["local"] = [list(map(str, r)) for r in n.routes(n.LOCAL_TABLE, n.RTN_LOCAL)]
n.add_address("pyhb0", "192.0.2.100", 24, "192.0.2.255", "pyhb0:0")
n.add_address("pyhb0", "192.0.2.101", 24, None, None)
out["added"] = [l.split("\\")[0].split(": ", 1)[1] for l in ip("addr", "show", "dev", "pyhb0") if l]
out["duplicate"] = failure(lambda: n.add_address("pyhb0", "192.0.2.100", 24, None, None))
out["no device"] = failure(lambda: n.add_address("pyhb9", "192.0.2.100", 24, None, None))
out["bad address"] = failure(lambda: n.add_address("pyhb0", "192.0.2", 24, None, None))
out["secondary"] = [(a.label, a.secondary) for a in n.addresses() if a.ifname == "pyhb0"]
n.set_link("pyhb1", up=False)
def link_up():
    shown = subprocess.run(["ip", "-o", "link", "show", "pyhb1"], capture_output=True, text=True).stdout
    return "UP" in shown.split(">")[0]

out["link down"] = link_up()
n.set_link("pyhb1", up=True)
out["link up"] = link_up()
out["no host route"] = failure(lambda: n.delete_host_route("192.0.2.100"))
subprocess.run(["ip", "route", "add", "192.0.2.100/32", "dev", "pyhb0", "scope", "link"], check=True)
n.delete_host_route("192.0.2.100", "pyhb0")
n.replace_route("192.0.2.0", 24, "pyhb0", 3, "192.0.2.100", 0)
n.replace_route("198.51.100.0", 24, "pyhb0", 4, "192.0.2.101", 7)
out["replaced"] = [l for l in ip("route", "show") if l]
default = next(r for r in n.routes() if r.prefixlen == 0)
n.change_source(default, "192.0.2.100")
out["changed"] = [l for l in ip("route", "show") if l.startswith("default")]
n.delete_address(next(a for a in n.addresses() if a.label == "pyhb0:0"))
out["deleted"] = [l.split("\\")[0].split(": ", 1)[1] for l in ip("addr", "show", "dev", "pyhb0") if l]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def probe():
    script = SETUP + f"exec {sys.executable} -c '{PROBE}'\n"
    done = subprocess.run(["unshare", "-n", "sh", "-ec", script], capture_output=True, text=True, timeout=60,
                          cwd=CHECKOUT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_links_and_the_loopback(probe):
    assert probe["interfaces"] == ["lo", "pyhb1", "pyhb0"] or probe["interfaces"] == ["lo", "pyhb0", "pyhb1"]
    assert probe["loopback"] == "lo"


def test_addresses_and_routes_as_the_kernel_lists_them(probe):
    assert probe["addresses"] == [["pyhb0", "pyhb0", "192.0.2.11", "24", "192.0.2.255", "False"]]
    assert probe["routes"] == [["pyhb0", "0.0.0.0", "0", "0", "0", "None", "192.0.2.1", "3"],
                               ["pyhb0", "192.0.2.0", "24", "0", "253", "192.0.2.11", "None", "2"],
                               ["pyhb0", "198.51.100.0", "24", "7", "253", "None", "None", "4"]]
    assert ["pyhb0", "192.0.2.11", "32", "0", "254", "192.0.2.11", "None", "2"] in probe["local"]


def test_added_addresses_with_label_and_broadcast_are_secondaries(probe):
    assert probe["added"] == ["pyhb0    inet 192.0.2.11/24 brd 192.0.2.255 scope global pyhb0",
                              "pyhb0    inet 192.0.2.100/24 brd 192.0.2.255 scope global secondary pyhb0:0",
                              "pyhb0    inet 192.0.2.101/24 scope global secondary pyhb0"]
    assert probe["secondary"] == [["pyhb0", False], ["pyhb0:0", True], ["pyhb0", True]]


def test_refusals_carry_the_kernels_errno(probe):
    assert probe["duplicate"] == [17, "File exists", "adding 192.0.2.100/24 to pyhb0: File exists"]
    assert probe["no device"] == [19, "No such device", "adding 192.0.2.100/24 to pyhb9: No such device"]
    assert probe["bad address"] == [22, "Invalid argument", "adding 192.0.2/24 to pyhb0: Invalid argument"]
    assert probe["no host route"] == [3, "No such process", "deleting the route to 192.0.2.100: No such process"]


def test_link_state(probe):
    assert (probe["link up"], probe["link down"]) == (True, False)


def test_routes_replaced_changed_and_the_host_route_deleted(probe):
    assert probe["replaced"] == ["default via 192.0.2.1 dev pyhb0 ",
                                 # proto boot: ip names only others,
                                 "192.0.2.0/24 dev pyhb0 scope link src 192.0.2.100 ",
                                 "198.51.100.0/24 dev pyhb0 proto static scope link src 192.0.2.101 metric 7 "]
    assert probe["changed"] == ["default via 192.0.2.1 dev pyhb0 src 192.0.2.100 "]


def test_a_deleted_alias_is_gone(probe):
    assert probe["deleted"] == ["pyhb0    inet 192.0.2.11/24 brd 192.0.2.255 scope global pyhb0",
                                "pyhb0    inet 192.0.2.101/24 scope global secondary pyhb0"]
