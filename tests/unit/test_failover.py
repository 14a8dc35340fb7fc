"""The v1 failover engine, one node at a time: the events of each scenario in, the
original's messages (field order), jobs (argv, env) and log lines out (spec §14, wire §9)."""

from __future__ import annotations

import pytest

from heartbeat.core.failover import (Command, Failover, Job, JobLog, JobSend, Log, Run, Send,
                                ShutdownReady)
from heartbeat.config.hacf import parse_hacf
from heartbeat.config.haresources import parse_haresources
from heartbeat.core.message import Message

RCD = frozenset({"status", "ip-request", "ip-request-resp", "hb_takeover", "ask_resources"})
HARESOURCES = "node1 10.9.0.100 Marker::m1\nnode2 IPaddr::10.9.0.200/24/eth0 Marker::m2\n"
RM = "/usr/share/heartbeat/ResourceManager"
TS = 0x6b05d0f5


def config(mode: str = "on", extra: str = ""):
    return parse_hacf(f"bcast eth0\nauto_failback {mode}\nnode node1 node2\n{extra}", "/etc/ha.d/ha.cf")


def fields(msg: Message) -> list[tuple[str, object]]:
    return [(f.name, f.value) for f in msg]


def m(src: str, **strings: str) -> Message:
    msg = Message.of(**strings)
    msg.append("src", src)
    return msg


class Node:
    """One engine, its fake clock, and what it did."""

    def __init__(self, name: str = "node1", mode: str = "on", haresources: str = HARESOURCES,
                 rcd: frozenset[str] = RCD, **options) -> None:
        self.name = name
        self.engine = Failover(config(mode), parse_haresources(haresources, "/etc/ha.d/haresources"),
                               name, rcd_scripts=rcd, wall=lambda: TS, pid=4242, **options)
        self.now = 100.0
        self.running: dict[str, Job] = {}

    def __getattr__(self, event):
        def call(*args):
            acts = getattr(self.engine, event)(self.now, *args)
            for a in acts:
                if isinstance(a, Run):
                    self.running[a.job.name] = a.job
            return acts
        return call

    def loop(self, acts) -> list:
        """Deliver our own sends back to us, as membership does; what that did."""
        out = []
        for a in acts:
            if isinstance(a, Send):
                out += self.receive(m(self.name, **dict(fields(a.msg))))
        return out

    def finish(self, name: str, rc: int = 0) -> list:
        return self.job_done(self.running.pop(name).id, rc)

    def at(self, t: float) -> list:
        self.now = t
        return self.tick()


def logs(acts) -> list[tuple[str, str]]:
    return [(a.level, a.text) for a in acts if isinstance(a, Log)]


def texts(acts) -> list[str]:
    return [a.text for a in acts if isinstance(a, Log)]


def sends(acts) -> list[list[tuple[str, object]]]:
    return [fields(a.msg) for a in acts if isinstance(a, Send)]


def jobs(acts) -> list[Job]:
    return [a.job for a in acts if isinstance(a, Run)]


def resource(hold: str, stable: str, info: str | None = None):
    out = [("t", "resource"), ("rsc_hold", hold), ("rtype", "full"), ("isstable", stable)]
    return out + ([("info", info)] if info else [])


def ask(hold: str, info: str):
    return [("t", "ask_resources"), ("rsc_hold", hold), ("info", info)]


def standby_steps(action: str, acting: str, done: str, asked: str, *argvs: tuple[str, ...]):
    """A standby job: its two [child] lines around the ResourceManager runs, then `done`."""
    return ((JobLog("info", f"{action} {acting} HA resources (standby)."),)
            + tuple(Command(argv) for argv in argvs)
            + (JobLog("info", f"{acting} HA resource {done} completed (standby)."),
               JobSend(Message.of(t="ask_resources", rsc_hold=asked, info="done"))))


def stable_pair(mode: str = "on", **options) -> Node:
    """node1 after a normal joint start: holds its own groups, node2 holds its own."""
    n = Node(mode=mode, **options)
    n.comm_up({"node1": "active", "node2": "active"})
    n.receive(m("node2", t="starting"))
    n.receive(m("node2", **dict(resource("none", "0"))))
    n.loop(n.at(110.0))
    n.receive(m("node2", **dict(resource("local", "1"))))
    n.finish("req_our_resources(ask)")
    assert n.engine.holding == "local"
    return n


def lone_holder() -> Node:
    """node1 alone (scenario A) after mach_down took node2's groups, before RQSTDELAY."""
    n = Node()
    n.node_status("node2", "dead", None)
    n.loop(n.comm_up({"node1": "active", "node2": "dead"}))
    n.loop(n.finish("req_our_resources"))
    n.finish("status")
    n.receive(m("node1", t="resource", rsc_hold="foreign", info="mach_down"))
    return n


