"""haresources: resource groups, one per logical line, preferred node first.

The strict parser that fills this model lives in this module too (``parse_haresources``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    token: str              # as written, e.g. "IPaddr::192.0.2.100/24/eth0" or "192.0.2.100"
    script: str             # script name looked up in resource.d then the init dir, e.g. "IPaddr"
    args: tuple[str, ...]   # e.g. ("192.0.2.100/24/eth0",); a bare IP gives ("192.0.2.100",)


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class HaResources:
    path: str
    groups: tuple[ResourceGroup, ...]
