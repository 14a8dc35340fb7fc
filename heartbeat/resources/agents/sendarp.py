"""send_arp: announce an address with gratuitous ARP (spec §15.2, lab-findings §3).

``send_arp [-i interval-ms] [-r count] [-p pidfile] device ip mac|auto bcast netmask``
sends ``count`` pairs: an ARP request (target MAC 00:00:00:00:00:00) and, half an interval
later, an ARP reply (target MAC = own MAC), both broadcast, sender = target = ``ip``; a pair
every ``interval`` ms, no pause after the last frame. IPaddr's ``-i 500 -r 10`` gives
20 frames 250 ms apart; defaults (measured on 3.0.6's send_arp) are one pair, 1000 ms.
The last two positionals are ignored, as in the original.

The pid file (default ``$HA_RSCTMP/send_arp-<ip>``) lets the agents' stop cut a burst
short (SIGTERM ends it with status 0, as the original's); an older instance recorded in
it is killed first.

IPaddr and IPaddr2 send the burst's first request themselves the moment the address is
up (``send_first_request``), before this program has even started, and say so in
``PYHEARTBEAT_ARP_FIRST_SENT``; this program then keeps that frame's time as the start
of its schedule and sends the rest, so the wire carries the same frames at the same
times, only the first one sooner. Another send_arp ignores the variable and sends one
request more.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import sys
import time

from heartbeat.resources import garp
from heartbeat.resources.garp import ARP_REPLY, ARP_REQUEST, default_pidfile, garp_frame
from heartbeat.logformat import format_line
from heartbeat.record import record
from heartbeat.daemon.statefiles import pid_alive

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from typing import Callable, TextIO
    from collections.abc import Iterator

DEFAULT_INTERVAL_MS = 1000
DEFAULT_COUNT = 1
FIRST_SENT = "PYHEARTBEAT_ARP_FIRST_SENT"  # "<ip> <device> <CLOCK_MONOTONIC seconds>"

USAGE = """send_arp: sends out custom ARP packet.
  usage: send_arp [-i repeatinterval-ms] [-r repeatcount] [-p pidfile] \\
              device src_ip_addr src_hw_addr broadcast_ip_addr netmask

  repeatinterval-ms: a request/reply pair every this many milliseconds
  repeatcount: how many pairs to send
  pidfile: pid file to use (default $HA_RSCTMP/send_arp-<src_ip_addr>)
  src_hw_addr: "auto" for the address of device
  broadcast_ip_addr, netmask: ignored
"""


class SendArpError(Exception):
    pass


@record
class Options:
    device: str
    ip: str
    mac: str  # "auto" or an address
    interval_ms: int = DEFAULT_INTERVAL_MS
    count: int = DEFAULT_COUNT
    pidfile: str | None = None


def parse_args(args: list[str]) -> Options:
    # getopt loads gettext and locale: only the send_arp program parses a command line,
    # the address agents import this module for send_first_request (issue 10)
    import getopt
    try:
        opts, rest = getopt.getopt(args, "i:r:p:")
    except getopt.GetoptError as e:
        raise SendArpError(str(e)) from None
    if len(rest) != 5:
        raise SendArpError(f"expected 5 arguments, got {len(rest)}")
    values = dict(opts)
    numbers = {}
    for flag, name in (("-i", "interval_ms"), ("-r", "count")):
        if flag in values:
            text = values[flag]
            if not text.isdigit() or int(text) < 1:
                raise SendArpError(f"{flag} needs a positive number, not {text!r}")
            numbers[name] = int(text)
    try:
        ipaddress.IPv4Address(rest[1])
    except ValueError:
        raise SendArpError(f"invalid source address {rest[1]!r}") from None
    mac = rest[2] if rest[2] == "auto" else normalise_mac(rest[2])
    return Options(rest[0], rest[1], mac, pidfile=values.get("-p"), **numbers)


def normalise_mac(text: str) -> str:
    digits = text.replace(":", "").lower()
    if len(digits) != 12 or any(c not in "0123456789abcdef" for c in digits):
        raise SendArpError(f"invalid hardware address {text!r}")
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))


def schedule(interval_ms: int, count: int) -> Iterator[tuple[float, int]]:
    """(seconds after the start, ARP op) of every frame."""
    half = interval_ms / 2000
    for i in range(count):
        yield 2 * i * half, ARP_REQUEST
        yield (2 * i + 1) * half, ARP_REPLY


def burst(frames: dict[int, bytes], interval_ms: int, count: int, send: Callable[[bytes], object],
          clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], object] = time.sleep,
          first_sent: float | None = None) -> int:
    """Send on schedule; deadlines are kept from the start, so slow sends do not add up.
    ``first_sent``: the first frame already left at that time, which starts the schedule;
    if we come later than the second frame's time, that one goes now and the rest follow
    it at full spacing, so no two frames come closer than the schedule's spacing."""
    start = clock()
    if first_sent is not None:
        start = max(first_sent, start - interval_ms / 2000)
    sent = 0
    for offset, op in schedule(interval_ms, count):
        if first_sent is not None and not offset:
            continue
        delay = start + offset - clock()
        if delay > 0:
            sleep(delay)
        send(frames[op])
        sent += 1
    return sent


