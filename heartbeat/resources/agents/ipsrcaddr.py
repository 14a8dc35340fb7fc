"""IPsrcaddr: make a local address the preferred source of outgoing traffic (spec §15.5).

``resource.d/IPsrcaddr ip start|stop|status`` (haresources ``IPsrcaddr::192.0.2.100``).
resource-agents 4.12's IPsrcaddr, checked against it: the address must be configured
here (not on ``lo``); its nic comes from IPaddr2's route search; start sets ``src ip`` on
the nic's link route and on its default route (``ip route replace`` / ``ip route
change``); stop sets both back to the nic's primary address; status is "running" while
the default route's source is this address. Every legacy status is an OCF probe, which
skips the "is the address here" check and accepts a missing default route.

A quirk kept: after a stop the default route keeps the primary address as its source, so
a second stop (ResourceManager releases every group on shutdown) fails with "The address
you specified to stop does not match the preferred source address".
"""

from __future__ import annotations

import ipaddress
import re
import sys

from heartbeat.resources import netlink
from heartbeat.resources.agents.ipaddr2 import LookupFailure, find_nic
from heartbeat.resources.agents.ocf import (ERR_ARGS, ERR_CONFIGURED, ERR_GENERIC, ERR_INSTALLED, NOT_RUNNING, SUCCESS,
                                            Agent, AgentFailure, Wrapper)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from typing import TextIO
    from collections.abc import Mapping

RTPROT_KERNEL = 2
# how ip(8) names route protocols; "boot" (what `ip route add` sets) is not printed
PROTO_NAMES = {2: "kernel", 4: "static", 8: "gated", 9: "ra", 10: "mrt", 11: "zebra", 12: "bird", 16: "dhcp"}
SET, UNSET, OTHER = 0, 1, 2  # what srca_read finds on the default route


def check_ip(ip: str) -> bool:
    """The original's CheckIP: four dotted numbers; 127.x is refused outright (exit 6)."""
    if not re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+", ip):
        return False
    octets = [int(o) for o in ip.split(".")]
    if all(o <= 254 for o in octets) and octets[0] == 127:
        raise AgentFailure(ERR_CONFIGURED, f"IP address [{ip}] is a loopback address, thus can not be preferred "
                                           "source address", exit_reason=True)
    return True


def proto_text(proto: int) -> str:
    if proto == netlink.RTPROT_BOOT:
        return ""
    return f"proto {PROTO_NAMES.get(proto, proto)}"


def route_text_without_src(route: netlink.Route) -> str:
    """The default route as ``ip route show ... dev NIC`` prints it, with its ``src X``
    cut out the way the original's sed does (leaving the blanks around it)."""
    head = " ".join(filter(None, ["default", f"via {route.gateway}" if route.gateway else "", proto_text(route.proto)]))
    tail = f" metric {route.metric}" if route.metric else ""
    return f"{head} {tail}" if route.prefsrc else f"{head}{tail}"


