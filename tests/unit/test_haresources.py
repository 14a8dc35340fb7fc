"""haresources: ResourceManager's normalisation and strict errors (spec §5)."""

import pytest

from heartbeat.config.errors import ConfigError, ConfigErrors
from heartbeat.config.haresources import (HaResources, Resource, check_nodes, load_haresources,
                                   parse_haresources, parse_resource)
from tests.unit.deadline import deadline

PATH = "/etc/ha.d/haresources"


def groups(text: str):
    return parse_haresources(text, PATH).groups


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigErrors) as info:
        parse_haresources(text, PATH)
    return [str(e) for e in info.value.errors]


def test_spec_example():
    text = ("node1 10.9.0.100 Marker::m1\n"
            "node2 IPaddr::10.9.0.200/24/eth0 Marker::m2\n"
            "node1 IPaddr::192.168.1.210/24/eth0/192.168.1.255 Filesystem::/dev/sda1::/data1::ext3 \\\n"
            "      httpd\n")
    g1, g2, g3 = groups(text)
    assert (g1.key, g1.line, g1.node) == ("10.9.0.100", 1, "node1")
    assert g1.resources[0] == Resource("10.9.0.100", "IPaddr", ("10.9.0.100",))
    assert g2.key == "IPaddr::10.9.0.200/24/eth0"
    assert g3.line == 3
    assert g3.text == ("node1 IPaddr::192.168.1.210/24/eth0/192.168.1.255 "
                       "Filesystem::/dev/sda1::/data1::ext3 httpd")
    assert g3.resources[1] == Resource("Filesystem::/dev/sda1::/data1::ext3", "Filesystem",
                                       ("/dev/sda1", "/data1", "ext3"))


@pytest.mark.parametrize("token, script, args", [
    ("192.0.2.100", "IPaddr", ("192.0.2.100",)),
    ("192.0.2.100/24/eth0", "IPaddr", ("192.0.2.100/24/eth0",)),
    ("httpd", "httpd", ()),
    ("IPaddr2::192.0.2.5/24", "IPaddr2", ("192.0.2.5/24",)),
    ("Filesystem::192.0.2.20:/export::/var/www::nfs", "Filesystem",
     ("192.0.2.20:/export", "/var/www", "nfs")),
    ("x::a:::b", "x", ("a", ":b")),   # '::' splits left to right, as sed's s/::/ /g
    ("1.2.3", "1.2.3", ()),           # three parts only: not the IP glob
])
def test_resource_forms(token, script, args):
    assert parse_resource(token) == Resource(token, script, args)


@pytest.mark.parametrize("token, reason", [
    ("::x", "empty script name"),
    ("a::::b", "empty argument"),
    ("a::", "empty argument"),
    ("a:b::c", "single ':'"),
    ("../x", "plain file name"),
    ("192.0.2.1::eth0", "looks like an IP address"),
])
def test_malformed_resources(token, reason):
    with pytest.raises(ValueError, match=reason):
        parse_resource(token)
    assert any(reason in e for e in errors(f"node1 {token}\n"))


def test_normalisation_comments_blanks_case():
    text = ("# whole comment\n"
            "\n"
            "   \t  \n"
            "NODE1\t\tIPaddr::192.0.2.100   httpd  # trailing comment\n"
            "node2 a#no space needed\n")
    g1, g2 = groups(text)
    assert (g1.node, g1.line, g1.text) == ("node1", 4, "node1 IPaddr::192.0.2.100 httpd")
    assert (g2.text, g2.line) == ("node2 a", 5)


def test_continuation_joins_without_a_blank():
    # sed removes backslash and newline only: "http\" + "d" is one token
    (g,) = groups("node1 192.0.2.1 http\\\nd \\\n  other\n")
    assert g.text == "node1 192.0.2.1 httpd other"
    assert g.line == 1


def test_comment_cuts_continuation_on_first_line():
    g1, g2 = groups("node1 a # comment \\\nnode2 b\n")
    assert (g1.text, g2.text, g2.line) == ("node1 a", "node2 b", 2)


def test_hash_on_continued_line_is_an_error():
    assert errors("node1 a \\\n b # not a comment for sed\n") == [
        f"{PATH}:2: '#' on a continued line starts no comment for ResourceManager: "
        "[# not a comment for sed] would be read as resources"]


