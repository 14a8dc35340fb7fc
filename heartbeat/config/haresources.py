"""haresources: resource groups, one per logical line, preferred node first.

The strict parser reads the file exactly as ResourceManager's normalisation pipeline
does (spec §5.2), so a group here is the group the original would run, and rejects
everything the original would misread.
"""

from __future__ import annotations

import re

from heartbeat.config.errors import ConfigError, Problems, numbered_lines, read_config
from heartbeat.config.groupkeys import egrep_pattern
from heartbeat.config.nodename import ascii_lower
from heartbeat.record import record
from heartbeat.config.scriptnames import script_name_problem

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

# The C-side check reads lines with fgets(buf, MAXLINE-1): longer lines are split and the
# rest is checked as a node line of its own.
MAX_LINE_BYTES = 5117

# ResourceManager's `isip` test is the shell glob [0-9]*.[0-9]*.[0-9]*.[0-9]*
_IP_SHORTHAND = re.compile(r"[0-9].*\.[0-9].*\.[0-9].*\.[0-9].*", re.DOTALL)
# sed squeezes blanks and tabs only; any other control character stays inside a token
_BLANKS = re.compile(r"[ \t]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_EGREP_OPERATORS = re.compile(r"[\\^$*+?()\[\]{}|]")


@record
class Resource:
    token: str              # as written, e.g. "IPaddr::192.0.2.100/24/eth0" or "192.0.2.100"
    script: str             # script name looked up in resource.d then the init dir, e.g. "IPaddr"
    args: tuple[str, ...]   # e.g. ("192.0.2.100/24/eth0",); a bare IP gives ("192.0.2.100",)


@record
class ResourceGroup:
    node: str                        # preferred owner, lower case
    resources: tuple[Resource, ...]  # start order
    line: int                        # first physical line of the group in the file

    @property
    def key(self) -> str:
        """The group key: the first resource token, as `ResourceManager listkeys` prints it."""
        return self.resources[0].token

    @property
    def text(self) -> str:
        """The normalised line without its trailing blank: `node1 IPaddr::... httpd`."""
        return " ".join((self.node,) + tuple(r.token for r in self.resources))


@record
class HaResources:
    path: str
    groups: tuple[ResourceGroup, ...]


def parse_resource(token: str) -> Resource:
    """One resource token; ValueError(reason) if ResourceManager would misread it."""
    if _IP_SHORTHAND.fullmatch(token):
        if "::" in token:
            # ResourceManager would run IPaddr with only what follows the first '::'
            raise ValueError(f"resource [{token}] looks like an IP address but carries '::' "
                             "arguments; write IPaddr::ADDRESS")
        return Resource(token, "IPaddr", (token,))
    script, *args = token.split("::")
    if not script:
        raise ValueError(f"resource [{token}] has an empty script name")
    if ":" in script:
        raise ValueError(f"resource [{token}]: single ':' in the script name "
                         "(arguments are separated by '::')")
    problem = script_name_problem(token, script)
    if problem is not None:
        raise ValueError(problem)
    if "" in args:
        # the shell's word splitting would silently drop the empty argument
        raise ValueError(f"resource [{token}] has an empty argument ('::' at the end or '::::')")
    return Resource(token, script, tuple(args))


def parse_haresources(text: str, path: str) -> HaResources:
    """Parse haresources text; raise ConfigErrors listing every problem."""
    problems = Problems(path)
    groups = []
    seen = 0
    for first, logical in _logical_lines(text, problems):
        # a line already found wrong would only repeat its fault as bad resource names
        if len(problems.errors) == seen and (g := _group(first, logical, problems)) is not None:
            groups.append(g)
        seen = len(problems.errors)
    _check_keys(groups, problems)
    problems.raise_if_any()
    return HaResources(path, tuple(groups))


def load_haresources(path: str) -> HaResources:
    text, _mode = read_config(path, f"Cannot open resources file [{path}]")
    return parse_haresources(text, path)


def check_nodes(res: HaResources, nodes: Iterable[str],
                ping_nodes: Iterable[str] = ()) -> list[ConfigError]:
    """Errors for groups whose node is not a `node` of ha.cf (compared case-insensitively).

    The daemon only checks this at start ("Bad nodename"); it would also accept a ping
    node there, which can never hold resources, so that is refused too.
    """
    known = {ascii_lower(n) for n in nodes}
    pings = {ascii_lower(p) for p in ping_nodes}
    errors = []
    for g in res.groups:
        if g.node in known:
            continue
        why = "a ping node cannot own resources" if g.node in pings else "not a node in ha.cf"
        errors.append(ConfigError(res.path, g.line, f"Bad nodename [{g.node}]: {why}"))
    return errors


def _logical_lines(text: str, problems: Problems) -> Iterator[tuple[int, str]]:
    """(first physical line, joined text) as ResourceManager's sed script builds them.

    sed deletes a comment only on the first line of a logical line: on a continued line
    a '#' and what follows it become resource tokens, so that is an error here.
    """
    first: int | None = None
    joined = ""
    last = 0
    for number, line in numbered_lines(text, MAX_LINE_BYTES, problems):
        last = number
        if first is None:
            first, joined = number, ""
            line = line.split("#", 1)[0]
        elif "#" in line:
            problems.error(number, "'#' on a continued line starts no comment for ResourceManager: "
                                   f"[{line[line.index('#'):]}] would be read as resources")
        if (bad := _CONTROL.search(line)) is not None:
            hint = " (DOS line ending?)" if bad.group() == "\r" else ""
            problems.error(number, f"control character {bad.group()!r} in line{hint}")
        if line.endswith("\\"):
            joined += line[:-1]
            continue
        if line.rstrip(" \t").endswith("\\"):
            problems.error(number, "blank after the line continuation '\\': ResourceManager would "
                                   "read [\\] as a resource and the next line as a group of its own")
        yield first, joined + line
        first = None
    if first is not None:
        problems.error(last, "line continuation '\\' at the end of the file")


def _group(line: int, logical: str, problems: Problems) -> ResourceGroup | None:
    tokens = [t for t in _BLANKS.split(logical) if t]
    if not tokens:
        return None
    node = ascii_lower(tokens[0])
    if len(tokens) == 1:
        problems.error(line, f"resource group of node [{node}] has no resources")
        return None
    resources = []
    for token in tokens[1:]:
        try:
            resources.append(parse_resource(token))
        except ValueError as e:
            problems.error(line, str(e))
    if len(resources) != len(tokens) - 1:
        return None
    return ResourceGroup(node, tuple(resources), line)


def _check_keys(groups: list[ResourceGroup], problems: Problems) -> None:
    """Every group must be found, alone, by ResourceManager's key lookup.

    ResourceManager finds a group with `egrep " KEY "` over its normalised lines (each ends
    with a blank) and concatenates every line that matches, so a key that is a resource of
    another line merges the two groups. A key holding an egrep operator other than '.' can
    miss its own line or match others; we match keys in linear time as literals with '.' as
    any character (`heartbeat.config.groupkeys.egrep_pattern`), which is egrep's reading only
    for keys without those operators, so they are refused.
    """
    first_line: dict[str, int] = {}
    lines = [g.text + " " for g in groups]
    for g in groups:
        if g.key in first_line:
            problems.error(g.line, f"duplicate group key [{g.key}] "
                                   f"(first used on line {first_line[g.key]})")
            continue
        first_line[g.key] = g.line
        if _EGREP_OPERATORS.search(g.key):
            problems.error(g.line, f"group key [{g.key}] holds egrep pattern characters other than '.' "
                                   "(ResourceManager looks groups up with egrep)")
            continue
        pattern = egrep_pattern(f" {g.key} ")
        matches = [other for other, text in zip(groups, lines) if pattern.search(text)]
        for other in matches:
            if other is not g and other.key != g.key:
                problems.error(g.line, f"group key [{g.key}] also matches the group on line "
                                       f"{other.line}: ResourceManager would run both as one group")