# -- A, B: a lone node --------------------------------------------------------------------------
def test_a_lone_node_takes_the_dead_peers_groups_first_then_its_own():
    n = Node()
    assert n.node_status("node2", "dead", None) == []      # before comm-up: recovery waits
    acts = n.comm_up({"node1": "active", "node2": "dead"})
    assert sends(acts) == [[("t", "starting")], [("t", "stonith"), ("node", "node2"), ("result", "n_stnth")]]
    assert logs(acts) == [("WARN", "No STONITH device configured."),
                          ("WARN", "Shared disks are not protected."),
                          ("info", "Resources being acquired from node2.")]
    status, req = jobs(acts)
    assert status.name == "status"
    assert status.steps == (Command(("/etc/ha.d/harc", "status")),)
    assert status.env == {"HA_t": "status", "HA_seq": "1", "HA_ts": f"{TS:x}", "HA_src": "node2",
                          "HA_st": "dead", "HA_OSTATUS": "active", "HA_NICEFAILBACK": "yes",
                          "HA_LOGD": "yes"}
    assert req.name == "req_our_resources"
    assert req.env == {"HA_DONTASK": "yes", "HA_NICEFAILBACK": "yes", "HA_LOGD": "yes"}
    assert req.steps == (Command(("/usr/share/heartbeat/req_resource", "10.9.0.100")),
                         JobLog("info", "Local Resource acquisition completed."))
    assert n.engine.holding == "transition"

    n.loop(acts)                                        # our own `starting`: ignored
    acts = n.finish("req_our_resources")
    assert sends(acts) == [resource("all", "1", "req_our_resources()")]
    n.loop(acts)
    # self-grant loops back and queues ip-request-resp behind the running status job
    assert jobs(n.receive(m("node1", t="ip-request-resp", dest="node1", ipaddr="10.9.0.100",
                            weown="yes", ok="OK"))) == []
    assert [j.name for j in jobs(n.finish("status"))] == ["ip-request-resp"]
    acts = n.receive(m("node1", t="resource", rsc_hold="foreign", info="mach_down"))
    assert texts(acts) == ["mach_down takeover complete.",
                           "Initial resource acquisition complete (mach_down)"]
    n.finish("ip-request-resp")
    assert n.engine.next_deadline() == 110.0            # RQSTDELAY after the first `resource`
    acts = n.at(110.0)
    assert texts(acts) == ["Local Resource acquisition completed. (none)",
                           "local resource transition completed."]
    assert sends(acts) == [resource("all", "1")]
    assert n.engine.holding == "all"


def test_b_lone_node_legacy_runs_two_requests_and_no_nice_messages():
    n = Node(mode="legacy")
    n.node_status("node2", "dead", None)
    acts = n.comm_up({"node1": "active", "node2": "dead"})
    assert sends(acts) == [[("t", "stonith"), ("node", "node2"), ("result", "n_stnth")]]
    # the dead-node event starts at once, beside the requests (the original queued it
    # behind them: issue 8 row 2)
    assert [j.name for j in jobs(acts)] == ["req_our_resources", "status", "req_our_resources"]
    assert all("HA_NICEFAILBACK" not in j.env for j in jobs(acts))
    first, status, second = jobs(acts)
    assert status.env["HA_st"] == "dead"
    assert sends(n.job_done(first.id, 0)) == []
    assert jobs(n.job_done(second.id, 0)) == []
    acts = n.job_done(status.id, 0)
    assert texts(acts) == ["Initial resource acquisition complete (status)"]


# -- C: both nodes start together -------------------------------------------------------------
def test_c_joint_start_waits_rqstdelay_then_takes_local_groups():
    n = Node()
    acts = n.node_status("node2", "up", m("node2", t="status", st="up"))
    assert jobs(acts)[0].env["HA_OSTATUS"] == "up"      # before comm-up
    n.finish("status")
    acts = n.comm_up({"node1": "active", "node2": "up"})
    assert sends(acts) == [[("t", "starting")]]
    acts = n.receive(m("node2", t="starting"))
    assert sends(acts) == [resource("none", "0")]
    n.node_status("node2", "active", m("node2", t="status", st="active"))
    acts = n.receive(m("node2", **dict(resource("none", "0"))))
    assert acts == []
    assert n.engine.next_deadline() == 110.0
    assert n.at(109.9) == []
    acts = n.at(110.0)
    assert texts(acts) == ["local resource transition completed."]
    req, = jobs(acts)
    assert req.name == "req_our_resources(ask)" and "HA_DONTASK" not in req.env
    assert sends(acts) == [resource("local", "1")]
    assert texts(n.loop(acts)) == ["Initial resource acquisition complete (T_RESOURCES(us))"]
    acts = n.receive(m("node2", **dict(resource("local", "1"))))
    assert texts(acts) == ["remote resource transition completed."]
    assert sends(acts) == [resource("local", "1")]
    n.finish("status")
    n.finish("req_our_resources(ask)")
    assert n.engine.holding == "local"