def test_empty_group():
    assert errors("node1\nnode2   # only a comment\n") == [
        f"{PATH}:1: resource group of node [node1] has no resources",
        f"{PATH}:2: resource group of node [node2] has no resources"]


def test_duplicate_key():
    assert errors("node1 192.0.2.1 httpd\nnode2 192.0.2.1 other\n") == [
        f"{PATH}:2: duplicate group key [192.0.2.1] (first used on line 1)"]


def test_key_inside_another_group_merges_groups():
    errs = errors("node1 a b\nnode2 b c\n")
    assert errs == [f"{PATH}:2: group key [b] also matches the group on line 1: "
                    "ResourceManager would run both as one group"]


def test_key_with_regex_characters():
    errs = errors("node1 Rec::a+b c\nnode2 Rec::x( y\nnode3 Rec::x.y z\n")
    assert errs == [f"{PATH}:{n}: group key [{key}] holds egrep pattern characters other than '.' "
                    "(ResourceManager looks groups up with egrep)" for n, key in ((1, "Rec::a+b"), (2, "Rec::x("))]


def test_a_hostile_key_is_checked_in_linear_time():
    """Issue 8 row 2: the key check compiled keys as Python regexes."""
    text = "node1 Rec::(a*a*)*Q\nnode2 Rec::" + "a" * 40 + "\n"
    with deadline(10):
        errs = errors(text)
    assert errs == [f"{PATH}:1: group key [Rec::(a*a*)*Q] holds egrep pattern characters other than '.' "
                    "(ResourceManager looks groups up with egrep)"]


def test_continuation_at_end_of_file():
    assert errors("node1 a \\\n") == [f"{PATH}:1: line continuation '\\' at the end of the file"]
    assert errors("node1 a \\\n b \\") == [f"{PATH}:2: line continuation '\\' at the end of the file"]


def test_blank_after_the_continuation_is_an_error():
    # sed joins only a line whose very last character is the backslash
    assert errors("node1 IPaddr::192.0.2.100 \\ \n\thttpd\nnode2 b \\\t# comment\n") == [
        f"{PATH}:1: blank after the line continuation '\\': ResourceManager would read [\\] as a "
        "resource and the next line as a group of its own",
        f"{PATH}:2: resource group of node [httpd] has no resources",
        f"{PATH}:3: blank after the line continuation '\\': ResourceManager would read [\\] as a "
        "resource and the next line as a group of its own"]


def test_carriage_return_and_nul_and_long_lines():
    errs = errors("node1 a\r\nnode2 b\0\nnode1 " + "c" * 6000 + "\n")
    assert errs == [f"{PATH}:1: control character '\\r' in line (DOS line ending?)",
                    f"{PATH}:2: NUL byte in line",
                    f"{PATH}:3: line longer than 5117 bytes"]


def test_multiple_errors_all_reported_in_line_order():
    errs = errors("node1\nnode2 ::x\nnode1 a \\\n")
    assert [e.split(":")[1] for e in errs] == ["1", "2", "3"]


def test_empty_file_has_no_groups():
    assert parse_haresources("# nothing\n", PATH) == HaResources(PATH, ())


def test_check_nodes():
    res = parse_haresources("NODE1 a\nnode3 b\n192.0.2.1 c\n", PATH)
    errs = check_nodes(res, ["node1", "Node2"], ping_nodes=["192.0.2.1"])
    assert [str(e) for e in errs] == [
        f"{PATH}:2: Bad nodename [node3]: not a node in ha.cf",
        f"{PATH}:3: Bad nodename [192.0.2.1]: a ping node cannot own resources"]
    assert check_nodes(res, ["node1", "node3", "192.0.2.1"]) == []


def test_load(tmp_path):
    f = tmp_path / "haresources"
    f.write_bytes(b"node1 IPaddr::192.0.2.100/24/eth0 Rec::\xff-arg\n")
    (g,) = load_haresources(str(f)).groups
    assert g.resources[1].args == ("\udcff-arg",)
    with pytest.raises(ConfigError) as info:
        load_haresources(str(tmp_path / "missing"))
    assert str(info.value) == (f"{tmp_path}/missing: Cannot open resources file "
                               f"[{tmp_path}/missing]: No such file or directory")
