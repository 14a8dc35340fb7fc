"""Issue 9: `arp_refresh` in pyheartbeat.cf. Both nodes of ours have `arp_refresh 2`; the
switch sees a gratuitous ARP pair for the VIP every 2 s from the node that holds it, and
none from the other; after hb_standby the refreshes come from the new holder only.

Times are the capture's (kernel stamps on the switch); the bounds are wide for a loaded
box, the spacing itself is printed.
"""

import statistics
import time

from tests.lab import Lab
from tests.lab.cluster import VIP, Cluster, log_size
from tests.lab.demo import CONFIG

INTERVAL_S = 2
WINDOW_S = 14.0
MACS = {"node1": "02:00:c0:00:02:0b", "node2": "02:00:c0:00:02:0c"}
BURST_S = 6.0            # IPaddr's own send_arp burst after a takeover: 10 pairs 500 ms apart


def garp_requests(frames) -> list[tuple[float, str]]:
    """(time, sender MAC) of every gratuitous ARP request for the VIP (sender = target = VIP)."""
    from scapy.layers.l2 import ARP
    return [(f.time, f.packet[ARP].hwsrc) for f in frames
            if ARP in f.packet and f.packet[ARP].op == 1 and f.packet[ARP].psrc == VIP == f.packet[ARP].pdst]


def watch(lab: Lab, cluster: Cluster, seconds: float) -> list[tuple[float, str]]:
    """The refreshes only: after the takeover's own burst is over."""
    time.sleep(BURST_S)
    cap = lab.capture(cluster.switch, "br0", "arp")
    time.sleep(seconds)
    return garp_requests(cap.stop())


def check_schedule(sent: list[tuple[float, str]], holder: str) -> str:
    assert {mac for _t, mac in sent} == {MACS[holder]}, sent
    times = [t for t, _mac in sent]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert WINDOW_S / INTERVAL_S - 2 <= len(times) <= WINDOW_S / INTERVAL_S + 1, times
    assert abs(statistics.median(gaps) - INTERVAL_S) < 0.3 and max(gaps) < 2 * INTERVAL_S, gaps
    return (f"{holder}: {len(times)} refreshes in {WINDOW_S:.0f} s, gaps median {statistics.median(gaps):.3f} s, "
            f"min {min(gaps):.3f} s, max {max(gaps):.3f} s")


def test_the_holder_alone_refreshes_its_address_every_interval():
    with Lab() as lab:
        cluster = Cluster(lab, "ours", CONFIG)
        for node in cluster.nodes.values():
            node.write("/etc/ha.d/pyheartbeat.cf", f"arp_refresh {INTERVAL_S}\n")
        poller = cluster.poll(duration=300)
        try:
            cluster.start_served(poller)
            report = [check_schedule(watch(lab, cluster, WINDOW_S), "node1")]
            marks = {name: log_size(node) for name, node in cluster.nodes.items()}
            moved = time.time()
            cluster.standby("node1")
            poller.wait_answer("node2", moved, 60)
            cluster.wait_settled()
            assert cluster.holder_of() == ["node2"]
            report.append(check_schedule(watch(lab, cluster, WINDOW_S), "node2"))
            logs = {name: node.read("/var/log/ha-log") for name, node in cluster.nodes.items()}
        finally:
            poller.stop()
    print("\n".join(report))
    for name, text in logs.items():
        # once at start, never per refresh at info level
        assert text.count(f"gratuitous ARP refresh every {INTERVAL_S} s") == 1, name
        assert "gratuitous ARP refresh:" not in text[marks[name]:]
