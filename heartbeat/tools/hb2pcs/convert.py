"""The pure conversion: parsed /etc/ha.d files -> ``Cluster``, and a fate for every line.

Scores (docs/pacemaker-migration.md has the reasoning):
* each group prefers its haresources node with PREFERENCE;
* auto_failback on/legacy: no stickiness, so a group goes home when its node returns;
  off: STICKINESS per resource (a group sums its members'), above PREFERENCE, so it stays;
* each ping node (a `ping` host or a whole `ping_group`) a node sees is worth more than
  preference and the largest group's stickiness together (a multiple of PING_POINTS), as
  ipfail moved groups to the node that sees more ping nodes whatever auto_failback said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from collections.abc import Iterator, Mapping

from heartbeat.config.errors import ConfigError
from heartbeat.config.hacf import ALIASES, AutoFailback, Bcast, HaCf, Mcast, Ping, PingGroup, Serial, Ucast, \
    ascii_lower
from heartbeat.config.haresources import HaResources
from heartbeat.tools.hb2pcs.agents import NotConvertible, primitive
from heartbeat.tools.hb2pcs.model import Clone, ConnectivityRule, Corosync, Cluster, Fate, Group, Link, \
    LineFate, Member, Op, Origin, Preference, Primitive, Setting

PREFERENCE = 100
STICKINESS = 200
PING_POINTS = 1000
MAX_LINKS = 8            # knet
PING_ATTRIBUTE = "pingd"
_ID_BAD = re.compile(r"[^A-Za-z0-9_.-]")
# ha.cf's value separators: blanks and commas (`node a,b`)
_HACF_WORDS = re.compile(r"[ \t\f,]+")
# what the ping agent can be given as a host to ping
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")
# what corosync.conf can hold as a bare value and every output as a name
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Options:
    init_standard: str = "lsb"                   # lsb | systemd: how init scripts are run
    monitor: bool = True                         # a monitor op on every resource
    # node -> its address on each link, in link order; without it link 0 uses the node name
    addresses: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Sources:
    """The parsed files and what the converter must still account for line by line."""
    ha_dir: str
    hacf: HaCf
    hacf_text: str
    haresources: HaResources
    haresources_text: str
    authkeys_path: str
    authkeys_lines: tuple[int, ...]          # numbers of the lines that are not blank or comments
    heartbeat_scripts: frozenset[str]        # file names in the tree's resource.d


# -- ha.cf lines --------------------------------------------------------------------
def directive_lines(text: str) -> Iterator[tuple[int, str, list[str]]]:
    """(line, directive, words after it) for every ha.cf line that carries a directive,
    by ha.cf's lexical rules (a '#' starts a comment anywhere; text after a CR is dropped)."""
    for number, line in enumerate(text.split("\n"), 1):
        words = _HACF_WORDS.split(line.split("#", 1)[0].split("\r", 1)[0].strip(" \t\f"))
        if words[0]:
            yield number, ALIASES.get(words[0], words[0]), words[1:]


_SUPERSEDED = {
    "keepalive": "corosync's token rotation and knet pings are the heartbeat now (derived from token)",
    "initdead": "corosync forms the membership itself, and Pacemaker waits dc-deadtime for peers at start",
    "baud": "only serial links use it, and they cannot be converted",
    "hopfudge": "heartbeat wire protocol detail; corosync has no equivalent setting",
    "msgfmt": "heartbeat wire protocol detail; corosync has no equivalent setting",
    "max_rexmit_delay": "heartbeat wire protocol detail; totem retransmits by itself",
    "compression": "heartbeat wire protocol detail; knet compression is off by default",
    "compression_threshold": "heartbeat wire protocol detail",
    "traditional_compression": "heartbeat wire protocol detail",
    "hbgenmethod": "heartbeat generation numbers; corosync keeps its own ring ids",
    "uuidfrom": "heartbeat node uuids; corosync nodeids come from the nodelist",
    "realtime": "corosync runs with realtime priority by default",
    "rtprio": "corosync runs with realtime priority by default",
    "memreserve": "heartbeat memory lock detail; corosync locks its memory itself",
    "coredumps": "core handling of heartbeat's own processes",
    "coreroot": "core handling of heartbeat's own processes",
    "apiauth": "heartbeat API permissions; Pacemaker grants its tools to the haclient group",
    "use_apphbd": "heartbeat's application heartbeat daemon; Pacemaker supervises its own daemons",
    "use_logd": "Pacemaker logs to /var/log/pacemaker/pacemaker.log, corosync as set in its logging section",
    "conn_logd_time": "heartbeat's log daemon",
    "log_badpack": "heartbeat wire protocol detail",
    "syslogmsgfmt": "heartbeat's log daemon format",
    "logfile": "Pacemaker logs to /var/log/pacemaker/pacemaker.log (PCMK_logfile in "
               "/etc/sysconfig/pacemaker or /etc/default/pacemaker changes it)",
    "debugfile": "Pacemaker's detail log is /var/log/pacemaker/pacemaker.log (PCMK_debug for more)",
    "record_config_changes": "CRM-mode setting that v1 never used",
    "record_pengine_inputs": "CRM-mode setting that v1 never used",
    "enable_config_writes": "CRM-mode setting that v1 never used",
    "crm_daemon_dir": "CRM-mode setting that v1 never used",
    "crmd_spawns_pengine": "CRM-mode setting that v1 never used",
    "pacemaker": "this is the Pacemaker cluster now",
    "autojoin": "corosync admits only the nodes of its nodelist",
}

