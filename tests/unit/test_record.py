"""heartbeat.record: the named tuples that replace dataclasses where commands import."""

import pytest

from heartbeat.record import record


@record
class Point:
    """A point."""
    x: int
    y: int = 0
    label: str = "origin"

    @property
    def norm1(self) -> int:
        return abs(self.x) + abs(self.y)

    def moved(self, dx: int) -> "Point":
        return self._replace(x=self.x + dx)


def test_fields_in_order_with_their_defaults():
    assert Point._fields == ("x", "y", "label")
    assert Point(1) == Point(x=1, y=0, label="origin")
    assert Point(1, 2, "a") == Point(label="a", y=2, x=1)
    with pytest.raises(TypeError):
        Point()


def test_methods_properties_docstring_and_repr_stay():
    p = Point(3, -4)
    assert (p.norm1, p.moved(2)) == (7, Point(5, -4))
    assert Point.__doc__ == "A point."
    assert repr(p) == "Point(x=3, y=-4, label='origin')"
    assert Point.__module__ == __name__


def test_immutable_and_hashable():
    p = Point(1, 2)
    with pytest.raises(AttributeError):
        p.x = 5
    with pytest.raises(AttributeError):
        p.other = 5      # no __dict__: __slots__ all the way down
    assert {p: 1}[Point(1, 2)] == 1


def test_a_field_without_default_after_one_with_is_refused():
    with pytest.raises(TypeError, match="without a default"):
        @record
        class Bad:
            a: int = 1
            b: int
