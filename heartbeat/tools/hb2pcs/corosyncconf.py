"""corosync.conf for Corosync 3: knet links, the nodelist, votequorum, logging."""

from __future__ import annotations

from heartbeat.tools.hb2pcs.model import Cluster, Setting
from heartbeat.tools.hb2pcs.report import AUTHKEY_NOTE, header


def _settings(settings: tuple[Setting, ...], indent: str) -> list[str]:
    out = []
    for s in settings:
        out += [f"{indent}# {s.origin or 'always'}: {s.why}", f"{indent}{s.name}: {s.value}"]
    return out


def render(cluster: Cluster) -> str:
    c = cluster.corosync
    out = [f"# {line}".rstrip() for line in header(cluster, "corosync.conf")]
    out += ["#", f"# {AUTHKEY_NOTE}", "",
            "totem {", "\tversion: 2", f"\tcluster_name: {c.cluster_name}", "\ttransport: knet",
            "\t# encrypted and authenticated with /etc/corosync/authkey (see above)",
            "\tcrypto_cipher: aes256", "\tcrypto_hash: sha256"]
    out += _settings(c.totem, "\t")
    for link in c.links:
        out += [f"\t# {', '.join(map(str, link.origins))}: heartbeat media on {link.iface}",
                "\tinterface {", f"\t\tlinknumber: {link.number}"]
        if link.port is not None:
            out.append(f"\t\tmcastport: {link.port}")
        out.append("\t}")
    out += ["}", "", "nodelist {"]
    for m in c.members:
        out += [f"\t# {m.origin}", "\tnode {", f"\t\tname: {m.name}", f"\t\tnodeid: {m.nodeid}"]
        out += [f"\t\tring{i}_addr: {a}" for i, a in enumerate(m.addresses)]
        out.append("\t}")
    out += ["}", "", "quorum {", "\tprovider: corosync_votequorum"]
    out += _settings(c.quorum, "\t")
    out += ["}", "", "logging {", "\tto_logfile: yes", "\tlogfile: /var/log/corosync/corosync.log",
            "\ttimestamp: on"]
    out += _settings(c.logging, "\t")
    out += ["}", ""]
    return "\n".join(out)