_NOT_CONVERTIBLE = {
    "serial": "corosync has no serial transport: replace the cable by a second network link "
              "(a knet link on a crossover cable)",
    "watchdog": "Pacemaker uses a watchdog through sbd, as part of fencing: set up sbd with this device",
    "quorum_server": "use corosync-qdevice with a corosync-qnetd server instead",
    "env": "scripts no longer get HA_ variables from ha.cf: give the value to the resource as a parameter",
}


# -- the conversion -------------------------------------------------------------------
def convert(src: Sources, opts: Options = Options()) -> Cluster:
    """The cluster ``src`` describes; ConfigError if a node or the cluster has a name
    that corosync.conf cannot hold (nothing sensible could be written then)."""
    for name in src.hacf.nodes:
        if not _NAME.fullmatch(name):
            raise ConfigError(src.hacf.path, _NodeLines(src).line(name),
                              f"cannot be converted: node name [{name}] is not a host name "
                              "(letters, digits, '-', '_', '.') that corosync can use")
    if not _NAME.fullmatch(src.hacf.cluster):
        raise ConfigError(src.hacf.path, src.hacf.lines.get("cluster"),
                          f"cannot be converted: cluster name [{src.hacf.cluster}] is not a name "
                          "(letters, digits, '-', '_', '.') that corosync can use")
    b = _Builder(src, opts)
    b.run()
    return b.cluster()