# -- D, E: a node joins while the peer holds everything --------------------------------------
def test_d_joiner_gets_its_groups_back_by_the_holders_standby():
    n = Node("node2")
    n.comm_up({"node1": "active", "node2": "active"})
    acts = n.receive(m("node1", **dict(resource("all", "1"))))
    assert texts(acts) == ["remote resource transition completed.",
                           "remote resource transition completed.",
                           "Local Resource acquisition completed. (none)"]
    assert sends(acts) == [resource("none", "0"), resource("none", "1")]
    acts = n.receive(m("node1", **dict(ask("foreign", "me"))))
    assert texts(acts) == ["node1 wants to go standby [foreign]"]
    assert sends(acts) == [ask("foreign", "other")]
    n.loop(acts)
    n.receive(m("node1", **dict(resource("local", "0", "standby"))))
    acts = n.receive(m("node1", **dict(ask("foreign", "done"))))
    assert texts(acts) == ["standby: acquire [foreign] resources from node1"]
    job, = jobs(acts)
    assert job.name == "go_standby"
    assert job.steps == standby_steps("acquire", "local", "acquisition", "foreign",
                                      (RM, "takegroup", "IPaddr::10.9.0.200/24/eth0", "Marker::m2"))
    n.finish("go_standby")
    acts = n.receive(m("node2", **dict(ask("foreign", "done"))))
    assert texts(acts) == ["Standby resource acquisition done [foreign].",
                           "Initial resource acquisition complete (auto_failback)"]
    assert sends(acts) == [resource("local", "1")]
    assert n.engine.holding == "transition"             # until the holder reports stable
    assert texts(n.receive(m("node1", **dict(resource("local", "1"))))) == \
        ["remote resource transition completed."]
    assert n.engine.holding == "local"


def test_d_holder_fails_back_when_the_joiner_is_stable():
    n = lone_holder()
    n.at(110.0)
    assert n.engine.holding == "all"
    n.node_status("node2", "active", m("node2", t="status", st="active"))
    n.finish("status")
    acts = n.receive(m("node2", t="starting"))
    assert sends(acts) == [resource("all", "1")]
    n.receive(m("node2", **dict(resource("none", "0"))))
    acts = n.receive(m("node2", **dict(resource("none", "1"))))
    assert texts(acts) == ["remote resource transition completed."]
    assert sends(acts) == [resource("all", "1"), ask("foreign", "me")]
    acts = n.loop(acts)
    assert texts(acts) == ["node1 wants to go standby [foreign]"]
    acts = n.receive(m("node2", **dict(ask("foreign", "other"))))
    assert texts(acts) == ["standby: node2 can take our foreign resources"]
    assert sends(acts) == [resource("local", "0", "standby")]
    job, = jobs(acts)
    assert job.steps == standby_steps("give up", "foreign", "release", "foreign",
                                      (RM, "givegroup", "IPaddr::10.9.0.200/24/eth0", "Marker::m2"))
    n.finish("go_standby")
    acts = n.receive(m("node1", **dict(ask("foreign", "done"))))
    assert texts(acts) == ["Local standby process completed [foreign]."]
    acts = n.receive(m("node2", **dict(ask("foreign", "done"))))
    assert texts(acts) == ["Other node completed standby takeover of foreign resources."]
    assert sends(acts) == [resource("local", "1")]
    n.receive(m("node2", **dict(resource("local", "1"))))
    assert n.engine.holding == "local"


def test_auto_failback_retries_every_second_while_the_holder_is_unstable():
    n = lone_holder()
    # node2 reports stable while we are still in RSCRCVD
    acts = n.receive(m("node2", **dict(resource("none", "1"))))
    assert ("debug", "Auto failback delayed.") in logs(acts)
    assert ask("foreign", "me") not in sends(acts)
    assert n.engine.next_deadline() == n.now + 1
    assert sends(n.at(n.now + 1)) == [ask("foreign", "me")]


def test_e_auto_failback_off_joiner_stays_idle():
    n = Node("node2", mode="off")
    n.comm_up({"node1": "active", "node2": "active"})
    acts = n.receive(m("node1", **dict(resource("all", "1"))))
    assert texts(acts) == ["remote resource transition completed.",
                           "remote resource transition completed.",
                           "Local Resource acquisition completed. (none)",
                           "Initial resource acquisition complete (T_RESOURCES(them))"]
    assert jobs(acts) == []
    assert n.engine.holding == "none"


# -- F: legacy join -------------------------------------------------------------------------------
def test_f_legacy_joiner_asks_and_the_holder_runs_ip_request():
    joiner = Node(mode="legacy")
    acts = joiner.comm_up({"node1": "active", "node2": "active"})
    assert sends(acts) == []
    req, = jobs(acts)
    assert req.name == "req_our_resources(ask)" and req.env == {"HA_LOGD": "yes"}
    holder = Node("node2", mode="legacy")
    holder.comm_up({"node1": "dead", "node2": "active"})
    holder.finish("req_our_resources")
    assert jobs(holder.receive(m("node2", t="ip-request", ipaddr="x"))) == []   # our own: ignored
    job, = jobs(holder.receive(m("node1", t="ip-request", ipaddr="10.9.0.100")))
    assert job.name == "ip-request" and job.env["HA_ipaddr"] == "10.9.0.100"
    joiner.finish("req_our_resources(ask)")
    job, = jobs(joiner.receive(m("node2", t="ip-request-resp", dest="node1", ipaddr="10.9.0.100",
                                 weown="yes", ok="OK")))
    assert texts(joiner.job_done(job.id, 0)) == ["Initial resource acquisition complete (ip-request-resp)"]


