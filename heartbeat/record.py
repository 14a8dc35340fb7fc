"""Immutable typed records for the modules that commands load.

``typing.NamedTuple`` and ``dataclasses`` cost a command 2.5 ms and 5 ms of CPU to import
(``dataclasses`` loads ``inspect``), on top of an interpreter start of ~15 ms, and
cl_status, ResourceManager, ``heartbeat -s`` and the agents must stay within 40 ms
(issue 10). ``@record`` makes the same named tuple as ``typing.NamedTuple`` from a
class's annotations and defaults, with ``collections`` alone. Unlike a dataclass, a record
is a tuple, as a NamedTuple is: it unpacks, and equals a plain tuple of the same values.
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; checkers take it as True
if TYPE_CHECKING:
    from typing import TypeVar

    from typing_extensions import dataclass_transform
    T = TypeVar("T")


def _record(cls: type[T]) -> type[T]:
    """``cls`` as a named tuple: its annotated names are the fields, in order, their values
    in the class body the defaults (so those come last); its methods and properties stay."""
    names = tuple(cls.__dict__.get("__annotations__", {}))
    defaults = [cls.__dict__[name] for name in names if name in cls.__dict__]
    if any(name not in cls.__dict__ for name in names[len(names) - len(defaults):]):
        # namedtuple would give the defaults to the last fields, whichever had them
        raise TypeError(f"{cls.__name__}: a field without a default follows one with a default")
    # the names come from the class, so mypy cannot type this named tuple: record's
    # declaration below tells it what the class becomes
    base = namedtuple(cls.__name__, names, defaults=defaults, module=cls.__module__)  # type: ignore[misc]
    body = {key: value for key, value in cls.__dict__.items()
            if key not in names and key not in ("__dict__", "__weakref__")}
    return type(cls.__name__, (base,), {**body, "__slots__": ()})


if TYPE_CHECKING:
    # To a checker a record is a frozen dataclass: its fields are __init__'s parameters, in
    # order, and cannot be assigned. mypy cannot follow a named tuple made at run time (what
    # this leaves out: _replace, unpacking); typing_extensions is never loaded at run time.
    @dataclass_transform(frozen_default=True)
    def record(cls: type[T]) -> type[T]: ...
else:
    record = _record


def replace(rec: T, **changes: object) -> T:
    """``rec`` with ``changes`` to its fields: a named tuple's ``_replace``, spelt so that
    checkers, to which a record is a dataclass, can follow it."""
    return rec._replace(**changes)  # type: ignore[attr-defined]  # see record's declaration
