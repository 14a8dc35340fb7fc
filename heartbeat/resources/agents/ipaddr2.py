"""IPaddr2: an address added the ``ip addr`` way (spec §15.3), and its resource.d wrapper.

``resource.d/IPaddr2 ip[/bits[/nic[:label][/broadcast]]] start|stop|status|monitor``,
with ``lvs_support`` on as the wrapper sets it. Behaviour of resource-agents 4.12's
IPaddr2 (IPv4), checked against it:

* the nic, prefix and broadcast come from its own route search (not the findif
  program): the most specific link-scope prefix route of the main table that covers
  ``ip[/bits]`` (the last on ties, only the nic's if one is given), the broadcast being
  the ``brd`` of the route's preferred source address; 127/8 falls back to the local
  table. A given nic and prefix need no route.
* "running" means the address with this prefix is on the nic (labelled or not);
  start then does nothing, not even ARP.
* start adds ``ip/bits [brd B] dev nic [label nic:label]``, brings the nic up and runs
  ``send_arp -i 200 -r 5`` in the background; an address found on ``lo`` (LVS) is moved
  out of the way first and put back by stop.
* stop kills a running send_arp, then deletes the address; the nic stays up.

The log lines name the ip(8) commands the original runs; here netlink does the work.
IPv6 addresses are refused (the legacy wrapper is only used with IPv4 here).
"""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys

from heartbeat.resources import netlink
from heartbeat.config.addressarg import parse_address_arg
from heartbeat.resources.agents.ipaddr import AddressAgent, in_background, kill_pidfile
from heartbeat.resources.agents.ocf import (ERR_CONFIGURED, ERR_GENERIC, ERR_PERM, NOT_RUNNING, SUCCESS, AgentFailure,
                                            Wrapper)
from heartbeat.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from typing import TextIO
    from collections.abc import Mapping, Sequence

TRUE_WORDS = {"yes", "true", "1", "on", "y"}
MAX_LABEL = 15
_OCTET_1 = r"([1-9][0-9]?|1[0-9][0-9]|2[0-4][0-9]|25[0-5])"
_OCTET_0 = r"([0-9][0-9]?|1[0-9][0-9]|2[0-4][0-9]|25[0-5])"
IPV4 = re.compile(rf"{_OCTET_1}\.{_OCTET_0}\.{_OCTET_0}\.{_OCTET_0}")


class LookupFailure(Exception):
    """The route search failed; ``message`` was logged as an error, ``rc`` as findif's."""

    def __init__(self, rc: int, message: str):
        super().__init__(message)
        self.rc = rc


@record
class NicInfo:
    nic: str
    prefixlen: int
    broadcast: str  # "" when none was found