# -- peer death ---------------------------------------------------------------------------------
def test_peer_death_after_it_reported_holdings_needs_stonith():
    n = stable_pair()
    acts = n.node_status("node2", "dead", None)
    assert sends(acts) == [[("t", "stonith"), ("node", "node2"), ("result", "n_stnth")]]
    assert texts(acts) == ["No STONITH device configured.", "Shared disks are not protected.",
                           "Resources being acquired from node2."]
    assert [j.name for j in jobs(acts)] == ["status", "req_our_resources"]   # side by side
    assert n.engine.holding == "transition"


def test_peer_death_holding_nothing_is_unneeded():
    n = stable_pair()
    n.receive(m("node2", **dict(resource("none", "1"))))
    acts = n.node_status("node2", "dead", None)
    assert sends(acts) == [[("t", "stonith"), ("node", "node2"), ("result", "unneeded")]]
    assert texts(acts)[0] == "Dead node node2 gave up resources."
    assert "Resources being acquired from node2." in texts(acts)


def test_ping_node_death_runs_status_with_info_ping_and_nothing_else():
    n = Node()
    n.engine = Failover(config("on", "ping 192.0.2.1\n"), parse_haresources(HARESOURCES, "h"),
                        "node1", rcd_scripts=RCD, wall=lambda: TS, pid=1)
    n.comm_up({"node1": "active", "node2": "active"})
    acts = n.node_status("192.0.2.1", "dead", None)
    assert sends(acts) == [] and texts(acts) == []
    job, = jobs(acts)
    assert job.env["HA_info"] == "ping" and job.env["HA_src"] == "192.0.2.1"


def test_peer_death_cancels_a_pending_standby():
    n = stable_pair()
    n.receive(m("node1", **dict(ask("all", "me"))))
    acts = n.node_status("node2", "dead", None)
    assert texts(acts)[0] == "Cancelling pending standby operation"


# -- shutdown -------------------------------------------------------------------------------------
def test_shutdown_releases_every_group_then_sends_shutdone():
    n = stable_pair()
    acts = n.shutdown()
    assert sends(acts) == [resource("none", "0", "shutdown")]
    assert texts(acts) == ["Heartbeat shutdown in progress. (4242)"]
    job, = jobs(acts)
    assert job.name == "hb_giveup_resources"
    assert job.steps == (JobLog("info", "Giving up all HA resources."),
                         Command((RM, "givegroup", "10.9.0.100")),
                         Command((RM, "givegroup", "IPaddr::10.9.0.200/24/eth0")),
                         JobLog("info", "All HA resources relinquished."),
                         JobSend(Message.of(t="shutdone", st="dead")))
    assert n.engine.holding == "transition"
    assert n.shutdown() == []
    n.loop(acts)
    n.finish("hb_giveup_resources")
    assert n.engine.holding == "none"
    assert n.receive(m("node1", t="shutdone", st="dead")) == [ShutdownReady()]


def test_shutdown_waits_for_running_resource_work():
    n = stable_pair()
    n.node_status("node2", "active", m("node2", t="status", st="active"))    # a harc job runs
    assert texts(n.shutdown()) == ["Shutdown delayed until current resource activity finishes."]
    acts = n.finish("status")
    assert "Heartbeat shutdown in progress. (4242)" in texts(acts)


def test_shutdown_before_comm_up_waits_for_it():
    """As the real 3.0.6 logged it for `heartbeat stop` 2 s after start, peer never seen."""
    n = Node()
    assert logs(n.shutdown()) == [("WARN", "Shutdown delayed until Communication is up.")]
    assert n.node_status("node2", "dead", None) == []
    acts = n.comm_up({"node1": "active", "node2": "dead"})
    assert logs(acts) == [("WARN", "Shutdown delayed until current resource activity finishes."),
                          ("info", "Heartbeat shutdown in progress. (4242)")]
    assert sends(acts) == [resource("none", "0", "shutdown")]
    assert [j.name for j in jobs(acts)] == ["hb_giveup_resources"]


def test_shutdown_during_rqstdelay_takes_nothing_and_goes_when_both_are_stable():
    n = Node()
    n.comm_up({"node1": "active", "node2": "active"})
    n.receive(m("node2", t="starting"))
    n.receive(m("node2", **dict(resource("none", "0"))))
    assert texts(n.shutdown()) == ["Shutdown delayed until current resource activity finishes."]
    acts = n.at(110.0)
    assert texts(acts) == ["local resource transition completed."]
    assert jobs(acts) == [] and sends(acts) == [resource("none", "1")]
    acts = n.receive(m("node2", **dict(resource("local", "1"))))
    assert texts(acts)[-1] == "Heartbeat shutdown in progress. (4242)"


def test_peer_death_ends_a_standby_that_held_up_the_shutdown():
    n = lone_holder()
    n.at(110.0)
    n.receive(m("node1", **dict(ask("foreign", "me"))))
    assert texts(n.shutdown()) == ["Shutdown delayed until current resource activity finishes."]
    acts = n.node_status("node2", "dead", None)
    assert texts(acts) == ["Cancelling pending standby operation", "Heartbeat shutdown in progress. (4242)"]


