"""send_arp's first request on a real device: a veth pair in a network namespace of the
test's own (``unshare -n``, gone with the command), so nothing reaches the host's links."""

import subprocess
import sys
from pathlib import Path

from heartbeat.resources.agents import sendarp
from heartbeat.resources.agents.sendarp import ARP_REQUEST

MAC = "02:00:c0:00:02:0b"


WIRE_PROBE = """
import socket, sys
from heartbeat.resources.agents import sendarp
listener = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
listener.bind(("pyhb1", 0))
listener.settimeout(10)
print(sendarp.interface_mac("pyhb0"))
print(sendarp.send_first_request("pyhb0", "192.0.2.100", clock=lambda: 12.5))
print(listener.recv(100).hex())
print(sendarp.send_first_request("pyhb-nodev0", "192.0.2.100"))
"""


def test_the_agents_first_request_leaves_on_the_device_in_a_private_network_namespace():
    # unshare -n: a namespace of our own, gone with the command; nothing reaches the host's links
    setup = (f"ip link add pyhb0 address {MAC} type veth peer name pyhb1 && ip link set pyhb0 up && "
             f"ip link set pyhb1 up && exec {sys.executable} -c '{WIRE_PROBE}'")
    done = subprocess.run(["unshare", "-n", "sh", "-c", setup], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [MAC, "192.0.2.100 pyhb0 12.500000",
                                        sendarp.garp_frame(ARP_REQUEST, MAC, "192.0.2.100").hex(), "None"]
