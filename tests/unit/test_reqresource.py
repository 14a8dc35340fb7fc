"""req_resource KEY: asking for one of our groups, or granting it to ourselves (spec §10)."""

from __future__ import annotations

import pytest

from tests.unit.hatree import ha_tree

HARESOURCES = """\
node1 Rec::a Rec::a2
node2 Rec::b
"""

ASK = [[("t", "ip-request"), ("ipaddr", "Rec::a")]]
GRANT = [[("t", "ip-request-resp"), ("dest", "node1"), ("ipaddr", "Rec::a"), ("weown", "yes"), ("ok", "OK")]]


@pytest.fixture
def tree(tmp_path):
    with ha_tree(tmp_path, HARESOURCES, ["Rec"]) as t:
        yield t


def test_a_running_key_needs_nothing(tree):
    tree.set_running("Rec", "a")
    done = tree.run("req_resource", "Rec::a")
    assert done.returncode == 0
    assert tree.calls() == ["Rec a status"]
    assert tree.messages() == [] and tree.log() == []


def test_legacy_asks_the_cluster_and_starts_nothing(tree):
    tree.set_running("Rec", "a2")          # only the key counts
    done = tree.run("req_resource", "Rec::a")
    assert done.returncode == 0
    assert tree.messages() == ASK
    assert tree.calls() == ["Rec a status"]
    assert not tree.running("Rec", "a")


@pytest.mark.parametrize("extra", [{"HA_DONTASK": "yes"}, {"HA_NICEFAILBACK": "yes"},
                                   {"HA_NICEFAILBACK": "yes", "HA_DONTASK": "no"}])
def test_alone_or_nice_failback_grants_the_group_to_ourselves(tree, extra):
    assert tree.run("req_resource", "Rec::a", **extra).returncode == 0
    assert tree.messages() == GRANT
    assert tree.calls() == ["Rec a status"]


@pytest.mark.parametrize("extra", [{"HA_DONTASK": "Yes"}, {"HA_NICEFAILBACK": "Yes"}])
def test_only_lower_case_yes_counts(tree, extra):
    tree.run("req_resource", "Rec::a", **extra)
    assert tree.messages() == ASK


def test_debug_lines(tree):
    tree.run("req_resource", "Rec::a", HA_debug="1", HA_DONTASK="yes")
    prog = tree.noarchbin / "req_resource"
    assert tree.log() == [("req_resource", f"debug: in {prog} Rec::a"),
                          ("req_resource", "debug: dont_ask: yes nice_failback: ")]


@pytest.mark.parametrize("level", ["0", "6", ""])
def test_no_debug_lines_for_levels_the_original_skips(tree, level):
    tree.run("req_resource", "Rec::a", HA_debug=level)
    assert tree.log() == []
    assert tree.messages() == ASK


@pytest.mark.parametrize("args", [[], [""], ["Rec::a", "Rec::b"]])
def test_bad_arguments_change_nothing(tree, args):
    done = tree.run("req_resource", *args)
    assert done.returncode == 1
    assert done.stderr == f"usage: {tree.noarchbin / 'req_resource'} resource-group-key\n"
    assert tree.calls() == [] and tree.messages() == []


def test_without_a_daemon_the_request_fails_clearly(tree):
    tree.close()
    done = tree.run("req_resource", "Rec::a")
    assert done.returncode == 1
    assert "no heartbeat daemon is reading it" in done.stderr