def test_shutdown_behind_a_hung_job_gives_every_group_up_after_an_hour():
    # row 6: the original, and we before, exited here still running every group
    n = stable_pair()
    n.node_status("node2", "active", m("node2", t="status", st="active"))    # a harc job that hangs
    n.shutdown()
    assert n.engine.next_deadline() == n.now + 3600
    acts = n.at(n.now + 3600)
    assert ShutdownReady() not in acts
    assert texts(acts)[:2] == ["Emergency Shutdown: Attempting to kill everything ourselves",
                               "Heartbeat shutdown in progress. (4242)"]
    assert [j.name for j in jobs(acts)] == ["hb_giveup_resources"]
    n.loop(acts)
    n.finish("hb_giveup_resources")
    assert n.receive(m("node1", t="shutdone", st="dead")) == [ShutdownReady()]


def test_shutdown_waits_for_the_other_nodes_transition_only_so_long():
    # row 6: a peer whose transition never seems to end (its isstable=1 lost for good)
    n = stable_pair()
    n.receive(m("node2", **dict(resource("local", "0"))))
    assert n.engine.holding == "transition"
    assert texts(n.shutdown()) == ["Shutdown delayed until current resource activity finishes."]
    assert n.engine.next_deadline() == n.now + 30
    assert n.at(n.now + 29) == []
    acts = n.at(n.now + 1)
    assert texts(acts)[0].startswith("Shutdown: the other node's resource transition did not end")
    assert [j.name for j in jobs(acts)] == ["hb_giveup_resources"]
    assert sends(acts) == [resource("none", "0", "shutdown")]


def test_a_report_older_than_the_last_applied_is_ignored():
    # row 6: a retransmitted isstable=0 arrived after the newer isstable=1
    n = Node()
    n.comm_up({"node1": "active", "node2": "active"})
    n.receive(m("node2", t="starting", seq="8", hg="5"))
    n.receive(m("node2", **dict(resource("none", "0")), seq="9", hg="5"))
    n.loop(n.at(110.0))
    n.receive(m("node2", **dict(resource("local", "1")), seq="c", hg="5"))
    n.finish("req_our_resources(ask)")
    assert n.engine.holding == "local"
    assert not sends(n.receive(m("node2", **dict(resource("local", "0")), seq="b", hg="5")))
    assert n.engine.holding == "local"
    # numbering starts again with a new generation
    n.receive(m("node2", **dict(resource("local", "0")), seq="2", hg="6"))
    assert n.engine.holding == "transition"


def test_peer_shutdown_notice_acquires_through_standby_and_mach_down():
    n = stable_pair()
    acts = n.receive(m("node2", t="resource", rsc_hold="none", rtype="full", isstable="0",
                       info="shutdown"))
    acts = n.receive(m("node2", t="shutdone", st="dead"))
    assert texts(acts) == ["Received shutdown notice from 'node2'.",
                           "Resources being acquired from node2."]
    standby, status, req = jobs(acts)
    assert status.env["HA_st"] == "dead"                # mach_down at once (issue 8 row 2)
    # the original's set inversion: holding local, it re-acquires local
    assert standby.steps[0] == JobLog("info", "acquire local HA resources (standby).")
    assert standby.steps[-1] == JobSend(Message.of(t="ask_resources", rsc_hold="all", info="done"))
    assert req.name == "req_our_resources(ask)"        # node2 is still `active`
    n.finish("go_standby")
    acts = n.finish("req_our_resources(ask)")
    assert sends(acts) == [resource("all", "1", "req_our_resources()")]
    n.finish("status")
    acts = n.receive(m("node1", **dict(ask("all", "done"))))
    assert texts(acts) == ["Standby resource acquisition done [all]."]


def test_own_takeover_is_cancelled_while_shutting_down():
    n = stable_pair()
    n.shutdown()
    acts = n.receive(m("node2", t="shutdone", st="dead"))
    assert "Resource takeover cancelled - shutdown in progress." in texts(acts)


# -- standby ----------------------------------------------------------------------------------------
def test_standby_all_requester_side():
    n = stable_pair()
    acts = n.receive(m("node1", **dict(ask("all", "me"))))
    assert texts(acts) == ["node1 wants to go standby [all]"]
    assert sends(acts) == []
    acts = n.receive(m("node2", **dict(ask("all", "other"))))
    assert texts(acts) == ["standby: node2 can take our all resources"]
    assert sends(acts) == [resource("none", "0", "standby")]
    job, = jobs(acts)
    assert job.steps == standby_steps("give up", "all", "release", "all",
                                      (RM, "givegroup", "10.9.0.100"),
                                      (RM, "givegroup", "IPaddr::10.9.0.200/24/eth0"))


@pytest.mark.parametrize("kind, acting, argv", [
    ("local", "local", (RM, "givegroup", "10.9.0.100", "Marker::m1")),
    ("foreign", "foreign", (RM, "givegroup", "IPaddr::10.9.0.200/24/eth0", "Marker::m2")),
])
def test_standby_local_and_foreign_release_their_lines(kind, acting, argv):
    n = stable_pair()
    n.receive(m("node1", **dict(ask(kind, "me"))))
    job, = jobs(n.receive(m("node2", **dict(ask(kind, "other")))))
    assert job.steps[0] == JobLog("info", f"give up {acting} HA resources (standby).")
    assert job.steps[1] == Command(argv)


