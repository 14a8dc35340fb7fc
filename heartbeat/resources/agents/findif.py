"""findif: which interface, netmask and broadcast an IP alias gets (spec §15.2).

Input comes from the environment (``OCF_RESKEY_ip``, ``_cidr_netmask``, ``_broadcast``,
``_nic``), output is one line ``<nic><TAB>netmask <mask><TAB>broadcast <addr>`` with the
mask dotted, or in bits with ``-C``. Behaviour of resource-agents 4.12's findif, checked
against it:

* the route is the most specific matching route of the main table, then the lowest
  metric, the first on ties (the kernel's own order, which is what the original's scan of
  ``/proc/net/route`` amounts to);
* a given nic skips the route search; the netmask is then the given one or /32;
* an address in 127/8 without a netmask goes to the loopback interface with /8;
* only the default route matching, without a netmask, is refused;
* a dotted netmask is converted from its lowest set bit (``255.0.255.0`` is 24).

Exit status 0, 1 (no usable route) or 6 (bad parameters, with the usage text), 2 for a
bad command line.
"""

from __future__ import annotations

import ipaddress
import os
import sys

from heartbeat.config.addressarg import dotted_to_bits, invalid_netmask, netmask_prefix
from heartbeat.resources import netlink
from heartbeat.resources.netlink import Route
from heartbeat.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from typing import TextIO
    from collections.abc import Iterable, Mapping, Sequence

VERSION = "2.99.1"
RC_NO_ROUTE = 1
RC_USAGE = 2
RC_CONFIGURED = 6
LOOPBACK_PREFIX = 8


def usage_text(argv0: str) -> str:
    return (f"\n{argv0} version {VERSION} Copyright Alan Robertson\n\n"
            f"Usage: {argv0} [-C]\n"
            "Options:\n"
            "    -C: Output netmask as the number of bits rather than as 4 octets.\n"
            "Environment variables:\n"
            "OCF_RESKEY_ip\t\t ip address (mandatory!)\n"
            "OCF_RESKEY_cidr_netmask netmask of interface\n"
            "OCF_RESKEY_broadcast\t broadcast address for interface\n"
            "OCF_RESKEY_nic\t\t interface to assign to\n")


class FindifError(Exception):
    """``text`` goes to stderr as it is (the original ends some messages without a newline),
    followed by the usage text when ``usage``."""

    def __init__(self, rc: int, text: str, usage: bool):
        super().__init__(text.strip())
        self.rc, self.text, self.usage = rc, text, usage


@record
class Request:
    ip: str
    netmask: str = ""
    broadcast: str = ""
    nic: str = ""

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> Request:
        return cls(env.get("OCF_RESKEY_ip", ""), env.get("OCF_RESKEY_cidr_netmask", ""),
                   env.get("OCF_RESKEY_broadcast", ""), env.get("OCF_RESKEY_nic", ""))


@record
class Result:
    nic: str
    prefixlen: int
    broadcast: str
    notes: tuple[str, ...] = ()  # stderr lines printed on success too

    @property
    def netmask(self) -> str:
        return str(ipaddress.IPv4Network(f"0.0.0.0/{self.prefixlen}").netmask)

    def line(self, cidr: bool = False) -> str:
        mask = str(self.prefixlen) if cidr else self.netmask
        return f"{self.nic}\tnetmask {mask}\tbroadcast {self.broadcast}"


def _ipv4(text: str) -> ipaddress.IPv4Address | None:
    """inet_pton's view: exactly four decimal octets."""
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        return None


def parse_netmask(text: str, notes: list[str]) -> int:
    if "." in text:
        notes.append(f"Converted dotted-quad netmask to CIDR as: {dotted_to_bits(text)}\n")
    bits = netmask_prefix(text)
    if bits is None:
        raise FindifError(RC_CONFIGURED, invalid_netmask(text), usage=True)
    return bits