class _Builder:
    def __init__(self, src: Sources, opts: Options) -> None:
        self.src, self.opts, self.cf = src, opts, src.hacf
        self.fates: dict[tuple[str, int], LineFate] = {}
        self.warnings: list[str] = []
        self.lines = list(directive_lines(src.hacf_text))
        self.groups: list[Group] = []
        self.clones: list[Clone] = []
        self.preferences: list[Preference] = []
        self.rules: list[ConnectivityRule] = []
        self.properties: list[Setting] = []
        self.rsc_defaults: list[Setting] = []
        self.ids: set[str] = set()
        self.stickiness = 0
        self.members: tuple[Member, ...] = ()
        self.links: tuple[Link, ...] = ()
        self.totem: list[Setting] = []
        self.quorum: list[Setting] = []
        self.logging: list[Setting] = []

    # bookkeeping
    def origin(self, line: int) -> Origin:
        """One line of ha.cf."""
        return Origin(self.cf.path, line, line)

    def fate(self, origin: Origin, fate: Fate, text: str) -> None:
        # a line carrying several values (`node a b`, `ping h1 h2`) keeps its worst fate
        key = (origin.path, origin.first)
        old = self.fates.get(key)
        if old is not None and old.fate is fate and old.text != text:
            self.fates[key] = LineFate(origin, fate, f"{old.text}; {text}")
        elif old is None or fate is Fate.NOT_CONVERTIBLE:
            self.fates[key] = LineFate(origin, fate, text)

    def lines_of(self, *names: str) -> list[tuple[int, str, list[str]]]:
        return [entry for entry in self.lines if entry[1] in names]

    def line_of(self, name: str) -> Origin | None:
        found = self.lines_of(name)
        return self.origin(found[-1][0]) if found else None

    def unique_id(self, text: str) -> str:
        base = _ID_BAD.sub("_", text)
        if not re.match(r"[A-Za-z_]", base):
            base = f"r_{base}"
        rid, n = base, 2
        while rid in self.ids:
            rid, n = f"{base}-{n}", n + 1
        self.ids.add(rid)
        return rid

    # steps
    def run(self) -> None:
        self.corosync_side()
        self.failback()
        self.fencing()
        self.groups_from_haresources()
        self.connectivity()
        self.respawns()
        self.remaining_lines()
        self.authkeys()

    def corosync_side(self) -> None:
        cf = self.cf
        for number, _name, words in self.lines_of("node"):
            self.fate(self.origin(number), Fate.MAPPED, f"corosync nodelist: {' '.join(ascii_lower(w) for w in words)}")
        links = self.link_media()
        members = []
        # with no network medium at all (serial only) corosync still needs link 0
        used = max(1, len(links))
        for nodeid, name in enumerate(cf.nodes, 1):
            addresses = self.opts.addresses.get(name) or (name,)
            if len(addresses) > used:
                self.warnings.append(f"--address {name}: {len(addresses)} addresses for {used} link(s); "
                                     f"{', '.join(addresses[used:])} not used")
            members.append(Member(name, nodeid, addresses[:used], self.node_origin(name)))
        self.members, self.links = tuple(members), links
        deadtime = cf.deadtime_ms
        # corosync declares a node lost after token + consensus (consensus >= 1.2 token)
        token = max(1, deadtime * 10 // 22)
        dead = self.line_of("deadtime")
        why = f"heartbeat declared a node dead after deadtime {deadtime} ms; corosync after token + consensus"
        self.totem += [Setting("token", str(token), dead, why),
                       Setting("consensus", str(deadtime - token), dead, why)]
        if dead is not None:
            self.fate(dead, Fate.MAPPED, f"corosync totem token {token} + consensus {deadtime - token} "
                                         f"(= deadtime {deadtime} ms)")
        warn = self.line_of("warntime")
        if warn is not None:
            percent = min(99, max(1, round(100 * cf.warntime_ms / deadtime)))
            self.totem.append(Setting("token_warning", str(percent), warn,
                                      "warn of a late token at the share of the timeout where heartbeat "
                                      "warned of a late heartbeat"))
            self.fate(warn, Fate.MAPPED, f"corosync totem token_warning {percent} (% of token)")
        cluster = self.line_of("cluster")
        if cluster is not None:
            self.fate(cluster, Fate.MAPPED, f"corosync totem cluster_name {cf.cluster}")
        if len(cf.nodes) == 2:
            self.quorum.append(Setting("two_node", "1", None,
                                       "two nodes: the survivor keeps quorum, as heartbeat kept running "
                                       "resources on the survivor (implies wait_for_all: both nodes must "
                                       "have seen each other once after a full cluster start)"))
        elif len(cf.nodes) > 2:
            self.properties.append(Setting("no-quorum-policy", "ignore", None,
                                           "heartbeat v1 had no quorum: any surviving node ran resources"))
            self.warnings.append(f"{len(cf.nodes)} nodes: no-quorum-policy=ignore keeps heartbeat's behaviour "
                                 "(no quorum); with fencing configured, remove it to get Pacemaker's "
                                 "default (stop) and protection from split brain")
        facility = self.line_of("logfacility")
        if facility is not None:
            if cf.logfacility is None:
                self.logging.append(Setting("to_syslog", "no", facility, "logfacility none"))
                self.fate(facility, Fate.MAPPED, "corosync logging to_syslog no")
            else:
                self.logging += [Setting("to_syslog", "yes", facility, "logfacility"),
                                 Setting("syslog_facility", cf.logfacility, facility, "logfacility")]
                self.fate(facility, Fate.MAPPED, f"corosync logging syslog_facility {cf.logfacility}")
        debug = self.line_of("debug")
        if debug is not None:
            value = "on" if cf.debug > 0 else "off"
            self.logging.append(Setting("debug", value, debug, "debug level"))
            self.fate(debug, Fate.MAPPED, f"corosync logging debug {value}")

    def node_origin(self, name: str) -> Origin:
        return self.origin(_NodeLines(self.src).line(name))

    def link_media(self) -> tuple[Link, ...]:
        """One knet link per interface of the bcast/mcast/ucast media, in file order."""
        by_iface = self.network_media()
        port_line = self.line_of("udpport")
        port = self.cf.udpport if port_line is not None else None
        if port_line is not None:
            self.fate(port_line, Fate.MAPPED, f"corosync link mcastport {port} on every link "
                                              "(firewall rules stay valid)")
        links: list[Link] = []
        for iface, origins in by_iface.items():
            number = len(links)
            kind = f"knet link {number} on {iface} (knet is unicast between the nodelist addresses)"
            reason = self.unlinkable(number, iface)
            for o in origins:
                self.fate(o, Fate.NOT_CONVERTIBLE if reason else Fate.MAPPED, reason or kind)
            if not reason:
                links.append(Link(number, iface, tuple(origins), port))
        return tuple(links)

    def network_media(self) -> dict[str, list[Origin]]:
        """The lines of the bcast/mcast/ucast media by interface, in file order; a serial
        medium is marked not convertible on the way."""
        by_iface: dict[str, list[Origin]] = {}
        for m in self.cf.media:
            origin = self.origin(m.line) if m.line is not None else None
            if isinstance(m, (Bcast, Mcast, Ucast)) and origin is not None:
                by_iface.setdefault(m.iface, []).append(origin)
            elif isinstance(m, Serial) and origin is not None:
                self.fate(origin, Fate.NOT_CONVERTIBLE, _NOT_CONVERTIBLE["serial"])
        return by_iface

    def unlinkable(self, number: int, iface: str) -> str:
        """Why ``iface`` cannot become knet link ``number`` ("" if it can)."""
        # link 0 falls back on the node names; a further link needs everyone's address on it
        lacking = [n for n in self.cf.nodes if len(self.opts.addresses.get(n, ())) <= number]
        if number >= MAX_LINKS:
            return f"knet has at most {MAX_LINKS} links; [{iface}] would be link {number}"
        if number > 0 and lacking:
            return (f"knet link {number} on [{iface}] needs each node's address on it: give "
                    f"--address NODE=ADDR0,ADDR1,... for {', '.join(lacking)}")
        return ""

    def failback(self) -> None:
        mode = self.cf.auto_failback
        origin = self.line_of("auto_failback")
        nice = self.line_of("nice_failback")
        if mode is AutoFailback.OFF:
            value, why = str(STICKINESS), f"auto_failback off: above the location score {PREFERENCE}, groups stay"
        else:
            value, why = "0", f"auto_failback {mode.value}: below the location score {PREFERENCE}, groups go home"
        self.stickiness = int(value)
        if mode is AutoFailback.LEGACY:
            self.warnings.append("auto_failback legacy is converted like auto_failback on "
                                 "(groups move back to their preferred node when it returns)")
        self.rsc_defaults.append(Setting("resource-stickiness", value, origin or nice, why))
        for o in (origin, nice):
            if o is not None:
                self.fate(o, Fate.MAPPED, f"rsc_defaults resource-stickiness={value} ({why})")

    def fencing(self) -> None:
        self.properties.append(Setting("stonith-enabled", "false", None,
                                       "heartbeat v1 here had no fencing devices"))
        self.warnings.append("NO FENCING: stonith-enabled=false. Pacemaker, like heartbeat v1, cannot "
                             "tell a dead node from an unreachable one without fencing, and both "
                             "nodes may run the same resources after a network split. Configure a "
                             "fence device (pcs stonith create / crm configure primitive ... stonith:...) "
                             "and set stonith-enabled=true.")

    def groups_from_haresources(self) -> None:
        res = self.src.haresources
        spans = _group_spans(self.src.haresources_text)
        for g in res.groups:
            origin = Origin(res.path, g.line, spans.get(g.line, g.line))
            prims, reasons = [], []
            for r in g.resources:
                try:
                    prims.append(primitive(r, self.resource_id(r.script, r.args), origin,
                                           heartbeat_class=r.script in self.src.heartbeat_scripts,
                                           init_standard=self.opts.init_standard, monitor=self.opts.monitor))
                except NotConvertible as e:
                    reasons.append(str(e))
            if not prims:
                self.fate(origin, Fate.NOT_CONVERTIBLE, "; ".join(reasons))
                continue
            group = Group(self.unique_id(f"group_{prims[0].id}"), g.node, tuple(prims), origin)
            self.groups.append(group)
            self.preferences.append(Preference(self.unique_id(f"prefer_{group.id}"), group.id, g.node,
                                               PREFERENCE, origin))
            made = f"group {group.id} ({', '.join(p.id for p in prims)}) preferring {g.node}"
            if reasons:
                self.fate(origin, Fate.NOT_CONVERTIBLE, "; ".join(reasons) + f"; written without it: {made}")
            else:
                self.fate(origin, Fate.MAPPED, made)

    def resource_id(self, script: str, args: tuple[str, ...]) -> str:
        # heartbeat's own instance names (IPaddr_<ip>, Filesystem_<device>): what admins grep logs for
        first = args[0].split("/", 1)[0] if script.startswith("IPaddr") and args else (args[0] if args else "")
        return self.unique_id(f"{script}_{first}" if first else script)

    def connectivity(self) -> None:
        pings = [m for m in self.cf.media if isinstance(m, Ping) and self.pingable(m.line, (m.host,))]
        groups = [m for m in self.cf.media if isinstance(m, PingGroup) and self.pingable(m.line, m.hosts)]
        dampen = f"{max(1, round(self.cf.deadping_ms / 1000))}s"
        points = self.ping_points()
        self.time_pings(bool(pings or groups), dampen)
        if pings:
            self.ping_nodes(pings, dampen, points)
        for g in groups:
            self.ping_group(g, dampen, points)
        if (pings or groups) and not any(_is_ipfail(w) for _n, _d, w in self.lines_of("respawn")):
            self.warnings.append("ping nodes without ipfail had no effect on resources in heartbeat; "
                                 "the location rules now prefer the node that reaches more of them "
                                 "(remove the rules to keep the old behaviour)")

    def ping_points(self) -> int:
        """What a reachable ping host is worth: a whole multiple of PING_POINTS above what keeps the
        largest group where it is (its stickiness plus the location preference)."""
        stickiness = self.stickiness * max((len(g.primitives) for g in self.groups), default=0)
        return PING_POINTS * (1 + (stickiness + PREFERENCE) // PING_POINTS)

    def time_pings(self, pinging: bool, dampen: str) -> None:
        """deadping becomes the ping agents' dampen, or has nothing left to time."""
        dead = self.line_of("deadping")
        if dead is not None and pinging:
            self.fate(dead, Fate.MAPPED, f"ocf:pacemaker:ping dampen={dampen}")
        elif dead is not None:
            self.fate(dead, Fate.SUPERSEDED, "there are no ping nodes to time")

    def ping_nodes(self, pings: list[Ping], dampen: str, points: int) -> None:
        """All ping nodes in one clone: each host a node reaches adds ``points``."""
        origins = tuple(self.origin(m.line) for m in pings if m.line is not None)
        self.ping_clone("ping", PING_ATTRIBUTE, tuple(m.host for m in pings), dampen, origins[0],
                        points, score=None)
        for o in origins:
            self.fate(o, Fate.MAPPED, f"ping clone (attribute {PING_ATTRIBUTE}) and a location rule "
                                      f"per group: +{points} per host a node reaches")

    def ping_group(self, g: PingGroup, dampen: str, points: int) -> None:
        """A clone per ping group: ``points`` once, where any of its hosts answers."""
        o = self.origin(g.line or 0)
        attribute = self.unique_id(f"pingd_{g.name}")
        self.ping_clone(f"ping_{g.name}", attribute, g.hosts, dampen, o, points, score=points)
        self.fate(o, Fate.MAPPED, f"ping clone (attribute {attribute}) and a location rule per "
                                  f"group: +{points} where any of its hosts answers")

    def pingable(self, line: int | None, hosts: tuple[str, ...]) -> bool:
        bad = [h for h in hosts if not _HOST.fullmatch(h)]
        if bad:
            self.fate(self.origin(line or 0), Fate.NOT_CONVERTIBLE,
                      f"ping host [{bad[0]}] is neither a host name nor an IPv4 address")
        return not bad

    def ping_clone(self, name: str, attribute: str, hosts: tuple[str, ...], dampen: str, origin: Origin,
                   points: int, score: int | None) -> None:
        pid = self.unique_id(name)
        # ping only updates its attribute from its monitor, so that op is never left out
        prim = Primitive(pid, "ocf", "pacemaker", "ping",
                         (("host_list", " ".join(hosts)), ("name", attribute),
                          ("multiplier", str(points)), ("dampen", dampen)),
                         (Op("monitor", "10s", "60s"), Op("start", "0s", "60s"), Op("stop", "0s", "20s")),
                         origin, " ".join(hosts))
        self.clones.append(Clone(self.unique_id(f"{pid}-clone"), prim))
        for g in self.groups:
            self.rules.append(ConnectivityRule(self.unique_id(f"{attribute}_{g.id}"), g.id, attribute,
                                               score, score is None, origin))

    def respawns(self) -> None:
        for number, name, words in self.lines_of("respawn", "failfast"):
            o = self.origin(number)
            if _is_ipfail(words):
                self.fate(o, Fate.MAPPED, "ipfail is what the ping location rules do")
            else:
                self.fate(o, Fate.NOT_CONVERTIBLE,
                          f"program kept running by {name} [{' '.join(words[1:])}]: run it as a cluster resource "
                          "(systemd: or lsb:, cloned to run on every node) or as a systemd unit "
                          "with Restart=always")

    def remaining_lines(self) -> None:
        for number, name, _words in self.lines:
            o = self.origin(number)
            if (o.path, number) in self.fates:
                continue
            if name in _NOT_CONVERTIBLE:
                self.fate(o, Fate.NOT_CONVERTIBLE, _NOT_CONVERTIBLE[name])
            elif name in _SUPERSEDED:
                self.fate(o, Fate.SUPERSEDED, _SUPERSEDED[name])
            else:
                # the parser accepted it, so a directive without a decision here is our bug
                self.fate(o, Fate.NOT_CONVERTIBLE, f"hb2pcs has no mapping for [{name}]")

    def authkeys(self) -> None:
        for number in self.src.authkeys_lines:
            self.fate(Origin(self.src.authkeys_path, number, number), Fate.SUPERSEDED,
                      "keys are never carried over: generate a new corosync key (corosync-keygen)")

    def cluster(self) -> Cluster:
        name = self.cf.cluster
        corosync = Corosync(name, self.members, self.links, tuple(self.totem), tuple(self.quorum),
                            tuple(self.logging))
        fates = sorted(self.fates.values(), key=lambda f: (_file_rank(f.origin.path, self.src), f.origin.first))
        return Cluster(self.src.ha_dir, corosync, tuple(self.properties), tuple(self.rsc_defaults),
                       tuple(self.groups), tuple(self.clones), tuple(self.preferences), tuple(self.rules),
                       tuple(fates), tuple(self.warnings))


class _NodeLines:
    def __init__(self, src: Sources) -> None:
        self.lines = [(n, words) for n, d, words in directive_lines(src.hacf_text) if d == "node"]

    def line(self, name: str) -> int:
        for number, words in self.lines:
            if name in (ascii_lower(w) for w in words):
                return number
        raise AssertionError(f"node {name} parsed from no node line")   # parse_hacf guarantees one


def _file_rank(path: str, src: Sources) -> int:
    return [src.hacf.path, src.haresources.path, src.authkeys_path].index(path)


def _group_spans(text: str) -> dict[int, int]:
    """first physical line of each logical haresources line -> its last physical line
    (a comment on a first line ends there, backslash or not, as ResourceManager reads it)."""
    spans: dict[int, int] = {}
    first = None
    for number, line in enumerate(text.split("\n"), 1):
        if first is None:
            first = number
            line = line.split("#", 1)[0]
        if not line.endswith("\\"):
            spans[first] = number
            first = None
    return spans


def _is_ipfail(words: list[str]) -> bool:
    """A `respawn USER /path/to/ipfail` line."""
    return len(words) > 1 and words[1].rsplit("/", 1)[-1] == "ipfail"


def content_lines(text: str) -> tuple[int, ...]:
    """Numbers of the lines that are neither blank nor `#` comments (authkeys' rule)."""
    return tuple(n for n, line in enumerate(text.split("\n"), 1)
                 if line.strip() and not line.lstrip().startswith("#"))