def test_standby_refused_in_legacy_mode():
    n = Node(mode="legacy")
    n.comm_up({"node1": "active", "node2": "active"})
    acts = n.receive(m("node1", **dict(ask("all", "me"))))
    assert logs(acts) == [("info", "Standby mode only implemented when nice_failback on")]


def test_standby_refused_while_in_flux():
    n = Node()
    n.comm_up({"node1": "active", "node2": "active"})
    acts = n.receive(m("node1", **dict(ask("all", "me"))))
    assert logs(acts) == [("WARN", "standby message [me] from node1 ignored.  Other side is in flux.")]
    lone = Node()                          # the dead peer counts as stable; we are still STARTING
    lone.node_status("node2", "dead", None)
    lone.comm_up({"node1": "active", "node2": "dead"})
    acts = lone.receive(m("node1", **dict(ask("all", "me"))))
    assert logs(acts) == [("WARN", "standby message [me] from node1 ignored.  local resources in flux.")]


def test_second_standby_request_is_refused_with_seconds_left():
    n = stable_pair()
    n.receive(m("node1", **dict(ask("all", "me"))))
    n.now += 3.5
    acts = n.receive(m("node1", **dict(ask("all", "me"))))
    assert logs(acts) == [("WARN", "Standby in progress- new request from node1 ignored [7 seconds left]")]


def test_standby_request_times_out_without_reply():
    n = stable_pair()
    n.receive(m("node1", **dict(ask("all", "me"))))
    assert n.engine.next_deadline() == n.now + 10
    acts = n.at(n.now + 10)
    assert logs(acts) == [("WARN", "No reply to standby request.  Standby request cancelled.")]
    assert n.engine.holding == "local"


def test_unexpected_standby_message_is_logged_with_state():
    n = stable_pair()
    acts = n.receive(m("node2", **dict(ask("all", "done"))))
    assert logs(acts) == [("ERROR", "Ignored standby message 'done' from node2 in state 0")]


def test_bad_resource_type_is_logged():
    n = stable_pair()
    acts = n.receive(m("node2", t="resource", rsc_hold="most", rtype="full", isstable="1"))
    assert ("ERROR", "encode_resources: bad resource type [most]") in logs(acts)


# -- rc.d notifications -----------------------------------------------------------------------------
def test_hb_takeover_and_unknown_types_go_to_harc_only_with_a_script():
    n = stable_pair()
    job, = jobs(n.receive(m("node2", t="hb_takeover", rsc_hold="foreign")))
    assert job.env["HA_rsc_hold"] == "foreign" and job.env["HA_src"] == "node2"
    n.finish("hb_takeover")
    assert jobs(n.receive(m("node2", t="custom", x="1"))) == []
    assert jobs(n.receive(m("node2", t="starting"))) == []


def test_notifications_run_one_at_a_time_in_order():
    n = stable_pair()
    first, = jobs(n.receive(m("node2", t="hb_takeover", rsc_hold="all")))
    assert jobs(n.link_status("node2", "eth0", "dead")) == []     # no rc.d/ifstat
    assert jobs(n.receive(m("node2", t="hb_takeover", rsc_hold="local"))) == []
    second, = jobs(n.job_done(first.id, 0))
    assert second.env["HA_rsc_hold"] == "local"


def test_ifstat_event_carries_node_link_and_status():
    n = Node(rcd=RCD | {"ifstat"})
    job, = jobs(n.link_status("node2", "eth0", "up"))
    assert (job.env["HA_t"], job.env["HA_node"], job.env["HA_ifname"], job.env["HA_st"]) == \
        ("ifstat", "node2", "eth0", "up")


def test_ip_request_resp_is_ignored_while_shutting_down():
    n = stable_pair()
    n.shutdown()
    assert jobs(n.receive(m("node2", t="ip-request-resp", dest="node1", ipaddr="k", ok="OK"))) == []


def test_resource_messages_before_comm_up_are_ignored():
    n = Node()
    assert n.receive(m("node2", t="starting")) == []
    assert n.receive(m("node2", **dict(resource("all", "1")))) == []


# -- audits ----------------------------------------------------------------------------------------
def test_audit_reports_double_ownership():
    n = stable_pair()
    acts = n.receive(m("node2", **dict(resource("all", "1"))))
    assert ("ERROR", "Both machines own our resources!") in logs(acts)


def test_audit_reports_orphans_when_stable():
    n = stable_pair()
    acts = n.receive(m("node2", **dict(resource("none", "1"))))
    assert ("ERROR", "No one owns foreign resources!") in logs(acts)


# -- less travelled paths -----------------------------------------------------------------------------
def test_node_without_groups_logs_no_local_resources():
    n = Node("node2", haresources="node1 10.9.0.100\n")
    n.node_status("node1", "dead", None)
    job = jobs(n.comm_up({"node1": "dead", "node2": "active"}))[-1]
    assert job.steps == (JobLog("info", "No local resources [/usr/share/heartbeat/ResourceManager "
                                        "listkeys node2] to acquire."),)