def best_route(ip: ipaddress.IPv4Address, routes: Iterable[Route]) -> Route | None:
    matching = [r for r in routes if r.covers(ip)]
    # sorted() is stable: among equals the kernel's order decides
    ranked = sorted(matching, key=lambda r: (-r.prefixlen, r.metric))
    return ranked[0] if ranked else None


def find(req: Request, routes: Sequence[Route], interfaces: Iterable[str], loopback: str | None) -> Result:
    """The interface, netmask and broadcast for ``req``; raises FindifError."""
    notes: list[str] = []
    ip, prefixlen = _checked(req, notes)
    if req.nic:
        nic, prefixlen = _named_nic(req, interfaces, notes), 32 if prefixlen is None else prefixlen
    elif prefixlen is None and ip in ipaddress.IPv4Network("127.0.0.0/8"):
        if loopback is None:
            raise FindifError(RC_NO_ROUTE, "No loopback interface found.\n", usage=False)
        nic, prefixlen = loopback, LOOPBACK_PREFIX
    else:
        nic, prefixlen = _routed(req, ip, prefixlen, routes, notes)
    broadcast = req.broadcast or str(ipaddress.IPv4Network(f"{ip}/{prefixlen}", strict=False).broadcast_address)
    return Result(nic, prefixlen, broadcast, tuple(notes))


def _checked(req: Request, notes: list[str]) -> tuple[ipaddress.IPv4Address, int | None]:
    """The address and the netmask's prefix length (None if not given) once the
    parameters are valid; raises FindifError."""
    if not req.ip:
        raise FindifError(RC_CONFIGURED, "ERROR: IP address parameter is mandatory.", usage=True)
    ip = _ipv4(req.ip)
    if ip is None:
        raise FindifError(RC_CONFIGURED, f"IP address [{req.ip}] not valid.", usage=True)
    prefixlen = parse_netmask(req.netmask, notes) if req.netmask else None
    if req.broadcast and _ipv4(req.broadcast) is None:
        raise FindifError(RC_CONFIGURED, f"Invalid broadcast address [{req.broadcast}].", usage=True)
    return ip, prefixlen


def _named_nic(req: Request, interfaces: Iterable[str], notes: list[str]) -> str:
    """The nic parameter, if the machine has it (an alias name is let through with a warning)."""
    if ":" in req.nic:
        notes.append(f"{req.nic}: warning: name may be invalid\n")
    elif req.nic not in set(interfaces):
        raise FindifError(RC_CONFIGURED, "".join(notes) + f"{req.nic}: unknown interface: No such device\n",
                          usage=True)
    return req.nic


def _routed(req: Request, ip: ipaddress.IPv4Address, prefixlen: int | None, routes: Sequence[Route],
            notes: list[str]) -> tuple[str, int]:
    """The interface of the best route to ``ip``, and the route's prefix length if none was given."""
    route = best_route(ip, routes)
    if route is None:
        raise FindifError(RC_NO_ROUTE, "".join(notes) + "No interface found.\n", usage=False)
    if prefixlen is None:
        if route.prefixlen == 0:
            raise FindifError(RC_NO_ROUTE, f"ERROR: Cannot use default route w/o netmask [{req.ip}]\n",
                              usage=False)
        prefixlen = route.prefixlen
    return route.ifname, prefixlen


# --- the system's view ----------------------------------------------------------------------

def lookup(req: Request) -> Result:
    """``find`` against this machine's routes and interfaces."""
    return find(req, netlink.routes(), netlink.interfaces(), netlink.loopback())


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    argv = sys.argv if argv is None else argv
    env = os.environ if environ is None else environ
    out, err = stdout or sys.stdout, stderr or sys.stderr
    if argv[1:] not in ([], ["-C"]):
        err.write(usage_text(argv[0]))
        return RC_USAGE
    try:
        result = lookup(Request.from_environ(env))
    except FindifError as e:
        err.write(e.text + (usage_text(argv[0]) if e.usage else ""))
        return e.rc
    err.write("".join(result.notes))
    out.write(result.line(cidr=argv[1:] == ["-C"]) + "\n")
    return 0
