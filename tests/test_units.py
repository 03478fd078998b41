from __future__ import annotations

import pytest

from conformance.units import format_duration, format_quantity, parse_duration, parse_quantity


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1Gi", 2**30),
        ("1Mi", 2**20),
        ("16Mi", 16 * 2**20),
        ("1Ki", 1024),
        ("2Ti", 2 * 2**40),
        ("1Pi", 2**50),
        ("1Ei", 2**60),
        ("1.5Gi", 3 * 2**29),
        ("0.5Ki", 512),
        ("1k", 1000),
        ("500M", 500_000_000),
        ("1G", 10**9),
        ("3T", 3 * 10**12),
        ("1P", 10**15),
        ("1e3", 1000),
        ("2E6", 2_000_000),
        ("1024", 1024),
        ("+1Gi", 2**30),
        (" 1Gi ", 2**30),
        ("1000m", 1),
        ("0", 0),
        (1024, 1024),
        (0, 0),
    ],
)
def test_parse_quantity(value: str | int, expected: int) -> None:
    assert parse_quantity(value, key="k") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "expected a quantity like 1Gi"),
        ("", "expected a quantity like 1Gi"),
        ("1.5.5Gi", "expected a quantity like 1Gi"),
        ("Gi", "expected a quantity like 1Gi"),
        ("1 Gi", "expected a quantity like 1Gi"),
        ("-1Gi", "cannot be negative"),
        (-5, "cannot be negative"),
        ("1.5", "not a whole number of bytes"),
        ("0.3Ki", "not a whole number of bytes"),
        ("100m", "did you mean 100Mi?"),
        ("1gi", "did you mean 1Gi?"),
        ("1GiB", "did you mean 1Gi?"),
        ("1GB", "did you mean 1G?"),
        ("1K", "did you mean 1k?"),
        ("1Xi", "unknown unit 'Xi'"),
        (True, "expected a quantity like 1Gi"),
        (1.5, "expected a quantity like 1Gi"),
        ([1], "expected a quantity like 1Gi"),
    ],
)
def test_parse_quantity_errors_name_the_key(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=r"^sizes\.min: ") as err:
        parse_quantity(value, key="sizes.min")  # type: ignore[arg-type]
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (2**30, "1Gi"),
        (2**20, "1Mi"),
        (16 * 2**20, "16Mi"),
        (1500, "1500"),
        (1536, "1536"),
        (1024, "1Ki"),
        (3 * 2**40, "3Ti"),
        (2**60, "1Ei"),
        (1024 * 2**60, "1024Ei"),
        (1, "1"),
        (0, "0"),
    ],
)
def test_format_quantity(n: int, expected: str) -> None:
    assert format_quantity(n) == expected
    assert parse_quantity(expected, key="k") == n


@pytest.mark.parametrize("n", [-1, True, 1.0, "1Gi"])
def test_format_quantity_rejects(n: object) -> None:
    with pytest.raises(ValueError, match=r"negative|expected a number of bytes"):
        format_quantity(n)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5m", 300.0),
        ("30s", 30.0),
        ("1h30m", 5400.0),
        ("1m30s", 90.0),
        ("250ms", 0.25),
        ("1.5h", 5400.0),
        ("2h45m30.5s", 9930.5),
        ("1500us", 0.0015),
        ("1500\u00b5s", 0.0015),
        ("1000000ns", 0.001),
        ("0", 0.0),
        ("0s", 0.0),
        ("30", 30.0),
        ("2.5", 2.5),
        (" 5m ", 300.0),
        ("+5m", 300.0),
        (45, 45.0),
        (0.5, 0.5),
    ],
)
def test_parse_duration(value: str | int | float, expected: float) -> None:
    assert parse_duration(value) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5m", "cannot be negative"),
        (-1, "cannot be negative"),
        (-0.5, "cannot be negative"),
        ("5x", "expected a duration"),
        ("5m30", "expected a duration"),
        ("m", "expected a duration"),
        ("", "expected a duration"),
        ("five minutes", "expected a duration"),
        ("5 m", "expected a duration"),
        ("1d", "expected a duration"),
        ("inf", "expected a duration"),
        (float("inf"), "expected a duration"),
        (float("nan"), "expected a duration"),
        (True, "expected a duration"),
        (None, "expected a duration"),
        ([5], "expected a duration"),
    ],
)
def test_parse_duration_errors(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (300, "5m"),
        (90, "1m30s"),
        (5400, "1h30m"),
        (0.25, "250ms"),
        (1.5, "1s500ms"),
        (30, "30s"),
        (3600, "1h"),
        (0, "0s"),
    ],
)
def test_format_duration_round_trips(seconds: float, expected: str) -> None:
    assert format_duration(seconds) == expected
    assert parse_duration(expected) == pytest.approx(seconds)


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf"), True])
def test_format_duration_rejects(seconds: float) -> None:
    with pytest.raises(ValueError, match=r"duration|seconds"):
        format_duration(seconds)
