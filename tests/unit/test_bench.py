"""make bench's arithmetic: which ARP frame counts as the new holder's first, and the medians."""

from scapy.layers.l2 import ARP, Ether

from tests.bench import Sample, first_garp, medians, table
from tests.lab.capture import Frame
from tests.lab.cluster import VIP

NODE1, NODE2 = "02:00:c0:00:02:0b", "02:00:c0:00:02:0c"


def garp(when: float, mac: str, ip: str = VIP) -> Frame:
    return Frame(when, Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=mac, psrc=ip, pdst=ip))


def test_the_first_announcement_of_the_address_by_the_new_holder_after_the_fault():
    frames = [garp(99.0, NODE2), garp(100.2, NODE1), garp(100.3, NODE2, "192.0.2.12"), garp(100.5, NODE2),
              garp(100.75, NODE2)]
    assert first_garp(frames, NODE2, 100.0) == 0.5
    assert first_garp(frames, NODE1, 100.3) is None


def test_medians_count_only_the_rounds_that_measured():
    samples = [Sample("ours", 1, {"m": 1.0}), Sample("ours", 2, {"m": 3.0}), Sample("ours", 3, {"m": None}),
               Sample("real", 1, {"m": 5.0}), Sample("ours", 4, {"m": 2.0}, error="TimeoutError: x")]
    assert medians(samples, "ours", ["m"]) == {"m": (2.0, 3)}
    assert medians(samples, "real", ["m", "n"]) == {"m": (5.0, 1), "n": (None, 0)}
    text = table(samples, ["ours", "real"], ["m"], runs=4)
    assert "2.000 (n=3)" in text and "5.000 (n=1)" in text and "ours round 4 failed: TimeoutError: x" in text
