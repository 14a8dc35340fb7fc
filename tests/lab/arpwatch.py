"""ARP prober run inside a client node: `python3 arpwatch.py IFACE OWN_IP ADDRESS OUTFILE`.

Every period it broadcasts `who-has ADDRESS` and collects the replies for the
period, then writes one line: `start end macs`, Unix seconds, where macs are the
distinct sender MACs that answered for ADDRESS (comma separated, sorted) or `-`.
Two MACs mean two machines claim the address: a split brain the client can see.
"""

from __future__ import annotations

import argparse
import select
import socket
import struct
import sys
import time

ETH_P_ARP = 0x0806


def request(own_mac: bytes, own_ip: str, address: str) -> bytes:
    ether = b"\xff" * 6 + own_mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + own_mac + socket.inet_aton(own_ip) + b"\0" * 6 \
        + socket.inet_aton(address)
    return ether + arp


def answerer(frame: bytes, address: bytes) -> str | None:
    """The sender MAC of an ARP reply for `address`, else None."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x06" or frame[20:22] != b"\x00\x02" or frame[28:32] != address:
        return None
    return frame[22:28].hex(":")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("iface")
    parser.add_argument("own_ip")
    parser.add_argument("address")
    parser.add_argument("outfile")
    parser.add_argument("--period", type=float, default=0.2)
    parser.add_argument("--duration", type=float, default=600, help="stop after this many seconds")
    args = parser.parse_args()
    with open(f"/sys/class/net/{args.iface}/address") as f:
        own_mac = bytes.fromhex(f.read().strip().replace(":", ""))
    target = socket.inet_aton(args.address)
    frame = request(own_mac, args.own_ip, args.address)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)) as sock, \
            open(args.outfile, "a", buffering=1) as out:
        sock.bind((args.iface, 0))
        for _ in range(int(args.duration / args.period)):
            start = time.time()
            sock.send(frame)
            macs = set()
            deadline = time.monotonic() + args.period
            for _ in range(1000):                  # bounded: a few replies per period
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([sock], [], [], left)[0]:
                    break
                mac = answerer(sock.recv(2048), target)
                if mac is not None:
                    macs.add(mac)
            out.write(f"{start:.6f} {time.time():.6f} {','.join(sorted(macs)) or '-'}\n")
    return 0


class ArpWatch:
    """Host side: the prober running in `client`, and its lines read back."""

    def __init__(self, client, own_ip: str, address: str, duration: float = 600, iface: str = "eth0"):
        self.client = client
        self.file = f"/tmp/arpwatch-{address}.log"
        self._proc = client.spawn([sys.executable, __file__, iface, own_ip, address, self.file,
                                   "--duration", str(duration)])

    def probes(self) -> list[tuple[float, float, tuple[str, ...]]]:
        return [(float(start), float(end), () if macs == "-" else tuple(macs.split(",")))
                for start, end, macs in self.client.records(self.file, 3)]

    def last_shared(self, after: float) -> float | None:
        """End of the last probe after `after` that two or more MACs answered."""
        return max((end for start, end, macs in self.probes() if start >= after and len(macs) > 1), default=None)

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(5)


if __name__ == "__main__":
    sys.exit(main())
