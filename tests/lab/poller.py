"""HTTP poller run inside a client node: `python3 poller.py ADDRESS OUTFILE`.

Every period it opens a new TCP connection to ADDRESS:80 (so each poll
follows the client's current ARP entry, as a real client would), asks for /
and writes one line: `start end answer`, Unix seconds, where answer is the
page (the serving node's name) or `-` when nothing came within the timeout.
"""

import argparse
import socket
import sys
import time


def poll(address: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((address, 80), timeout=timeout) as conn:
            conn.sendall(f"GET / HTTP/1.0\r\nHost: {address}\r\n\r\n".encode())
            data = b""
            for _ in range(64):  # a page is one short word; a few reads at most
                conn.settimeout(max(deadline - time.monotonic(), 0.001))
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return "-"
    head, _, body = data.partition(b"\r\n\r\n")
    words = body.split()
    return words[0].decode(errors="replace") if head.startswith(b"HTTP/1.") and b" 200 " in head and words else "-"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("address")
    parser.add_argument("outfile")
    parser.add_argument("--period", type=float, default=0.05)
    parser.add_argument("--timeout", type=float, default=0.2)
    parser.add_argument("--duration", type=float, default=600, help="stop after this many seconds")
    args = parser.parse_args()
    next_poll = time.monotonic()
    end = next_poll + args.duration
    with open(args.outfile, "a", buffering=1) as out:
        for _ in range(int(args.duration / args.period)):
            if time.monotonic() >= end:
                break
            start = time.time()
            answer = poll(args.address, args.timeout)
            out.write(f"{start:.6f} {time.time():.6f} {answer}\n")
            next_poll = max(next_poll + args.period, time.monotonic())
            time.sleep(max(next_poll - time.monotonic(), 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
