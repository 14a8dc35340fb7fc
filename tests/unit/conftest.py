"""Unit tests touch no real interface: the agents' in-process gratuitous ARP is recorded, not sent.

The host's own eth0 is in 192.0.2.0/24, the addresses the agent tests use: a frame sent
from here would announce one of them on a real network. Tests that send frames do it in
a network namespace of their own (``unshare -n``), in a subprocess.
"""

import pytest

from heartbeat.resources.agents import sendarp


class FirstRequests:
    def __init__(self):
        self.sent = []  # (device, ip)
        self.answer = None  # what send_first_request returns

    def __call__(self, device, ip, clock=None):
        self.sent.append((device, ip))
        return self.answer


@pytest.fixture(autouse=True)
def first_requests(monkeypatch):
    recorder = FirstRequests()
    monkeypatch.setattr(sendarp, "send_first_request", recorder)
    monkeypatch.delenv(sendarp.FIRST_SENT, raising=False)
    return recorder


# the daemon's configuration trees, shared by the tests of the daemon's core
@pytest.fixture
def tree(tmp_path):
    from tests.unit.test_daemon import write_tree
    return write_tree(tmp_path)


@pytest.fixture
def held_tree(tmp_path):
    """node1 holds one group with an (inert) IPaddr script of its own."""
    from tests.unit.test_daemon import write_tree
    ha_dir = write_tree(tmp_path, resources="node1 192.0.2.10\n")
    agent = tmp_path / "ha.d" / "resource.d" / "IPaddr"
    agent.parent.mkdir()
    agent.write_text("#!/bin/sh\n")
    agent.chmod(0o755)
    return ha_dir
