"""Unit tests touch no real interface: the agents' in-process gratuitous ARP is recorded, not sent.

The host's own eth0 is in 192.0.2.0/24, the addresses the agent tests use: a frame sent
from here would announce one of them on a real network. Tests that send frames do it in
a network namespace of their own (``unshare -n``), in a subprocess.
"""

import pytest

from heartbeat.agents import sendarp


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