def dotted_to_cidr(netmask: str) -> tuple[str, str | None, str | None]:
    """(netmask, warning, error): a contiguous dotted quad becomes bits with a warning, a
    non-contiguous one stays as it is with an error; anything else is left alone."""
    if not re.fullmatch(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}", netmask):
        return netmask, None, None
    octets = [int(o) for o in netmask.split(".")]
    if any(o > 255 for o in octets):
        return netmask, None, None
    value = int.from_bytes(bytes(octets), "big")
    bits = bin(value).count("1")
    if value != (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF:
        return netmask, None, f"Bogus netmask: {netmask}"
    return str(bits), f"Please convert dotted quad netmask {netmask} to CIDR notation {bits}!", None


def prefix_ok(netmask: str) -> bool:
    return bool(re.fullmatch(r"[0-9]{1,3}", netmask)) and 1 <= int(netmask) <= 32


def check_params(ip: str, netmask: str, broadcast: str, nic: str, interfaces: Sequence[str]) -> None:
    """The parameter checks done for start (LookupFailure with findif's rc 6)."""
    if nic and nic not in interfaces:
        raise LookupFailure(ERR_CONFIGURED, f'Invalid interface name [{nic}]: Device "{nic}" does not exist.')
    if not IPV4.fullmatch(ip):
        raise LookupFailure(ERR_CONFIGURED, f"IP address [{ip}] not valid.")
    if netmask and not prefix_ok(netmask):
        raise LookupFailure(ERR_CONFIGURED, f"Invalid netmask specification [{netmask}].")
    if broadcast and not IPV4.fullmatch(broadcast) and broadcast not in ("+", "-"):
        raise LookupFailure(ERR_CONFIGURED, f"Invalid broadcast address [{broadcast}].")


def best_link_route(ip: str, netmask: str, nic: str, routes: Sequence[netlink.Route]) -> netlink.Route | None:
    """``ip route list match IP[/BITS] scope link``, prefix routes only, the longest (last on ties)."""
    address = ipaddress.IPv4Address(ip)
    best = None
    for route in routes:
        if route.scope != netlink.SCOPE_LINK or not 0 < route.prefixlen < 32 or not route.covers(address):
            continue
        if netmask and route.prefixlen > int(netmask):
            continue
        if nic and route.ifname != nic:
            continue
        if best is None or route.prefixlen >= best.prefixlen:
            best = route
    return best


def local_route(ip: str, routes: Sequence[netlink.Route]) -> netlink.Route | None:
    address = ipaddress.IPv4Address(ip)
    return next((r for r in routes if 0 < r.prefixlen < 32 and r.covers(address)), None)


def source_broadcast(prefsrc: str | None, addresses: Sequence[netlink.Address]) -> str:
    """The ``brd`` of the first address whose text contains the route's source (a grep)."""
    if not prefsrc:
        return ""
    for entry in addresses:
        if prefsrc in f"{entry.address}/{entry.prefixlen}":
            return entry.broadcast or ""
    return ""


def find_nic(ip: str, netmask: str, nic: str, broadcast: str, main: Sequence[netlink.Route],
             local: Sequence[netlink.Route], addresses: Sequence[netlink.Address]) -> NicInfo:
    """findif.sh's answer for IPv4 (parameters already checked)."""
    route = best_link_route(ip, netmask, nic, main) if IPV4.fullmatch(ip) else None
    if route is None and ip.startswith("127.") and IPV4.fullmatch(ip):
        route = local_route(ip, local)
    # outside start an unchecked bad netmask just matches no address (prefix -1)
    prefixlen = (int(netmask) if prefix_ok(netmask) else -1) if netmask else None
    if route is None:
        if not nic or prefixlen is None:
            raise LookupFailure(ERR_GENERIC, "Unable to find nic or netmask.")
        return NicInfo(nic, prefixlen, broadcast or source_broadcast(None, addresses))
    return NicInfo(nic or route.ifname, route.prefixlen if prefixlen is None else prefixlen,
                   broadcast or source_broadcast(route.prefsrc, addresses))


class IPaddr2(AddressAgent):
    TYPE = "IPaddr2"

    def flag(self, name: str, default: str) -> bool:
        return self.param(name, default).lower() in TRUE_WORDS

    def init(self, action: str) -> bool:
        """Parameters, route search and checks; False when stop has nothing to do."""
        self._check_request(action)
        nic, label = self.param("nic"), self.param("iflabel")
        if ":" in nic:
            nic, label = nic.split(":", 1)
        netmask, warning, error = dotted_to_cidr(self.param("cidr_netmask"))
        if warning:
            self.log.ocf_log("warn", warning)
        if error:
            self.log.ocf_log("err", error)
        info = self._located(action, netmask, nic)
        if info is None:
            return False
        self.nic, self.prefixlen, self.broadcast = info.nic, info.prefixlen, info.broadcast
        self.label = f"{self.nic}:{label}" if label else ""
        if len(self.label) > MAX_LABEL:
            raise AgentFailure(ERR_CONFIGURED, f"Interface label [{self.label}] exceeds maximum character limit of 15",
                               exit_reason=True)
        for name, default in (("arp_interval", "200"), ("arp_count", "5")):
            value = self.param(name, default)
            if not value.isdigit() or int(value) < 1:
                raise AgentFailure(ERR_CONFIGURED, f"Invalid OCF_RESKEY_{name} [{value}]", exit_reason=True)
        return True

    def _check_request(self, action: str) -> None:
        """An IPv4 address is given (stop may go without), and start and stop run as root."""
        if not self.ip and action != "stop":
            raise AgentFailure(ERR_CONFIGURED, "IP address (the ip parameter) is mandatory", exit_reason=True)
        if action in ("start", "stop") and os.geteuid() != 0:
            raise AgentFailure(ERR_PERM, f"You must be root for {action} operation.", exit_reason=True)
        if ":" in self.ip:
            raise AgentFailure(ERR_CONFIGURED, f"IPv6 address [{self.ip}] is not supported", exit_reason=True)

    def _located(self, action: str, netmask: str, nic: str) -> NicInfo | None:
        """The interface, prefix and broadcast for the address; when they cannot be found a probe
        is not running, a stop has nothing to do (None) and anything else fails."""
        try:
            if action == "start":
                check_params(self.ip, netmask, self.param("broadcast"), nic, self.interfaces())
            return find_nic(self.ip, netmask, nic, self.param("broadcast"), netlink.routes(),
                            netlink.routes(netlink.LOCAL_TABLE, kind=netlink.RTN_LOCAL), netlink.addresses())
        except LookupFailure as e:
            self.log.ocf_log("err", str(e))
            if self.probe(action):
                self.log.ocf_log("info", "[findif] failed")
                raise AgentFailure(NOT_RUNNING) from None
            if action == "stop":
                self.log.ocf_log("warn", "[findif] failed")
                return None
            raise AgentFailure(e.rc, "[findif] failed", exit_reason=True) from None

    def interfaces(self) -> list[str]:
        return netlink.interfaces()

    def devices_with(self, prefixlen: int) -> list[str]:
        return [a.ifname for a in netlink.addresses()
                if a.address == self.ip and a.prefixlen == prefixlen and not re.fullmatch(r"ipsec[0-9]+", a.ifname)]

    def served(self) -> bool:
        return bool(self.nic) and self.nic in self.devices_with(self.prefixlen)

    # --- ip(8) steps, logged as the original logs them ------------------------------------------

    def add_interface(self, ip: str, prefixlen: int, broadcast: str, iface: str, label: str) -> bool:
        if broadcast != "none":
            message = f"Adding inet address {ip}/{prefixlen} with broadcast address {broadcast} to device {iface}"
        else:
            message = f"Adding inet address {ip}/{prefixlen} to device {iface}"
        self.log.ocf_log("info", message + (f" (with label {label})" if label else ""))
        if broadcast == "+":
            broadcast = str(ipaddress.IPv4Network(f"{ip}/{prefixlen}", strict=False).broadcast_address)
        try:
            netlink.add_address(iface, ip, prefixlen, None if broadcast in ("none", "-") else broadcast, label or None)
        except netlink.NetlinkFailure as e:
            self.log.ocf_log("err", f"RTNETLINK answers: {e.strerror}")
            return False
        self.log.ocf_log("info", f"Bringing device {iface} up")
        try:
            netlink.set_link(iface, up=True)
        except netlink.NetlinkFailure as e:
            self.log.ocf_log("err", f"RTNETLINK answers: {e.strerror}")
            return False
        return True

    def delete_interface(self, ip: str, iface: str, prefixlen: int) -> bool:
        for entry in netlink.addresses():
            if (entry.ifname, entry.address, entry.prefixlen) == (iface, ip, prefixlen):
                try:
                    netlink.delete_address(entry)
                except netlink.NetlinkFailure as e:
                    self.log.ocf_log("err", f"RTNETLINK answers: {e.strerror}")
                    return False
                return True
        self.log.ocf_log("err", "RTNETLINK answers: Cannot assign requested address")
        return False

    @property
    def saved_loopback(self) -> str:
        return os.path.join(self.rsctmp, self.ip)

    def remove_conflicting_loopback(self, iface: str) -> None:
        self.log.ocf_log("info", f"Removing conflicting loopback {iface}.")
        try:
            os.makedirs(self.rsctmp, exist_ok=True)
            with open(self.saved_loopback, "w") as f:
                f.write(f"{self.ip} 32 255.255.255.255 {iface}\n")
        except OSError:
            self.log.ocf_log("err", f"Could not save conflicting loopback {iface}. it will not be restored.")
        self.delete_interface(self.ip, iface, 32)
        self.log.ocf_log("info", f"ip route delete {self.ip} dev {iface}")
        try:
            netlink.delete_host_route(self.ip, iface)
        except netlink.NetlinkFailure as e:
            sys.stderr.write(f"RTNETLINK answers: {e.strerror}\n")

    def restore_loopback(self) -> None:
        try:
            with open(self.saved_loopback) as f:
                saved = f.read().split()
        except OSError:
            return
        if len(saved) != 4:
            return
        self.log.ocf_log("info", f"Restoring loopback IP Address  {' '.join(saved)}.")
        self.add_interface(saved[0], int(saved[1]), saved[2], saved[3], "")
        os.unlink(self.saved_loopback)

    # --- actions --------------------------------------------------------------------------------

    def start(self) -> int:
        self.init("start")
        if self.served():
            return SUCCESS
        if self.flag("lvs_support", "false"):
            for iface in self.devices_with(32):
                if iface.startswith("lo"):
                    self.remove_conflicting_loopback(iface)
        if not self.add_interface(self.ip, self.prefixlen, self.broadcast or "none", self.nic, self.label):
            raise AgentFailure(ERR_GENERIC, f"Failed to add {self.ip}", exit_reason=True)
        if not self.nic.startswith("lo"):
            self.announce()
        return SUCCESS

    def announce(self) -> None:
        program = os.path.join(self.env.get("HA_BIN") or "/usr/libexec/heartbeat", "send_arp")
        self.send_first_request(program, self.nic)
        opts = self.param("send_arp_opts")
        argv = [program, *opts.split(), "-i", self.param("arp_interval", "200"), "-r", self.param("arp_count", "5"),
                "-p", self.sendarp_pidfile, self.nic, self.ip, "auto", "not_used", "not_used"]
        self.log.ocf_log("info", f"{program} {opts} " + " ".join(argv[1 + len(opts.split()):]))

        def done(rc: int, output: str | None) -> None:
            if rc:
                self.log.ocf_log("err", f"Could not send gratuitous arps: rc={rc}")
            self.log.ocf_log("info", output or "")

        if self.flag("arp_bg", "true"):
            in_background(argv, done, capture=True)
        else:
            out = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, errors="replace")
            done(out.returncode, out.stdout.rstrip("\n"))

    def stop(self) -> int:
        if not self.init("stop"):
            return SUCCESS
        killed = kill_pidfile(self.sendarp_pidfile)
        if killed is True:
            self.log.ocf_log("info", f"killed previously running send_arp for {self.ip}")
        elif killed is False:
            self.log.ocf_log("warn", f"Could not kill previously running send_arp for {self.ip}")
        served = self.served()
        self.log.ocf_log("info", f"IP status = {'ok' if served else 'no'}, IP_CIP=")
        if not served:
            return SUCCESS
        if not self.delete_interface(self.ip, self.nic, self.prefixlen):
            raise AgentFailure(ERR_GENERIC, f"Unable to remove IP [{self.ip} from interface [ {self.nic} ]",
                               exit_reason=True)
        if self.flag("lvs_support", "false"):
            self.restore_loopback()
        return SUCCESS

    def monitor(self) -> int:
        self.init("monitor")
        return SUCCESS if self.served() else NOT_RUNNING


def legacy_main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
                stdout: TextIO | None = None) -> int:
    """``resource.d/IPaddr2 ip[/bits[/nic[:label][/broadcast]]] OP``."""
    argv = sys.argv if argv is None else argv
    wrapper = Wrapper(IPaddr2, argv[0], "usage: $0 ip-address[/netmaskbits[/interface[:label][/broadcast]]]",
                      usage_exits=False, environ=environ, stdout=stdout)
    if len(argv) != 3:
        wrapper.usage()
        return 1
    params = {**parse_address_arg(argv[1]), "lvs_support": "1"}
    return wrapper.run(params, f"IPaddr2_{params['ip']}", argv[2])