def interface_mac(device: str) -> str:
    try:
        return garp.interface_mac(device)
    except OSError:
        raise SendArpError(f"Cannot find mac address for {device}") from None


def send_first_request(device: str, ip: str, clock: Callable[[], float] = time.monotonic) -> str | None:
    """Send the burst's first frame now, from the agent that has just added ``ip``; the value
    for ``FIRST_SENT`` when it left, None when it did not (send_arp then sends it, and
    reports why not)."""
    try:
        garp.send_now(device, ip, (ARP_REQUEST,))
    except OSError:
        return None
    return f"{ip} {device} {clock():.6f}"


def first_sent_at(value: str | None, opts: Options, now: float) -> float | None:
    """When the agent sent this burst's first frame, if ``value`` says it did for this very
    address and device, within the burst's own length; anything else: None."""
    words = (value or "").split()
    if len(words) != 3 or words[:2] != [opts.ip, opts.device]:
        return None
    try:
        when = float(words[2])
    except ValueError:
        return None
    return when if 0 <= now - when <= opts.count * opts.interval_ms / 1000 else None


class PidFile:
    """Our pid in ``path`` while we run; an older live instance found there is killed."""

    def __init__(self, path: str, log: Callable[[str, str], None]):
        self.path = path
        try:
            with open(path) as f:
                old = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            old = None
        if old is not None and old != os.getpid() and pid_alive(old):
            os.kill(old, signal.SIGTERM)
            log("info", f"Killed old send_arp process [{old}]")
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as f:
            f.write(str(os.getpid()))  # no newline, as the original writes it

    def remove(self) -> None:
        try:
            with open(self.path) as f:
                mine = f.read().split()[:1] == [str(os.getpid())]
            if mine:
                os.unlink(self.path)
        except OSError:
            pass


def main(argv: list[str] | None = None, environ=None, stderr: TextIO | None = None) -> int:
    argv = sys.argv if argv is None else argv
    env = os.environ if environ is None else environ
    err = stderr or sys.stderr

    def log(level: str, text: str) -> None:
        err.write(format_line(level, text, when=time.time(), pid=os.getpid(),
                              host=os.uname().nodename, entity="send_arp") + "\n")
        err.flush()

    try:
        opts = parse_args(argv[1:])
    except SendArpError as e:
        err.write(f"{os.path.basename(argv[0])}: {e}\n{USAGE}")
        return 1
    try:
        mac = interface_mac(opts.device) if opts.mac == "auto" else opts.mac
    except SendArpError as e:
        log("ERROR", str(e))
        return 1
    pidfile = PidFile(opts.pidfile or default_pidfile(opts.ip, env), log)

    def stopped(signum, frame):
        # the agents' stop cuts a burst short with SIGTERM: that is no failure
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stopped)
    try:
        with garp.raw_socket(opts.device) as sock:
            frames = {op: garp_frame(op, mac, opts.ip) for op in (ARP_REQUEST, ARP_REPLY)}
            burst(frames, opts.interval_ms, opts.count, sock.send,
                  first_sent=first_sent_at(env.get(FIRST_SENT), opts, time.monotonic()))
    except OSError as e:
        log("ERROR", f"Cannot send ARP on {opts.device}: {e.strerror}")
        return 1
    finally:
        pidfile.remove()
    return 0
