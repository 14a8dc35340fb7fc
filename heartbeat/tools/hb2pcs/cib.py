"""CIB XML for Pacemaker 2 (schema pacemaker-3.0, read by every Pacemaker 2.x)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from heartbeat.tools.hb2pcs.model import Cluster, Primitive, Setting
from heartbeat.tools.hb2pcs.report import header, xml_safe

SCHEMA = "pacemaker-3.0"


def _comment(parent: ET.Element, text: str) -> None:
    parent.append(ET.Comment(f" {xml_safe(text)} "))


def _nvset(parent: ET.Element, tag: str, set_id: str, settings: tuple[Setting, ...]) -> None:
    nvs = ET.SubElement(parent, tag, id=set_id)
    for s in settings:
        _comment(nvs, f"{s.origin or 'always'}: {s.why}")
        ET.SubElement(nvs, "nvpair", id=f"{set_id}-{s.name}", name=s.name, value=s.value)


def _primitive(parent: ET.Element, p: Primitive) -> None:
    attrs = {"id": p.id, "class": p.standard, "type": p.type}
    if p.provider:
        attrs["provider"] = p.provider
    prim = ET.SubElement(parent, "primitive", attrs)
    if p.params:
        inst = ET.SubElement(prim, "instance_attributes", id=f"{p.id}-instance_attributes")
        for name, value in p.params:
            ET.SubElement(inst, "nvpair", id=f"{p.id}-instance_attributes-{name}", name=name, value=value)
    if p.ops:
        ops = ET.SubElement(prim, "operations")
        for op in p.ops:
            ET.SubElement(ops, "op", id=f"{p.id}-{op.name}-interval-{op.interval}", name=op.name,
                          interval=op.interval, timeout=op.timeout)


def render(cluster: Cluster) -> str:
    cib = ET.Element("cib", {"validate-with": SCHEMA, "crm_feature_set": "3.0.14", "epoch": "1",
                             "num_updates": "0", "admin_epoch": "0"})
    for line in header(cluster, "Pacemaker CIB"):
        _comment(cib, line)
    conf = ET.SubElement(cib, "configuration")
    crm_config = ET.SubElement(conf, "crm_config")
    _nvset(crm_config, "cluster_property_set", "cib-bootstrap-options", cluster.properties)
    nodes = ET.SubElement(conf, "nodes")
    for m in cluster.corosync.members:
        _comment(nodes, str(m.origin))
        ET.SubElement(nodes, "node", id=str(m.nodeid), uname=m.name)
    resources = ET.SubElement(conf, "resources")
    for g in cluster.groups:
        _comment(resources, f"{g.origin}: haresources group of {g.node}")
        group = ET.SubElement(resources, "group", id=g.id)
        for p in g.primitives:
            _comment(group, p.token)
            _primitive(group, p)
    for c in cluster.clones:
        _comment(resources, f"{c.primitive.origin}: ping nodes")
        clone = ET.SubElement(resources, "clone", id=c.id)
        _primitive(clone, c.primitive)
    constraints = ET.SubElement(conf, "constraints")
    for pref in cluster.preferences:
        _comment(constraints, f"{pref.origin}: preferred node")
        ET.SubElement(constraints, "rsc_location", id=pref.id, rsc=pref.rsc, node=pref.node,
                      score=str(pref.score))
    for r in cluster.rules:
        _comment(constraints, f"{r.origin}: connectivity")
        loc = ET.SubElement(constraints, "rsc_location", id=r.id, rsc=r.rsc)
        if r.score_attribute:
            rule = ET.SubElement(loc, "rule", {"id": f"{r.id}-rule", "score-attribute": r.attribute})
            ET.SubElement(rule, "expression", id=f"{r.id}-rule-expr", attribute=r.attribute,
                          operation="defined")
        else:
            rule = ET.SubElement(loc, "rule", id=f"{r.id}-rule", score=str(r.score))
            ET.SubElement(rule, "expression", id=f"{r.id}-rule-expr", attribute=r.attribute,
                          operation="gt", value="0", type="number")
    _nvset(ET.SubElement(conf, "rsc_defaults"), "meta_attributes", "rsc-options", cluster.rsc_defaults)
    ET.SubElement(cib, "status")
    ET.indent(cib)
    return ET.tostring(cib, encoding="unicode") + "\n"
