import re
from dataclasses import dataclass, field

import pytest

from tasks.common.errors import InputError
from tasks.common.params import parse


@dataclass(frozen=True)
class Inner:
    size: int = 1


@dataclass(frozen=True)
class Outer:
    rate: float
    layers: tuple[int, ...] = (4, 2)
    limit: float | None = None
    inner: Inner = Inner()
    extra: dict[str, float] = field(default_factory=dict)


def test_parse_builds_nested_frozen_dataclasses():
    got = parse(Outer, {"rate": 1, "layers": [8, 4], "inner": {"size": 3}}, "x")
    assert got == Outer(rate=1.0, layers=(8, 4), inner=Inner(3))
    assert isinstance(got.rate, float)
    with pytest.raises(AttributeError):
        got.rate = 2.0  # frozen


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"rate": 1, "typo": 2}, "unknown key(s) ['typo'] in x"),
        ({}, "missing key x.rate"),
        ({"rate": "fast"}, "x.rate should be float"),
        ({"rate": 1, "inner": {"size": "big"}}, "x.inner.size should be int"),
    ],
)
def test_parse_rejects_bad_params_naming_the_key(raw, message):
    with pytest.raises(InputError, match=re.escape(message)):
        parse(Outer, raw, "x")
