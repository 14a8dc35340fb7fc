"""send_arp: arguments, the exact frames, and the burst's count and spacing on a fake clock."""

import io
import os
from pathlib import Path
import time

import pytest
from scapy.layers.l2 import ARP, Ether

from heartbeat.resources.agents import sendarp
from heartbeat.resources.agents.sendarp import ARP_REPLY, ARP_REQUEST, Options, SendArpError

MAC = "02:00:c0:00:02:0b"


def test_ipaddr_arguments():
    opts = sendarp.parse_args(["-i", "500", "-r", "10", "-p", "/run/resource-agents/send_arp-192.0.2.100",
                               "eth0", "192.0.2.100", "auto", "192.0.2.100", "ffffffffffff"])
    assert opts == Options("eth0", "192.0.2.100", "auto", 500, 10, "/run/resource-agents/send_arp-192.0.2.100")


def test_defaults_and_explicit_mac():
    assert sendarp.parse_args(["eth0", "192.0.2.100", "02:00:C0:00:02:0B", "not_used", "not_used"]) == \
        Options("eth0", "192.0.2.100", MAC, 1000, 1, None)
    assert sendarp.parse_args(["eth0", "192.0.2.100", "0200c000020b", "x", "y"]).mac == MAC


@pytest.mark.parametrize("args", [[], ["eth0", "192.0.2.100", "auto", "x"],
                                  ["eth0", "192.0.2.100", "auto", "x", "y", "z"],
                                  ["-i", "0", "eth0", "192.0.2.100", "auto", "x", "y"],
                                  ["-r", "ten", "eth0", "192.0.2.100", "auto", "x", "y"],
                                  ["-z", "eth0", "192.0.2.100", "auto", "x", "y"],
                                  ["eth0", "192.0.2.1000", "auto", "x", "y"],
                                  ["eth0", "192.0.2.100", "02:00:c0", "x", "y"]])
def test_bad_arguments(args):
    with pytest.raises(SendArpError):
        sendarp.parse_args(args)


def test_bad_arguments_send_nothing_and_print_usage(tmp_path):
    err = io.StringIO()
    assert sendarp.main(["send_arp", "-p", str(tmp_path / "pid"), "eth0", "192.0.2.100"], {}, err) == 1
    assert "usage: send_arp [-i repeatinterval-ms]" in err.getvalue()
    assert not (tmp_path / "pid").exists()


def test_request_frame_fields():
    raw = sendarp.garp_frame(ARP_REQUEST, MAC, "192.0.2.100")
    assert len(raw) == 42
    frame = Ether(raw)
    assert (frame.dst, frame.src, frame.type) == ("ff:ff:ff:ff:ff:ff", MAC, 0x0806)
    arp = frame[ARP]
    assert (arp.op, arp.hwsrc, arp.psrc, arp.hwdst, arp.pdst) == (1, MAC, "192.0.2.100", "00:00:00:00:00:00",
                                                                  "192.0.2.100")
    assert (arp.hwtype, arp.ptype, arp.hwlen, arp.plen) == (1, 0x0800, 6, 4)


def test_reply_frame_names_our_own_mac():
    arp = Ether(sendarp.garp_frame(ARP_REPLY, MAC, "192.0.2.100"))[ARP]
    assert (arp.op, arp.hwsrc, arp.psrc, arp.hwdst, arp.pdst) == (2, MAC, "192.0.2.100", MAC, "192.0.2.100")


@pytest.mark.parametrize("op", [ARP_REQUEST, ARP_REPLY])
@pytest.mark.parametrize("mac, ip", [(MAC, "192.0.2.100"), ("ff:00:00:00:00:01", "198.51.100.255")])
def test_frames_are_byte_for_byte_what_a_packet_library_builds(op, mac, ip):
    # scapy, a test dependency only, is the independent oracle for the wire bytes
    target = "00:00:00:00:00:00" if op == ARP_REQUEST else mac
    assert sendarp.garp_frame(op, mac, ip) == bytes(
        Ether(dst="ff:ff:ff:ff:ff:ff", src=mac, type=0x0806) / ARP(op=op, hwsrc=mac, psrc=ip, hwdst=target, pdst=ip))


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.sent = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds

    def send(self, frame):
        self.sent.append((round(self.now - 100.0, 6), frame))
        self.now += 0.001  # a send takes time; the schedule must not drift by it


def test_ipaddr_burst_is_20_frames_250_ms_apart_starting_with_a_request():
    fake = FakeClock()
    n = sendarp.burst({ARP_REQUEST: b"req", ARP_REPLY: b"rep"}, 500, 10, fake.send, fake.clock, fake.sleep)
    assert n == 20
    assert [t for t, _ in fake.sent] == [i * 0.25 for i in range(20)]
    assert [f for _, f in fake.sent] == [b"req", b"rep"] * 10
    assert fake.now - 100.0 == pytest.approx(4.751)  # no pause after the last frame


