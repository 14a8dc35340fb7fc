"""A pcs script (pcs 0.10 on RHEL 8, 0.11 on RHEL 9): builds the configuration in a CIB
file and pushes it once, so a half-run script never leaves a half-configured cluster."""

from __future__ import annotations

from shlex import quote

from heartbeat.tools.hb2pcs.model import Cluster, Primitive
from heartbeat.tools.hb2pcs.report import AUTHKEY_NOTE, header

CIB_FILE = "hb2pcs-cib.xml"


def _create(p: Primitive) -> list[str]:
    words = ["resource", "create", p.id, p.agent] + [f"{k}={v}" for k, v in p.params]
    for op in p.ops:
        words += ["op", op.name, f"interval={op.interval}", f"timeout={op.timeout}"]
    return words


def render(cluster: Cluster) -> str:
    out = ["#!/bin/sh"] + [f"# {line}".rstrip() for line in header(cluster, "pcs script")]
    out += ["#", f"# {AUTHKEY_NOTE}",
            "# Run on one node of the running cluster (corosync and pacemaker started).",
            "set -e", ""]

    def pcs(words: list[str], why: str | None = None) -> None:
        if why:
            out.append(f"# {why}")
        out.append(" ".join(["pcs", "-f", CIB_FILE] + [quote(w) for w in words]))

    out.append(f"pcs cluster cib {CIB_FILE}")
    for s in cluster.properties:
        pcs(["property", "set", f"{s.name}={s.value}"], f"{s.origin or 'always'}: {s.why}")
    for s in cluster.rsc_defaults:
        pcs(["resource", "defaults", "update", f"{s.name}={s.value}"], f"{s.origin or 'always'}: {s.why}")
    for g in cluster.groups:
        out.append(f"# {g.origin}: haresources group of {g.node}")
        for p in g.primitives:
            pcs(_create(p) + ["--group", g.id], p.token)
    for c in cluster.clones:
        # the clone id is pcs' default <id>-clone, which pcs 0.10 cannot name otherwise
        pcs(_create(c.primitive) + ["clone"], f"{c.primitive.origin}: ping nodes")
    for pref in cluster.preferences:
        pcs(["constraint", "location", "add", pref.id, pref.rsc, pref.node, str(pref.score)],
            f"{pref.origin}: preferred node")
    for r in cluster.rules:
        score = f"score-attribute={r.attribute}" if r.score_attribute else f"score={r.score}"
        expression = ["defined", r.attribute] if r.score_attribute else [r.attribute, "gt", "0"]
        pcs(["constraint", "location", r.rsc, "rule", f"constraint-id={r.id}", score] + expression,
            f"{r.origin}: connectivity")
    out += [f"pcs cluster cib-push {CIB_FILE} --config", ""]
    return "\n".join(out)