def test_dead_after_shutdown_notice_gave_up_and_nothing_more_runs():
    """As the real 3.0.6 logs it: shutdone, takeover, then deadtime later the death itself."""
    n = stable_pair()
    n.receive(m("node2", t="shutdone", st="dead"))
    n.finish("go_standby")
    n.receive(m("node1", **dict(ask("all", "done"))))
    n.loop(n.finish("req_our_resources(ask)"))
    n.finish("status")
    n.receive(m("node1", t="resource", rsc_hold="foreign", info="mach_down"))
    acts = n.node_status("node2", "dead", None)
    assert texts(acts) == ["Dead node node2 gave up resources."]
    assert sends(acts) == [[("t", "stonith"), ("node", "node2"), ("result", "unneeded")]]
    assert jobs(acts) == []


def test_unneeded_death_without_local_groups_requests_them():
    n = Node("node2", mode="off")
    n.comm_up({"node1": "active", "node2": "active"})
    n.receive(m("node1", **dict(resource("all", "1"))))       # node2 holds nothing
    n.receive(m("node1", **dict(resource("none", "1"))))      # ... and node1 gave all up
    acts = n.node_status("node1", "dead", None)
    assert texts(acts)[:2] == ["Dead node node1 gave up resources.", "Resources being acquired from node1."]
    # the dead-node event starts at once, beside both requests (issue 8 row 2)
    assert [j.name for j in jobs(acts)] == ["req_our_resources", "status", "req_our_resources"]


@pytest.mark.parametrize("shutdone, result", [(False, "n_stnth"), (True, "unneeded")])
def test_legacy_death_needs_stonith_unless_the_peer_said_it_shut_down(shutdone, result):
    n = Node(mode="legacy")
    n.node_status("node2", "active", m("node2", t="status", st="active"))
    n.comm_up({"node1": "active", "node2": "active"})
    if shutdone:
        n.receive(m("node2", t="shutdone", st="dead"))
    acts = n.node_status("node2", "dead", None)
    assert sends(acts) == [[("t", "stonith"), ("node", "node2"), ("result", result)]]


def test_death_while_shutting_down_acquires_nothing():
    n = stable_pair()
    n.shutdown()
    assert n.node_status("node2", "dead", None) == []


def test_starting_during_takeover_is_warned():
    n = stable_pair()
    n.node_status("node2", "dead", None)
    acts = n.receive(m("node2", t="starting"))
    assert ("WARN", "T_STARTING received during takeover.") in logs(acts)


def test_resource_message_without_holdings_is_an_error():
    n = stable_pair()
    assert logs(n.receive(m("node2", t="resource", rtype="full"))) == \
        [("ERROR", "resource message without rsc_hold field.")]


def test_audit_reports_double_foreign_and_orphaned_local_groups():
    n = lone_holder()
    n.at(110.0)
    acts = n.receive(m("node2", **dict(resource("local", "1"))))
    assert ("ERROR", "Both machines own foreign resources!") in logs(acts)
    n2 = stable_pair("off")
    acts = n2.receive(m("node1", **dict(resource("none", "1"))))
    assert ("ERROR", "No one owns our local resources!") in logs(acts)


def test_standby_of_nothing_gives_up_nothing():
    n = stable_pair()
    n.receive(m("node1", **dict(ask("none", "me"))))
    job, = jobs(n.receive(m("node2", **dict(ask("none", "other")))))
    assert job.steps == (JobLog("ERROR", "no resources to give up"),)


@pytest.mark.parametrize("before, late, state", [
    ([("node1", "me")], ("node1", "other"), 1),    # the requester expects `other` from the peer
    ([("node1", "me")], ("node2", "done"), 1),     # ... and nothing else from it
    ([("node2", "me")], ("node1", "done"), 2),     # the helper expects the requester's `done`
    ([("node2", "me")], ("node2", "other"), 2),    # ... and `other` only from itself
    ([("node1", "me"), ("node2", "other"), ("node1", "done")], ("node2", "other"), 3),
])
def test_standby_messages_out_of_turn_are_ignored(before, late, state):
    n = stable_pair()
    for src, info in before:
        n.receive(m(src, **dict(ask("all", info))))
    acts = n.receive(m(late[0], **dict(ask("all", late[1]))))
    assert ("ERROR", f"Ignored standby message '{late[1]}' from {late[0]} in state {state}") in logs(acts)


def test_standby_message_without_info_is_an_error():
    n = stable_pair()
    assert logs(n.receive(m("node2", t="ask_resources", rsc_hold="all"))) == \
        [("ERROR", "Received standby message without info/from")]


# -- restart in place (-R -C held) -------------------------------------------------------------
def test_restarted_holder_reports_its_groups_and_acquires_nothing():
    n = Node()
    assert n.restarted("local") == []
    acts = n.comm_up({"node1": "active", "node2": "active"})
    assert sends(acts) == [[("t", "starting")]] and jobs(acts) == []
    n.loop(acts)
    acts = n.receive(m("node2", **dict(resource("local", "1"))))
    # as the real 3.0.6 after its -R exec (lab): one line, one stable report, no request
    assert texts(acts) == ["remote resource transition completed."]
    assert jobs(acts) == [] and sends(acts) == [resource("local", "1")]
    assert texts(n.loop(acts)) == ["Initial resource acquisition complete (T_RESOURCES(us))"]
    assert n.engine.holding == "local"


