"""IPv4 addresses and links through netlink (pyroute2): what ifconfig and ip do for the agents."""

from __future__ import annotations

from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

AF_INET = 2


class NetlinkFailure(Exception):
    """A refused netlink request; ``errno`` as the kernel gave it."""

    def __init__(self, what: str, err: NetlinkError):
        super().__init__(f"{what}: {err.args[1] if len(err.args) > 1 else err}")
        self.errno = err.code


@dataclass(frozen=True)
class Address:
    ifname: str  # the device
    label: str  # "eth0" for the device's own, "eth0:0" for an alias
    address: str
    prefixlen: int
    broadcast: str | None


def addresses() -> list[Address]:
    with IPRoute() as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        found = []
        for msg in ipr.get_addr(family=AF_INET):
            ifname = names.get(msg["index"], "")
            found.append(Address(ifname, msg.get_attr("IFA_LABEL") or ifname,
                                 msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS"),
                                 msg["prefixlen"], msg.get_attr("IFA_BROADCAST")))
        return found


def _index(ipr: IPRoute, ifname: str) -> int:
    found = ipr.link_lookup(ifname=ifname)
    if not found:
        raise NetlinkFailure(f"{ifname}", NetlinkError(19, "No such device"))
    return found[0]


def add_address(ifname: str, address: str, prefixlen: int, broadcast: str | None, label: str | None) -> None:
    """Add the address and bring the device up (ifconfig does both, ip needs two steps)."""
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


def delete_host_route(address: str) -> bool:
    """`route -n del -host ADDRESS`: True if there was such a route."""
    with IPRoute() as ipr:
        try:
            ipr.route("del", dst=f"{address}/32", table=254)
        except NetlinkError:
            return False
    return True