def test_ipaddr2_burst_is_10_frames_100_ms_apart():
    fake = FakeClock()
    sendarp.burst({ARP_REQUEST: b"req", ARP_REPLY: b"rep"}, 200, 5, fake.send, fake.clock, fake.sleep)
    assert [t for t, _ in fake.sent] == pytest.approx([i * 0.1 for i in range(10)])


def test_a_burst_whose_first_request_the_agent_sent_keeps_that_frames_schedule():
    fake = FakeClock()
    first = fake.now - 0.04  # the agent sent it 40 ms before send_arp got going
    n = sendarp.burst({ARP_REQUEST: b"req", ARP_REPLY: b"rep"}, 500, 10, fake.send, fake.clock, fake.sleep,
                      first_sent=first)
    assert n == 19
    assert [t for t, _ in fake.sent] == pytest.approx([i * 0.25 - 0.04 for i in range(1, 20)])
    assert [f for _, f in fake.sent] == [b"rep"] + [b"req", b"rep"] * 9


def test_send_arp_later_than_its_second_frame_sends_it_at_once_and_the_rest_at_full_spacing():
    fake = FakeClock()
    sendarp.burst({ARP_REQUEST: b"req", ARP_REPLY: b"rep"}, 500, 10, fake.send, fake.clock, fake.sleep,
                  first_sent=fake.now - 0.6)
    assert [t for t, _ in fake.sent] == pytest.approx([i * 0.25 for i in range(19)])


IPADDR_OPTS = Options("eth0", "192.0.2.100", "auto", 500, 10)


@pytest.mark.parametrize("value, now, expected", [
    ("192.0.2.100 eth0 1000.250000", 1000.3, 1000.25),
    ("192.0.2.100 eth0 1000.0", 1005.0, 1000.0),     # the whole burst's length is still its own
    ("192.0.2.100 eth0 1000.0", 1005.01, None),      # later: some other burst's
    ("192.0.2.100 eth0 1000.5", 1000.0, None),       # the future
    ("192.0.2.101 eth0 1000.0", 1000.1, None),       # another address
    ("192.0.2.100 eth1 1000.0", 1000.1, None),       # another device
    ("192.0.2.100 eth0 soon", 1000.1, None),
    ("192.0.2.100 eth0 nan", 1000.1, None),
    ("192.0.2.100 eth0", 1000.1, None),
    ("", 1000.1, None),
    (None, 1000.1, None),
])
def test_the_agents_first_frame_counts_only_for_this_burst(value, now, expected):
    assert sendarp.first_sent_at(value, IPADDR_OPTS, now) == expected


def test_unknown_device_is_an_error_without_pid_file(tmp_path):
    err = io.StringIO()
    pid = tmp_path / "pid"
    assert sendarp.main(["send_arp", "-p", str(pid), "pyhb-nodev0", "192.0.2.100", "auto", "x", "y"], {}, err) == 1
    assert "send_arp: [" in err.getvalue() and "ERROR: Cannot find mac address for pyhb-nodev0" in err.getvalue()
    assert not pid.exists()


def test_pid_file_replaces_an_old_instance(tmp_path):
    pid = tmp_path / "send_arp-192.0.2.100"
    child = os.fork()
    if child == 0:  # an "old send_arp" that waits to be killed
        os.execvp("sleep", ["sleep", "30"])
    try:
        # only once it is `sleep` does it look like an old instance (bounded wait for the exec)
        for _ in range(500):
            if Path(f"/proc/{child}/cmdline").read_bytes().startswith(b"sleep"):
                break
            time.sleep(0.01)
        pid.write_text(f"{child}\n")
        logged = []
        pf = sendarp.PidFile(str(pid), lambda level, text: logged.append((level, text)))
        assert os.waitpid(child, 0)[1] != 0  # it was signalled
        assert logged == [("info", f"Killed old send_arp process [{child}]")]
        assert pid.read_text() == str(os.getpid())
        pf.remove()
        assert not pid.exists()
    finally:
        try:
            os.kill(child, 9)
            os.waitpid(child, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def test_default_pid_file_is_under_rsctmp():
    assert sendarp.default_pidfile("192.0.2.100", {}) == "/run/resource-agents/send_arp-192.0.2.100"
    assert sendarp.default_pidfile("192.0.2.100", {"HA_RSCTMP": "/x"}) == "/x/send_arp-192.0.2.100"
