"""authkeys: which digest method and key sign and verify cluster messages.

The strict parser that fills this model lives in this module too (``parse_authkeys``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class AuthKey:
    index: int            # 0..15
    method: str           # "crc" | "md5" | "sha1"
    key: bytes | None     # None for crc


@dataclass(frozen=True)
class AuthKeys:
    path: str
    active: int                   # the `auth N` index used to sign outgoing messages
    keys: Mapping[int, AuthKey]   # every valid key line, by index (read-only mapping)

    @property
    def signing_key(self) -> AuthKey:
        return self.keys[self.active]
