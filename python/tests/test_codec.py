"""The Python value format: every common value comes back equal and of the
same type without pickle; anything picklable travels (ForkingPickler)."""
import fractions
import pickle

import numpy as np
import pytest

from signal_slot import _core


class UserThing:
    def __init__(self, x):
        self.x = x

    def __eq__(self, other):
        return type(other) is UserThing and other.x == self.x


VALUES = [
    None, True, False, 0, 1, -1, 2**63 - 1, -2**63, 2**64, -2**100,
    0.0, -1.5, float("inf"), "", "héllo ✓", b"", b"\x00\xff",
    (), (1,), (1, (2, (3,))), [], [1, [None, "a"]],
    {}, {1: "a", "b": [2.5], (1, 2): {None: b"x"}},
    {"set": {1, 2}, "frozen": frozenset([3])},
    fractions.Fraction(1, 3), UserThing(5), [UserThing((1, [2]))],
    range(3), slice(1, 2),
]


@pytest.mark.parametrize("v", VALUES, ids=repr)
def test_round_trip(v):
    d = _core.decode(_core.encode(v))
    assert d == v
    assert type(d) is type(v)


def test_types_inside_containers_kept():
    v = {"t": (1, 2), "l": [1, 2], "b": True, "i": 1, "f": 1.0}
    d = _core.decode(_core.encode(v))
    assert [type(x) for x in d.values()] == [tuple, list, bool, int, float]


def test_common_values_skip_pickle():
    enc = _core.encode((1, "a", [None, 2.5, b"x"], {"k": (True,)}))
    assert b"P" not in enc[:1] and enc.count(b"\x80\x05") == 0  # no pickle
    assert len(enc) < 80


def test_numpy_array_travels():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    d = _core.decode(_core.encode({"a": a}))
    assert d["a"].dtype == np.float32 and (d["a"] == a).all()


def test_deep_nesting_falls_back_to_pickle():
    v = []
    for _ in range(200):
        v = [v]
    assert _core.decode(_core.encode(v)) == v


@pytest.mark.parametrize("bad", [
    b"", b"Z", b"i\x00", b"s\xff\xff\xff\xff", b"t\x05\x00\x00\x00N",
    b"m\x01\x00\x00\x00N", b"NN", b"P\x03\x00\x00\x00abc",
    b"m\x01\x00\x00\x00l\x00\x00\x00\x00N",  # unhashable key
])
def test_malformed_is_an_error(bad):
    with pytest.raises((ValueError, TypeError, pickle.UnpicklingError,
                        EOFError)):
        _core.decode(bad)


def test_unpicklable_raises():
    with pytest.raises(Exception):
        _core.encode(lambda: 1)
