"""Property tests of the config parsers: whatever the text, ha.cf, authkeys and haresources
either parse into their typed objects or raise ConfigError(s) naming the file, never
anything else; and every accepted group or key survives a re-parse of its own text."""

import stat

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heartbeat.config.authkeys import parse_authkeys
from heartbeat.config.errors import ConfigError, flatten
from heartbeat.config.hacf import DIRECTIVES, HaCf, parse_hacf
from heartbeat.config.haresources import HaResources, parse_haresources

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HACF, AUTHKEYS, HARESOURCES = "/etc/ha.d/ha.cf", "/etc/ha.d/authkeys", "/etc/ha.d/haresources"

# what the files are made of, so random lines often get deep into the parsers
WORDS = sorted(DIRECTIVES) + [
    "udp", "crm", "Node", "node1", "node2", "eth0", "lo", "192.0.2.1", "239.0.2.1", "694", "0", "1",
    "-1", "2.5", ".5", "500ms", "10us", "1s", "on", "off", "yes", "legacy", "respawn", "hacluster",
    "/usr/lib/heartbeat/ipfail", "uid=root", "gid=haclient,0", "/dev/ttyS0", "auth", "crc", "md5",
    "sha1", "secret", "16", "99999999999999999999", "IPaddr::192.0.2.100/24/eth0",
    "Filesystem::192.0.2.20:/export::/srv::nfs", "httpd", "192.0.2.100", "::", ":", "#", "\\", "=",
    ",", "a::", "::b", "(", "[", "*", "+", "é", "\udcff", "\0", "\r", "\t", "\x0b",
]
SEPARATORS = [" ", "  ", "\t", ",", ""]


@st.composite
def config_text(draw) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        if draw(st.integers(0, 9)) == 0:
            # now and then a line of anything, surrogate-escaped bytes included
            lines.append(draw(st.text(max_size=40)))
            continue
        words = draw(st.lists(st.sampled_from(WORDS), max_size=7))
        seps = draw(st.lists(st.sampled_from(SEPARATORS), min_size=len(words), max_size=len(words)))
        lines.append("".join(w + s for w, s in zip(words, seps)))
    text = "\n".join(lines)
    return text + "\n" if draw(st.booleans()) else text


def refused_cleanly(call, path: str):
    """The call's result, or None if it raised ConfigError(s) about `path` with a reason."""
    try:
        return call()
    except ConfigError as e:
        for error in flatten(e):
            assert error.path == path and error.reason
            assert error.line is None or error.line >= 1
            assert str(error).startswith(path)
        return None


@FAST
@given(config_text())
def test_hacf_parser_only_raises_config_errors(text):
    cfg = refused_cleanly(lambda: parse_hacf(text, HACF), HACF)
    assert cfg is None or isinstance(cfg, HaCf)


@FAST
@given(config_text(), st.sampled_from([0o100600, 0o100400, 0o100644, 0o100640, 0o100604]))
def test_authkeys_parser_only_raises_config_errors(text, mode):
    keys = refused_cleanly(lambda: parse_authkeys(text, AUTHKEYS, mode), AUTHKEYS)
    if keys is not None:
        assert not mode & (stat.S_IRGRP | stat.S_IROTH)
        assert keys.signing_key.index == keys.active
        assert keys.signing_key.method in ("crc", "md5", "sha1")


@FAST
@given(config_text())
def test_haresources_parser_only_raises_config_errors(text):
    res = refused_cleanly(lambda: parse_haresources(text, HARESOURCES), HARESOURCES)
    if res is None:
        return
    assert isinstance(res, HaResources)
    # an accepted group is what its normalised text means
    again = parse_haresources("".join(g.text + "\n" for g in res.groups), HARESOURCES)
    assert [(g.node, g.resources) for g in again.groups] == [(g.node, g.resources) for g in res.groups]


@FAST
@given(st.binary(max_size=300))
def test_any_bytes_as_read_from_disk(raw):
    # read_config decodes this way, so every byte sequence reaches the parsers
    text = raw.decode("utf-8", "surrogateescape")
    refused_cleanly(lambda: parse_hacf(text, HACF), HACF)
    refused_cleanly(lambda: parse_authkeys(text, AUTHKEYS, 0o100600), AUTHKEYS)
    refused_cleanly(lambda: parse_haresources(text, HARESOURCES), HARESOURCES)
