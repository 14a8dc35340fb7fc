"""Our media between two namespace nodes: bcast, mcast and ucast exchange signed messages,
ping and ping_group get the switch's echo replies back, and write failures are reported."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from heartbeat.config.hacf import parse_hacf
from heartbeat.daemon.media import MediumError, open_media
from tests.unit.test_media import CRC3, _log

AUTHKEYS = "auth 1\n1 sha1 pyhb-media-test\n"
SEND_INTERVAL = 0.1
STOP_WORD = "pyhb-media-result "


def agent(ha_cf: str, seconds: float, unplug: bool = False) -> None:
    """Runs inside a node: opens the media, sends a status every SEND_INTERVAL for ``seconds``,
    prints every datagram it received, decoded and authenticated, as JSON."""
    from heartbeat.core.auth import Authenticator
    from heartbeat.config.authkeys import parse_authkeys
    from heartbeat.core.codec import WireError, decode, encode
    from heartbeat.config.hacf import parse_hacf
    from heartbeat.daemon.log import DaemonLog, LogSettings
    from heartbeat.daemon.media import open_media
    from heartbeat.core.message import Message

    node = socket.gethostname()
    auth = Authenticator(parse_authkeys(AUTHKEYS, "authkeys", 0o600))
    log = DaemonLog(LogSettings(host=node, logfile="/var/log/ha-log", stderr=False))
    got: list[list] = []

    def receive(link: str, data: bytes) -> None:
        try:
            msg = decode(data, auth)
        except WireError as e:
            got.append([link, "undecodable", str(e)])
            return
        got.append([link, msg.get("src"), msg.get("t"), msg.get("info")])

    def send_all(media, seq: int) -> None:
        msg = Message.of(t="status", st="up", src=node, seq=f"{seq:x}", ts=f"{int(time.time()):x}")
        packet = encode(msg, auth)
        for medium in media:
            medium.send(packet, msg)

    async def run() -> None:
        media = await open_media(parse_hacf(ha_cf, "/etc/ha.d/ha.cf"), auth, log, receive)
        for seq in range(int(seconds / SEND_INTERVAL)):
            send_all(media, seq)
            await asyncio.sleep(SEND_INTERVAL)
        if unplug:
            subprocess.run(["ip", "link", "set", "eth0", "down"], check=True)
            for seq in range(12):
                send_all(media, 1000 + seq)
        for medium in media:
            medium.close()

    asyncio.run(run())
    print(STOP_WORD + json.dumps(got))


def _run_agents(nodes, ha_cf: dict, seconds: float = 2.5, unplug=()):
    def one(node):
        code = (f"from tests.netns.test_media import agent; "
                f"agent({ha_cf[node.name]!r}, {seconds!r}, {node.name in unplug!r})")
        out = node.python(code, timeout=30).stdout
        return json.loads(out.split(STOP_WORD, 1)[1])

    with ThreadPoolExecutor(len(nodes)) as pool:
        return dict(zip((n.name for n in nodes), pool.map(one, nodes)))


def _senders(received, link="eth0", t="status"):
    return {src for lk, src, *rest in received if lk == link and rest and rest[0] == t}


@pytest.fixture
def nodes(lab):
    sw = lab.switch("lan")
    sw.add_address("192.0.2.1/24")
    n1, n2 = lab.node("node1"), lab.node("node2")
    n1.attach(sw, "eth0", "192.0.2.11/24")
    n2.attach(sw, "eth0", "192.0.2.12/24")
    return n1, n2


BASE = "udpport 694\n{media}\nnode node1\nnode node2\n"


def test_bcast_exchange_and_write_failure_reporting(nodes):
    n1, n2 = nodes
    cf = BASE.format(media="bcast eth0")
    got = _run_agents(nodes, {"node1": cf, "node2": cf}, unplug=("node1",))
    assert _senders(got["node1"]) == {"node1", "node2"}  # a node hears its own broadcasts too
    assert _senders(got["node2"]) == {"node1", "node2"}
    log = n1.read("/var/log/ha-log")
    assert "info: glib: UDP Broadcast heartbeat started on port 694 (694) interface eth0" in log
    assert "info: glib: UDP Broadcast heartbeat closed on port 694 interface eth0 - Status: 1" in log
    assert "ERROR: glib: bcast_write: Unable to send HBcomm packet eth0 192.0.2.255:694 len=" in log
    assert log.count("ERROR: write_child: write failure on bcast eth0.: Network is unreachable") == 11
    assert log.count("WARN: Is a cable unplugged on bcast eth0?") == 1


def test_mcast_exchange_without_loopback(nodes):
    cf = BASE.format(media="mcast eth0 239.0.2.1 695 1 0")
    got = _run_agents(nodes, {"node1": cf, "node2": cf})
    assert _senders(got["node1"]) == {"node2"}
    assert _senders(got["node2"]) == {"node1"}
    assert ("info: glib: UDP multicast heartbeat started for group 239.0.2.1 port 695 interface eth0 (ttl=1 loop=0)"
            in nodes[0].read("/var/log/ha-log"))


def test_ucast_exchange_and_ping_replies_from_the_switch(nodes):
    n1, n2 = nodes
    ping = "ping 192.0.2.1\nping_group grp 192.0.2.1 192.0.2.77"
    got = _run_agents(nodes, {"node1": BASE.format(media=f"ucast eth0 192.0.2.12\n{ping}"),
                              "node2": BASE.format(media="ucast eth0 192.0.2.11")})
    assert _senders(got["node1"]) == {"node2"}
    assert _senders(got["node2"]) == {"node1"}
    pings = {tuple(r) for r in got["node1"] if r[0] != "eth0"}
    assert pings == {("192.0.2.1", "192.0.2.1", "NS_st", "ping"), ("grp", "grp", "NS_st", "ping_group")}
    log = n1.read("/var/log/ha-log")
    assert "info: glib: ucast: started on port 694 interface eth0 to 192.0.2.12" in log
    assert "info: glib: ping heartbeat started." in log and "info: glib: ping group heartbeat started." in log


# -- no lab, but root: a raw socket, a namespace of the test's own ----------------
def test_a_missing_interface_fails_with_the_original_text_and_closes_what_was_open(tmp_path):
    config = parse_hacf("ping 192.0.2.1\nbcast pyhb-no-such-if0\nnode node1\n", "ha.cf")

    async def run():
        with pytest.raises(MediumError, match=r"IP interface \[pyhb-no-such-if0\] does not exist"):
            await open_media(config, CRC3, _log(tmp_path), lambda name, data: None)

    asyncio.run(run())
    text = (tmp_path / "ha-log").read_text()
    assert "info: glib: ping heartbeat started." in text
    assert "ERROR: glib: IP interface [pyhb-no-such-if0] does not exist" in text
    assert text.endswith("ERROR: make_io_childpair: cannot open bcast pyhb-no-such-if0\n")


INTERFACE_PROBE = """
from heartbeat.daemon.media import MediumError
from heartbeat.daemon.media.udp import SIOCGIFADDR, _ifreq_ipv4, broadcast_address, interface_exists
print(interface_exists("lo"), interface_exists("nosuch0"), interface_exists("x" * 20), interface_exists("a\\\\0b"))
print(_ifreq_ipv4("lo", SIOCGIFADDR), broadcast_address("lo"))
for name in ("nosuch0", "x" * 20):
    try:
        broadcast_address(name)
    except MediumError as e:
        print(e)
"""


def test_interface_lookups_ask_the_kernel_in_a_private_network_namespace():
    # unshare -n: a namespace of our own that ends with the command, so nothing touches the host's
    script = f"ip addr add 192.0.2.5/24 brd 192.0.2.255 dev lo && exec {sys.executable} -c '{INTERFACE_PROBE}'"
    done = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "True False False False",
        "192.0.2.5 192.0.2.255",
        "Get broadcast for interface nosuch0 failed: No such device",
        f"Get broadcast for interface {'x' * 20} failed: No such device",
    ]
