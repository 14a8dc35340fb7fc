"""authkeys: the keyfile reader's rules (spec §4, wire-protocol §4.1)."""

import os

import pytest

from heartbeat.config.authkeys import AuthKey, load_authkeys, parse_authkeys
from heartbeat.config.errors import ConfigError, ConfigErrors, Warning_

PATH = "/etc/ha.d/authkeys"


def parse(text: str, mode: int = 0o100600):
    return parse_authkeys(text, PATH, mode)


def errors(text: str, mode: int = 0o100600) -> list[str]:
    with pytest.raises(ConfigErrors) as info:
        parse(text, mode)
    return [str(e) for e in info.value.errors]


def test_lab_file():
    keys = parse("auth 1\n1 md5 halab-shared-secret\n")
    assert keys.active == 1
    assert keys.signing_key == AuthKey(1, "md5", b"halab-shared-secret")
    assert keys.warnings == ()


def test_all_methods_comments_and_blank_lines():
    keys = parse("# comment\n\n   \t\nauth 2\n 1 md5 keyone\n2\tsha1\tkeytwo\n3 crc\n")
    assert dict(keys.keys) == {1: AuthKey(1, "md5", b"keyone"), 2: AuthKey(2, "sha1", b"keytwo"),
                               3: AuthKey(3, "crc", None)}
    assert keys.signing_key.method == "sha1"
    with pytest.raises(TypeError):
        keys.keys[4] = AuthKey(4, "crc", None)   # read-only mapping


@pytest.mark.parametrize("text", ["auth1\n1 crc\n", "auth   +1 \n1crc\n", "auth 01\n01 crc\n"])
def test_sscanf_forms_the_daemon_accepts(text):
    assert parse(text).signing_key == AuthKey(1, "crc", None)


@pytest.mark.parametrize("mode", [0o100600, 0o100400, 0o100700, 0o100622, 0o100200])
def test_accepted_modes(mode):
    assert parse("auth 1\n1 crc\n", mode).active == 1


@pytest.mark.parametrize("mode", [0o100644, 0o100640, 0o100604])
def test_group_or_other_read_is_fatal(mode):
    assert errors("auth 1\n1 crc\n", mode) == [
        f"{PATH}: Bad permissions on keyfile [{PATH}], 600 recommended."]


def test_auth_must_come_before_its_key_line():
    assert errors("1 md5 secret\nauth 1\n") == [
        f"{PATH}:2: Auth Key [1] not found in keyfile: the key line for 1 (line 1) "
        "must come after the auth line"]


def test_auth_key_not_found_and_missing_auth():
    assert errors("auth 3\n1 md5 secret\n") == [f"{PATH}:1: Auth Key [3] not found in keyfile"]
    assert errors("1 md5 secret\n") == [f"{PATH}: Missing auth directive in keyfile"]
    assert errors("") == [f"{PATH}: Missing auth directive in keyfile"]


def test_an_auth_line_without_a_key_after_it_keeps_the_bound_key():
    keys = parse("auth 1\n1 md5 one\nauth 2\n")
    assert keys.active == 1
    assert keys.warnings == (Warning_(3, "WARN", "auth 2 has no key line after it; "
                                                 "key 1 (line 2) stays the signing key"),)


def test_redefined_key_and_ignored_text_are_warnings():
    keys = parse("auth 1\n1 md5 one\n1 sha1 two # a comment\n")
    assert keys.signing_key == AuthKey(1, "sha1", b"two")
    assert keys.warnings == (
        Warning_(3, "WARN", "text after the key is ignored: [# a comment]"),
        Warning_(3, "WARN", "key 1 redefined (first on line 2); this line wins"))


@pytest.mark.parametrize("line, reason", [
    ("1 foo key", "Invalid authtype [foo] (crc, md5 or sha1)"),
    ("1 MD5 key", "Invalid authtype [MD5] (crc, md5 or sha1)"),
    ("1 md5", "Auth method [md5] requires a key"),
    ("1 sha1", "Auth method [sha1] requires a key"),
    ("1 crc key", "Auth method [crc] doesn't use a key"),
    ("1 crc # comment", "Auth method [crc] doesn't use a key"),   # no inline comments
    ("16 md5 key", "Invalid authnum [16] (0..15)"),
    ("-1 md5 key", "Invalid authnum [-1] (0..15)"),
    ("md5 1 key", "Auth line [md5 1 key] is invalid."),
    ("1", "Auth line [1] is invalid."),
    ("Auth 1", "Auth line [Auth 1] is invalid."),
])
def test_bad_key_lines(line, reason):
    assert f"{PATH}:2: {reason}" in errors(f"auth 0\n{line}\n0 crc\n")


@pytest.mark.parametrize("line, reason", [
    ("auth", "Invalid auth line [auth]"),
    ("auth x", "Invalid auth line [auth x]"),
    ("authentication 1", "Invalid auth line [authentication 1]"),
    ("auth 16", "Invalid auth index [16] (0..15)"),
])
def test_bad_auth_lines(line, reason):
    assert errors(f"{line}\n1 crc\n") == [f"{PATH}:1: {reason}"]


def test_every_error_is_reported():
    errs = errors("auth 1\n1 foo\n2 md5\nbogus\n", mode=0o100644)
    assert [e.split(": ", 1)[0] for e in errs] == [
        PATH, f"{PATH}:2", f"{PATH}:3", f"{PATH}:4", f"{PATH}:1"]


def test_load_checks_the_mode_and_keeps_key_bytes(tmp_path):
    f = tmp_path / "authkeys"
    f.write_bytes(b"auth 1\n1 sha1 k\xe9y\n")
    os.chmod(f, 0o600)
    assert load_authkeys(str(f)).signing_key.key == b"k\xe9y"
    os.chmod(f, 0o644)
    with pytest.raises(ConfigErrors, match="Bad permissions"):
        load_authkeys(str(f))
    with pytest.raises(ConfigError) as info:
        load_authkeys(str(tmp_path / "none"))
    assert str(info.value).endswith("Cannot open keyfile [%s].  Stop.: No such file or directory"
                                    % (tmp_path / "none"))


# -- keys that authenticate nothing (issue 8 row 11) ------------------------------------------
CRC_SIGNS = ("key 1 is crc, which authenticates nothing: anyone who can reach the cluster's "
             "network can forge its messages; use sha1 with a long random key")


def test_a_crc_signing_key_is_warned_about():
    assert parse("auth 1\n1 crc\n").warnings == (Warning_(2, "WARN", CRC_SIGNS),)


def test_a_leftover_crc_key_beside_sha1_is_warned_about():
    keys = parse("auth 1\n1 sha1 0123456789abcdef0123456789abcdef\n2 crc\n")
    assert keys.warnings == (Warning_(3, "WARN", "key 2 is crc, which authenticates nothing, and messages "
                                                 "signed with any key of this file are accepted: anyone "
                                                 "can forge them; remove the line"),)


@pytest.mark.parametrize("key", ["replace-me-with-a-long-random-shared-secret", "HI!", "Hello!"])
def test_a_published_example_key_is_warned_about(key):
    keys = parse(f"auth 3\n3 md5 {key}\n")
    assert keys.warnings == (Warning_(2, "WARN", f"key 3 is the published example key [{key}]: anyone "
                                                 "can sign with it; replace it by a long random secret"),)
