"""Digest methods and the Authenticator (wire-protocol §4.2, §4.5, §12)."""

from __future__ import annotations

import hashlib
from types import MappingProxyType

import pytest

from heartbeat.core.auth import Authenticator, compute, crc32_msb, parse_token
from heartbeat.config.authkeys import AuthKey, AuthKeys
from heartbeat.core.message import Message

# §12.2: what the inner `auth` field of the synthetic status message is computed over
CLASSIC_INPUT = (b"t=status\nst=active\ndt=2710\nprotocol=1\nsrc=alpha\n"
                 b"(1)srcuuid=ABEiM0RVZneImaq7zN3u/w==\nseq=2a\nhg=5f5e101\nts=65000000\n"
                 b"ld=0.00 0.01 0.05 1/123 4567\nttl=3\n")


def keys(active: int, *lines: tuple[int, str, bytes | None]) -> AuthKeys:
    table = {i: AuthKey(i, method, key) for i, method, key in lines}
    return AuthKeys("/etc/ha.d/authkeys", active, MappingProxyType(table))


@pytest.mark.parametrize("data, expected", [
    (b"123456789", "765e7680"),
    (b"", "ffffffff"),
])
def test_crc_check_values(data, expected):
    assert compute("crc", None, data) == expected


def test_crc_prints_without_leading_zeros():
    # find an input whose CRC is below 0x10000000 and check the text is short
    data = next(bytes([a, b]) for a in range(256) for b in range(256)
                if crc32_msb(bytes([a, b])) < 0x10000000)
    text = compute("crc", None, data)
    assert len(text) < 8 and int(text, 16) == crc32_msb(data) and not text.startswith("0")


@pytest.mark.parametrize("method, key, expected", [
    ("sha1", b"s3cret", "bd9fbce8411e7b5712e28654fb41ac74f4dd59ed"),
    ("md5", b"s3cret", "45bff862a035b3381ae433457f80c982"),
    ("crc", None, "4bbb828b"),
])
def test_spec_vectors(method, key, expected):
    assert len(CLASSIC_INPUT) == 149
    assert compute(method, key, CLASSIC_INPUT) == expected


def test_sha1_key_longer_than_block_is_hashed_first():
    long_key = b"k" * 100
    assert compute("sha1", long_key, b"x") == compute("sha1", hashlib.sha1(long_key).digest(), b"x")


def test_sign_uses_active_index_method_and_key():
    auth = Authenticator(keys(2, (1, "md5", b"keyone"), (2, "md5", b"keytwo")))
    assert auth.active == 2
    assert auth.sign(b"data") == "2 " + compute("md5", b"keytwo", b"data")


def test_new_keys_in_place_sign_check_and_forget_what_the_old_ones_signed():
    auth = Authenticator(keys(1, (1, "md5", b"keyone")), remember=2)
    holder = auth                       # a medium that signs its own packets keeps this object
    auth.remember(b"wire", Message.of(t="status"))
    auth.use(keys(2, (2, "sha1", b"keytwo")))
    assert holder.sign(b"data") == "2 " + compute("sha1", b"keytwo", b"data")
    assert not auth.verify("1 " + compute("md5", b"keyone", b"data"), b"data")
    assert auth.recall(b"wire") is None


def test_verify_index_selects_method_and_key():
    auth = Authenticator(keys(2, (1, "md5", b"keyone"), (2, "sha1", b"keytwo"), (3, "crc", None)))
    data = b"payload"
    assert auth.verify("1 " + compute("md5", b"keyone", data), data)
    assert auth.verify("2 " + compute("sha1", b"keytwo", data), data)
    assert auth.verify("3 " + compute("crc", None, data), data)
    # index 1 with key two: what a real daemon accepts on netstring input (§4.5), we do not
    assert not auth.verify("1 " + compute("md5", b"keytwo", data), data)
    assert not auth.verify("2 " + compute("sha1", b"keytwo", data + b"x"), data)


@pytest.mark.parametrize("token", ["7 abcdef", "", "abc", "1", "-1 00", "1 \xff\udcfe"])
def test_verify_rejects_unknown_index_and_garbage(token):
    auth = Authenticator(keys(1, (1, "crc", None)))
    assert auth.verify(token, b"") is False


def test_digest_of_unknown_index_is_none():
    auth = Authenticator(keys(1, (1, "crc", None)))
    assert auth.digest(1, b"") == "ffffffff"
    assert auth.digest(5, b"") is None


@pytest.mark.parametrize("token, parsed", [
    ("1 abc", (1, "abc")),
    ("  12\tabc trailing words", (12, "abc")),
    ("3abc", (3, "abc")),          # sscanf("%d %s") needs no blank in between
    ("+4 x", (4, "x")),
    ("1 ", None),
    ("x 1", None),
    (b"2 ff", (2, "ff")),
])
def test_parse_token_follows_sscanf(token, parsed):
    assert parse_token(token) == parsed


@pytest.mark.parametrize("token", ["9" * 5000 + " abc", "2147483648 abc", "-2147483649 abc"])
def test_an_index_wider_than_an_int_is_no_token(token):
    # row 4: int() of a 5000-digit index raised ValueError
    assert parse_token(token) is None
    assert parse_token("2147483647 abc") == (2**31 - 1, "abc")
