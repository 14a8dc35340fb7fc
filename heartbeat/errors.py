"""Errors that point at the place in a file that caused them."""

from __future__ import annotations


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
