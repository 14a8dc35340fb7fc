"""IPv4 addresses and links through netlink (pyroute2): what ifconfig and ip do for the agents."""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import sys
from dataclasses import dataclass


def _defer_pyroute2_init() -> None:
    """pyroute2's package ``__init__`` imports every subsystem it has (IPDB, NDB, conntrack,
    nftables, wireguard...): about a second per agent run, and ResourceManager runs the
    agents one after the other during a takeover. If nobody has imported pyroute2 yet, the
    package module is created without running its ``__init__``, so that importing
    ``pyroute2.iproute`` loads only what the route socket needs. A name looked up on the
    package is its submodule if there is one (``from pyroute2 import config``, as pyroute2
    itself does); any other runs the real ``__init__`` first, so ``from pyroute2 import
    IPRoute`` keeps working elsewhere."""
    if "pyroute2" in sys.modules:
        return
    spec = importlib.util.find_spec("pyroute2")
    package = importlib.util.module_from_spec(spec)
    state = {"initialised": False}

    def __getattr__(name: str):
        if not name.startswith("__") and importlib.util.find_spec(f"pyroute2.{name}") is not None:
            return importlib.import_module(f"pyroute2.{name}")
        if state["initialised"] or name.startswith("__"):
            raise AttributeError(f"module 'pyroute2' has no attribute {name!r}")
        state["initialised"] = True
        spec.loader.exec_module(package)
        return getattr(package, name)

    package.__getattr__ = __getattr__
    sys.modules["pyroute2"] = package


_defer_pyroute2_init()

from pyroute2.iproute.linux import IPRoute  # noqa: E402  (after the deferral above)
from pyroute2.netlink.exceptions import NetlinkError  # noqa: E402

AF_INET = 2
MAIN_TABLE = 254
LOCAL_TABLE = 255
RTN_UNICAST = 1
RTN_LOCAL = 2
RTPROT_BOOT = 3
IFA_F_SECONDARY = 0x01
SCOPE_UNIVERSE = 0
SCOPE_LINK = 253


class NetlinkFailure(Exception):
    """A refused netlink request; ``errno`` as the kernel gave it."""

    def __init__(self, what: str, err: NetlinkError):
        self.errno = err.code
        self.strerror = os.strerror(err.code)
        super().__init__(f"{what}: {self.strerror}")


@dataclass(frozen=True)
class Address:
    ifname: str  # the device
    label: str  # "eth0" for the device's own, "eth0:0" for an alias
    address: str
    prefixlen: int
    broadcast: str | None
    secondary: bool = False


@dataclass(frozen=True)
class Route:
    ifname: str
    dest: ipaddress.IPv4Address
    prefixlen: int
    metric: int = 0
    scope: int = SCOPE_UNIVERSE
    prefsrc: str | None = None
    gateway: str | None = None
    proto: int = RTPROT_BOOT

    def covers(self, ip: ipaddress.IPv4Address) -> bool:
        return ip in ipaddress.IPv4Network(f"{self.dest}/{self.prefixlen}", strict=False)


def routes(table: int = MAIN_TABLE, kind: int = RTN_UNICAST) -> list[Route]:
    """IPv4 routes of one table and type, in the kernel's order."""
    with IPRoute() as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        found = []
        for msg in ipr.get_routes(family=AF_INET, table=table):
            oif = msg.get_attr("RTA_OIF")
            if msg["type"] != kind or oif not in names:
                continue
            found.append(Route(names[oif], ipaddress.IPv4Address(msg.get_attr("RTA_DST") or "0.0.0.0"),
                               msg["dst_len"], msg.get_attr("RTA_PRIORITY") or 0, msg["scope"],
                               msg.get_attr("RTA_PREFSRC"), msg.get_attr("RTA_GATEWAY"), msg["proto"]))
        return found


