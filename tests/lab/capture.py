"""Packet captures on a lab switch: tcpdump writes a pcap, scapy reads it back.

On the bridge (`br0`, the default) tcpdump's promiscuous mode makes the bridge
see every frame it forwards; on a port (`node1-eth0`) only that port's frames.
"""

from __future__ import annotations

import itertools
import subprocess
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .lab import Switch

_numbers = itertools.count()


class Frame(NamedTuple):
    time: float  # Unix seconds, comparable with time.time() taken by the test
    packet: object  # scapy Ether


class Capture:
    """Started at creation; `stop()` returns the frames (and is idempotent)."""

    def __init__(self, switch: Switch, iface: str = "br0", bpf: str = ""):
        from .lab import wait_for
        self.file = switch.lab.dir / f"{switch.name}-{iface}-{next(_numbers)}.pcap"
        self._log = self.file.with_suffix(".log")
        self.frames: list[Frame] | None = None
        with open(self._log, "wb") as log:
            # -Z root: tcpdump would drop to user tcpdump and could not write here (§6.11);
            # --immediate-mode: otherwise frames wait in a kernel block and are lost at stop
            self._proc = switch.spawn(["tcpdump", "-i", iface, "-n", "-U", "--immediate-mode", "-Z", "root",
                                       "-w", str(self.file), *bpf.split()], stderr=log)
        wait_for(lambda: self._proc.returncode is not None or b"listening on" in self._log.read_bytes(),
                 10, f"tcpdump on {switch.name}/{iface}")
        if self._proc.returncode is not None:
            raise RuntimeError(f"tcpdump on {switch.name}/{iface} failed: {self._log.read_text()}")

    def stop(self) -> list[Frame]:
        if self.frames is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
            import scapy.layers.inet  # noqa: F401  (registers Ether, ARP, IP, UDP, ICMP for rdpcap)
            from scapy.utils import rdpcap
            self.frames = [Frame(float(p.time), p) for p in rdpcap(str(self.file))]
        return self.frames