def test_restarted_lone_holder_of_everything_keeps_reporting_all():
    n = Node()
    n.restarted("all")
    assert n.engine.held == "all"
    n.comm_up({"node1": "active", "node2": "active"})
    acts = n.receive(m("node2", **dict(resource("none", "1"))))
    assert jobs(acts) == [] and sends(acts) == [resource("all", "1")]


def test_restarted_from_legacy_assumes_its_own_groups():
    n = Node()
    acts = n.restarted(None)
    assert sends(acts) == [resource("local", "1")]
    assert texts(acts) == ["restart: assuming HB_LOCAL_RSC"]


def test_restarted_legacy_node_does_not_ask_for_its_groups_at_comm_up():
    n = Node(mode="legacy")
    assert n.restarted(None) == []
    assert jobs(n.comm_up({"node1": "active", "node2": "active"})) == []
    assert n.engine.held is None


@pytest.mark.parametrize("held, text, asked", [
    ("local", "restart: acquiring local resources.", ["req_our_resources"]),
    ("none", "restart:  local resources already acquired.", []),
])
def test_restarted_legacy_node_after_nice_failback_follows_held(held, text, asked):
    n = Node(mode="legacy")
    acts = n.restarted(held)
    assert texts(acts) == [text] and [j.name for j in jobs(acts)] == asked
    assert jobs(n.comm_up({"node1": "active", "node2": "active"})) == []


def test_restarted_with_a_bad_holding_logs_it_and_holds_nothing():
    n = Node()
    assert logs(n.restarted("most")) == [("ERROR", "encode_resources: bad resource type [most]")]
    assert n.engine.held == "none"


# -- hostile input (issue 8) ----------------------------------------------------------------------
ATTACK = "../../../../bin/sh::-c::id>FILE"


@pytest.mark.parametrize("mtype, extra", [("ip-request", {}),
                                          ("ip-request-resp", {"dest": "node1", "weown": "yes", "ok": "OK"})])
@pytest.mark.parametrize("key", [ATTACK, "httpd", "Marker::m1 x", "10.9.0.100\n", ""])
def test_ip_request_for_no_resource_of_ours_runs_nothing_and_is_logged(mtype, extra, key):
    """Row 1: only a resource written in haresources may reach rc.d/ip-request(-resp),
    which hand it to ResourceManager; anything else is dropped before any job."""
    n = stable_pair()
    acts = n.receive(m("node2", t=mtype, ipaddr=key, **extra))
    assert jobs(acts) == []
    shown = key.encode("unicode_escape").decode("ascii")
    assert logs(acts) == [("WARN", f"{mtype} from node2 names [{shown}], no resource of haresources: ignored")]


@pytest.mark.parametrize("key", ["10.9.0.100", "Marker::m1", "IPaddr::10.9.0.200/24/eth0", "Marker::m2"])
def test_ip_request_for_any_resource_of_haresources_runs(key):
    n = stable_pair()
    job, = jobs(n.receive(m("node2", t="ip-request", ipaddr=key)))
    assert job.env["HA_ipaddr"] == key


def test_wire_fields_cannot_set_the_scripts_own_variables():
    """A field named DIR, FUNCS or NOARCHBIN became HA_DIR, HA_FUNCS, HA_NOARCHBIN: harc
    would run <DIR>/rc.d/<event>, shellfuncs would be sourced from anywhere. Only the
    protocol's lower-case field names (not `debug`) reach the scripts, and no NUL byte."""
    n = stable_pair()
    msg = m("node2", t="hb_takeover", rsc_hold="foreign", DIR="/tmp/evil", FUNCS="/tmp/evil",
            NOARCHBIN="/tmp", DEBUGLOG="/etc/passwd", debug="9", NICEFAILBACK="yes", OSTATUS="dead")
    msg.append("info", "a\x00b")
    msg.append("x-y", "1")
    job, = jobs(n.receive(msg))
    assert job.env == {"HA_t": "hb_takeover", "HA_rsc_hold": "foreign", "HA_src": "node2",
                       "HA_OSTATUS": "active", "HA_NICEFAILBACK": "yes", "HA_LOGD": "yes"}


def test_a_dead_node_is_handled_at_once_beside_a_running_notification():
    """Row 2: `status dead` waited behind any running rc.d job (a release that takes
    minutes, a stop retried ten times); now it starts at once. The other notifications
    keep their order and still run one at a time, after it."""
    n = stable_pair()
    slow, = jobs(n.receive(m("node2", t="hb_takeover", rsc_hold="all")))
    assert jobs(n.receive(m("node2", t="hb_takeover", rsc_hold="local"))) == []
    dead, *others = sorted(jobs(n.node_status("node2", "dead", None)), key=lambda j: j.name != "status")
    assert dead.env["HA_st"] == "dead"
    for job in others:
        assert jobs(n.job_done(job.id, 0)) == []
    assert jobs(n.job_done(slow.id, 0)) == []              # the queue waits for the dead node's job
    second, = jobs(n.job_done(dead.id, 0))
    assert second.env["HA_rsc_hold"] == "local"