def loopback() -> str | None:
    """The name of the loopback device."""
    iff_loopback = 0x8
    with IPRoute() as ipr:
        for link in ipr.get_links():
            if link["flags"] & iff_loopback:
                return link.get_attr("IFLA_IFNAME")
    return None


def addresses() -> list[Address]:
    with IPRoute() as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        found = []
        for msg in ipr.get_addr(family=AF_INET):
            ifname = names.get(msg["index"], "")
            found.append(Address(ifname, msg.get_attr("IFA_LABEL") or ifname,
                                 msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS"),
                                 msg["prefixlen"], msg.get_attr("IFA_BROADCAST"),
                                 bool(msg["flags"] & IFA_F_SECONDARY)))
        return found


def _index(ipr: IPRoute, ifname: str) -> int:
    found = ipr.link_lookup(ifname=ifname)
    if not found:
        raise NetlinkFailure(f"{ifname}", NetlinkError(19, "No such device"))
    return found[0]


def add_address(ifname: str, address: str, prefixlen: int, broadcast: str | None, label: str | None) -> None:
    extra = {"broadcast": broadcast} if broadcast else {}
    if label:
        extra["label"] = label
    with IPRoute() as ipr:
        try:
            index = _index(ipr, ifname)
            ipr.addr("add", index=index, address=address, prefixlen=prefixlen, **extra)
        except NetlinkError as e:
            raise NetlinkFailure(f"adding {address}/{prefixlen} to {ifname}", e) from None


def set_link(ifname: str, up: bool) -> None:
    with IPRoute() as ipr:
        try:
            ipr.link("set", index=_index(ipr, ifname), state="up" if up else "down")
        except NetlinkError as e:
            raise NetlinkFailure(f"setting {ifname} {'up' if up else 'down'}", e) from None


def delete_address(entry: Address) -> None:
    with IPRoute() as ipr:
        try:
            ipr.addr("del", index=_index(ipr, entry.ifname), address=entry.address, prefixlen=entry.prefixlen)
        except NetlinkError as e:
            raise NetlinkFailure(f"deleting {entry.address}/{entry.prefixlen} from {entry.ifname}", e) from None


def delete_host_route(address: str, ifname: str | None = None) -> None:
    """`route -n del -host ADDRESS` / `ip route delete ADDRESS [dev IFNAME]` (main table)."""
    with IPRoute() as ipr:
        try:
            extra = {"oif": _index(ipr, ifname)} if ifname else {}
            ipr.route("del", dst=f"{address}/32", table=MAIN_TABLE, **extra)
        except NetlinkError as e:
            raise NetlinkFailure(f"deleting the route to {address}", e) from None


def replace_route(dest: str, prefixlen: int, ifname: str, proto: int, prefsrc: str, metric: int) -> None:
    """`ip route replace DEST/LEN dev IFNAME proto P scope link src PREFSRC [metric M]`."""
    with IPRoute() as ipr:
        try:
            ipr.route("replace", dst=f"{dest}/{prefixlen}", oif=_index(ipr, ifname), proto=proto, scope=SCOPE_LINK,
                      prefsrc=prefsrc, table=MAIN_TABLE, **({"priority": metric} if metric else {}))
        except NetlinkError as e:
            raise NetlinkFailure(f"replacing the route to {dest}/{prefixlen}", e) from None


def change_source(route: Route, prefsrc: str) -> None:
    """`ip route change to ROUTE src PREFSRC`: the same route with another source address."""
    extra = {"gateway": route.gateway} if route.gateway else {}
    if route.metric:
        extra["priority"] = route.metric
    with IPRoute() as ipr:
        try:
            ipr.route("change", dst=f"{route.dest}/{route.prefixlen}", oif=_index(ipr, route.ifname),
                      proto=route.proto, scope=route.scope, prefsrc=prefsrc, table=MAIN_TABLE, **extra)
        except NetlinkError as e:
            raise NetlinkFailure(f"changing the route to {route.dest}/{route.prefixlen}", e) from None
