"""A crmsh configuration (SUSE): load it with `crm configure load update FILE`."""

from __future__ import annotations

import re

from heartbeat.tools.hb2pcs.model import Cluster, Primitive, Setting
from heartbeat.tools.hb2pcs.report import AUTHKEY_NOTE, header, xml_safe

_BARE = re.compile(r"[A-Za-z0-9_.:/@+-]+")


def _value(text: str) -> str:
    if _BARE.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _primitive(p: Primitive) -> str:
    line = f"primitive {p.id} {p.agent}"
    if p.params:
        line += " params " + " ".join(f"{k}={_value(v)}" for k, v in p.params)
    for op in p.ops:
        line += f" op {op.name} interval={op.interval} timeout={op.timeout}"
    return line


def _settings(kind: str, set_id: str, settings: tuple[Setting, ...]) -> list[str]:
    notes = [f"# {s.origin or 'always'}: {s.why}" for s in settings]
    return notes + [f"{kind} {set_id}: " + " ".join(f"{s.name}={_value(s.value)}" for s in settings)]


def render(cluster: Cluster) -> str:
    out = [f"# {line}".rstrip() for line in header(cluster, "crmsh configuration")]
    out += ["#", f"# {AUTHKEY_NOTE}", "# Load on one node of the running cluster: crm configure load update FILE", ""]
    out += _body(cluster)
    return "\n".join(xml_safe(line) if line.startswith("#") else line for line in out) + "\n"


def _body(cluster: Cluster) -> list[str]:
    out: list[str] = []
    out += _settings("property", "cib-bootstrap-options", cluster.properties)
    out += _settings("rsc_defaults", "rsc-options", cluster.rsc_defaults)
    for g in cluster.groups:
        out.append(f"# {g.origin}: haresources group of {g.node}")
        for p in g.primitives:
            out += [f"# {p.token}", _primitive(p)]
        out.append(f"group {g.id} " + " ".join(p.id for p in g.primitives))
    for c in cluster.clones:
        out += [f"# {c.primitive.origin}: ping nodes", _primitive(c.primitive), f"clone {c.id} {c.primitive.id}"]
    for pref in cluster.preferences:
        out += [f"# {pref.origin}: preferred node", f"location {pref.id} {pref.rsc} {pref.score}: {pref.node}"]
    for r in cluster.rules:
        rule = f"{r.attribute}: defined {r.attribute}" if r.score_attribute else f"{r.score}: {r.attribute} gt 0"
        out += [f"# {r.origin}: connectivity", f"location {r.id} {r.rsc} rule {rule}"]
    return out