class IPsrcaddr(Agent):
    TYPE = "IPsrcaddr"

    @property
    def ip(self) -> str:
        return self.param("ipaddress")

    def prepare(self, action: str) -> bool:
        """Validation, nic and link route; False when stop is to succeed without doing anything."""
        if not self.ip:
            raise AgentFailure(ERR_CONFIGURED, "Please set OCF_RESKEY_ipaddress to the preferred source IP address!",
                               exit_reason=True)
        failure = self._bad_parameters()
        entries = netlink.addresses()
        if failure is None and not self.probe(action):
            failure = self._not_served(entries)
        if failure is not None:
            if action != "stop":
                raise failure
            if failure.message:
                self.exit_reason(failure.message)
            return False
        routes = netlink.routes()
        self._find_nic(routes, entries)
        self._read_link_route(action, routes)
        return True

    def _bad_parameters(self) -> AgentFailure | None:
        if "/" not in self.param("destination", "0.0.0.0/0"):
            return AgentFailure(ERR_CONFIGURED)
        if not check_ip(self.ip):
            return AgentFailure(ERR_CONFIGURED, f"Invalid IP address [{self.ip}]", exit_reason=True)
        return None

    def _not_served(self, entries: list[netlink.Address]) -> AgentFailure | None:
        """None when an interface other than loopback holds the address; loopback is refused at once."""
        served = [e.ifname for e in entries if f" {self.ip}" in f" {e.address}/{e.prefixlen}"]
        if not served:
            return AgentFailure(ERR_INSTALLED, f"We are not serving [{self.ip}], hence can not make it a "
                                               "preferred source address", exit_reason=True)
        if served[0].startswith("lo"):
            raise AgentFailure(ERR_CONFIGURED, f"IP address [{self.ip}] is served by loopback, thus can not be "
                                               "preferred source address", exit_reason=True)
        return None

    def _find_nic(self, routes: list[netlink.Route], entries: list[netlink.Address]) -> None:
        try:
            self.nic = find_nic(self.ip, "", "", "", routes, netlink.routes(netlink.LOCAL_TABLE, netlink.RTN_LOCAL),
                                entries).nic
        except LookupFailure as e:
            self.log.ocf_log("err", str(e))
            raise AgentFailure(e.rc, "[findif] failed", exit_reason=True) from None

    def _read_link_route(self, action: str, routes: list[netlink.Route]) -> None:
        """The nic's link-scope route to the address: its network, protocol and metric."""
        address = ipaddress.IPv4Address(self.ip)
        links = [r for r in routes if r.ifname == self.nic and r.scope == netlink.SCOPE_LINK and r.covers(address)]
        self.network = f"{links[0].dest}/{links[0].prefixlen}" if links else ""
        self.proto = links[-1].proto if links else netlink.RTPROT_BOOT
        self.metric = links[-1].metric if links else 0
        if not links:
            message = (f"command 'ip route list dev {self.nic} scope link {proto_text(self.proto)} match {self.ip}' "
                       "failed to find a matching route")
            if action == "start":
                raise AgentFailure(ERR_ARGS, message, exit_reason=True)
            self.log.ocf_log("debug" if self.probe(action) else "warn", message)

    def read_default(self, action: str) -> tuple[int, netlink.Route | None]:
        defaults = [r for r in netlink.routes() if r.prefixlen == 0 and r.ifname == self.nic]
        if len(defaults) > 1:
            raise AgentFailure(ERR_GENERIC, "more than 1 matching route exists", exit_reason=True)
        if not defaults and action != "stop" and not self.probe(action):
            raise AgentFailure(ERR_GENERIC, "no matching route exists", exit_reason=True)
        route = defaults[0] if defaults else None
        if route is None or not route.prefsrc:
            return UNSET, route
        if route.prefsrc == self.ip:
            return SET, route
        # a monitor sees another source on the default route as "not ours", a stop as an error
        return (UNSET if action == "monitor" else OTHER), route

    def set_source(self, route: netlink.Route, source: str, proto: int) -> None:
        prefix = self.network.split("/")
        metric = f" metric {self.metric}" if self.metric else ""
        try:
            netlink.replace_route(prefix[0], int(prefix[1]), self.nic, proto, source, self.metric)
        except (netlink.NetlinkFailure, IndexError, ValueError):
            raise AgentFailure(ERR_GENERIC, f"command 'ip route replace  {self.network} dev {self.nic} "
                                            f"{proto_text(proto)} src {source} {metric.strip()}' failed",
                               exit_reason=True) from None
        try:
            netlink.change_source(route, source)
        except netlink.NetlinkFailure:
            raise AgentFailure(ERR_GENERIC, f"command 'ip route change to  {route_text_without_src(route)} src "
                                            f"{source}' failed", exit_reason=True) from None

    def start(self) -> int:
        self.prepare("start")
        state, route = self.read_default("start")
        assert route is not None  # read_default raises where a start finds no default route
        if state == SET:
            self.log.ocf_log("info", f"The ip route has been already set.({self.network}, {self.nic}, "
                                     f"{route_text_without_src(route)})")
            return SUCCESS
        self.set_source(route, self.ip, self.proto)
        return SUCCESS

    def stop(self) -> int:
        if not self.prepare("stop"):
            return SUCCESS
        state, route = self.read_default("stop")
        if state == UNSET:
            self.log.ocf_log("info", "No preferred source address defined, nothing to stop")
            return SUCCESS
        if state == OTHER:
            raise AgentFailure(ERR_GENERIC, "The address you specified to stop does not match the preferred source "
                                            "address", exit_reason=True)
        assert route is not None  # what is left is SET, which read_default reads off a route
        primary = next((e.address for e in netlink.addresses() if e.ifname == self.nic and not e.secondary), "")
        self.set_source(route, primary, RTPROT_KERNEL)
        return SUCCESS

    def monitor(self) -> int:
        self.prepare("monitor")
        state, _ = self.read_default("monitor")
        if state == SET:
            self.say("OK")
            return SUCCESS
        if state == UNSET:
            self.say("No preferred source address defined")
            return NOT_RUNNING
        self.say("Preferred source address has incorrect value")
        return ERR_GENERIC


def legacy_main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
                stdout: TextIO | None = None) -> int:
    """``resource.d/IPsrcaddr ip OP``; its usage goes to stderr."""
    argv = sys.argv if argv is None else argv
    wrapper = Wrapper(IPsrcaddr, argv[0], "usage: $0 <ip-address>", environ=environ, stdout=stdout)
    if len(argv) != 3:
        sys.stderr.write(wrapper.usage_line + "\n")
        return 1
    return wrapper.run({"ipaddress": argv[1]}, "IPsrcaddr", argv[2])
