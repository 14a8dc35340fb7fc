"""Errors and warnings that point at the place in a file that caused them.

Also the little pieces every strict config parser shares: reading a file the way the C
daemon does (bytes, any encoding survives), numbering its physical lines with the
original's line-length limit, and collecting every problem so all of them are reported
together instead of stopping at the first.
"""

from __future__ import annotations

import os

from heartbeat.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from collections.abc import Iterator


class ConfigError(Exception):
    """A configuration problem in ``path`` at ``line`` (1-based; None for the whole file).

    ``str()`` gives ``path:line: reason``, the form every check prints.
    """

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.reason}"


class ConfigErrors(ConfigError):
    """Several configuration problems, reported together (strict parsers keep going)."""

    def __init__(self, errors: list[ConfigError]) -> None:
        if not errors:
            raise ValueError("ConfigErrors needs at least one error")
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.path, first.line, first.reason)

    def __str__(self) -> str:
        return "\n".join(ConfigError.__str__(e) for e in self.errors)


def flatten(error: ConfigError) -> list[ConfigError]:
    """The single errors inside ``error`` (itself unless it is a ``ConfigErrors``)."""
    return list(error.errors) if isinstance(error, ConfigErrors) else [error]


@record
class Warning_:
    """A non-fatal remark the daemon logs at start (line may be None)."""
    line: int | None
    level: str  # "WARN" or "info" or "ERROR" (logged, but not fatal)
    text: str


class Problems:
    """Collects the errors and warnings of one file while a parser keeps going."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.errors: list[ConfigError] = []
        self.warnings: list[Warning_] = []

    def error(self, line: int | None, reason: str) -> None:
        self.errors.append(ConfigError(self.path, line, reason))

    def warn(self, line: int | None, text: str, level: str = "WARN") -> None:
        self.warnings.append(Warning_(line, level, text))

    def raise_if_any(self) -> None:
        if self.errors:
            raise ConfigErrors(self.errors)


def read_config(path: str, cannot_open: str) -> tuple[str, int]:
    """The text and the mode bits of a config file.

    Bytes that are not UTF-8 survive decoding (the daemon treats files as bytes);
    ``cannot_open`` is the original's message for a file that cannot be read.
    """
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            return f.read().decode("utf-8", "surrogateescape"), mode
    except OSError as e:
        raise ConfigError(path, None, f"{cannot_open}: {e.strerror}") from None


def byte_length(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def numbered_lines(text: str, max_bytes: int, problems: Problems) -> Iterator[tuple[int, str]]:
    """(line number, line without its newline) for every physical line that the C daemon reads whole.

    The daemon reads with a fixed-size ``fgets`` buffer: a longer line is cut and its rest
    read as a line of its own, and C string handling stops at a NUL byte. Either silently
    changes what the file means, so such lines are errors here and are not parsed.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, 1):
        if "\0" in line:
            problems.error(number, "NUL byte in line")
        elif byte_length(line) > max_bytes:
            problems.error(number, f"line longer than {max_bytes} bytes")
        else:
            yield number, line
