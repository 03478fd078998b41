"""Sizes and durations as people write them in profiles: ``1Gi``, ``16Mi``, ``5m``, ``1h30m``.

Why it exists: a profile says "1Gi" and "5m"; the harness computes in bytes and seconds,
and the report and the manifests need the short form back. Parsing lives here once so a
bad value fails the same way everywhere, with a message that shows what was expected.

Must not: guess. A size that is not a whole number of bytes, a negative value or an
unknown suffix is a ``ValueError``; nothing is rounded or clamped silently. This module
knows nothing about profiles: callers name the field (``key``) for the message.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Final

#: Binary suffixes, largest first (``format_quantity`` picks the first that divides).
BINARY_SUFFIXES: Final = {
    "Ei": 2**60,
    "Pi": 2**50,
    "Ti": 2**40,
    "Gi": 2**30,
    "Mi": 2**20,
    "Ki": 2**10,
}
#: Decimal (SI) suffixes as Kubernetes spells them (lowercase ``k``, uppercase the rest).
DECIMAL_SUFFIXES: Final = {
    "E": 10**18,
    "P": 10**15,
    "T": 10**12,
    "G": 10**9,
    "M": 10**6,
    "k": 10**3,
}
#: Kubernetes' milli suffix: valid in a quantity, but only whole bytes make a size.
MILLI: Final = Fraction(1, 1000)

_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?:(?P<exp>[eE][+-]?[0-9]+)|(?P<suffix>[A-Za-z]*))"
)

# Suffixes people write by habit, and the Kubernetes spelling they most likely meant.
_SUFFIX_HINTS: Final = {
    **{s.lower(): s for s in BINARY_SUFFIXES},
    **{s.lower() + "b": s for s in BINARY_SUFFIXES},  # "GiB" -> "Gi"
    "kb": "k",
    "mb": "M",
    "gb": "G",
    "tb": "T",
    "pb": "P",
    "eb": "E",
    "K": "k",
}

# Go's time.ParseDuration units, in seconds.
_DURATION_UNITS: Final = {
    "ns": Fraction(1, 10**9),
    "us": Fraction(1, 10**6),
    "\u00b5s": Fraction(1, 10**6),  # micro sign; Go accepts it and the Greek mu
    "\u03bcs": Fraction(1, 10**6),
    "ms": Fraction(1, 1000),
    "s": Fraction(1),
    "m": Fraction(60),
    "h": Fraction(3600),
}
_DURATION_PART = re.compile(
    r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)("
    + "|".join(sorted(_DURATION_UNITS, key=len, reverse=True))
    + ")"
)
_PLAIN_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")

_QUANTITY_EXAMPLE = "a quantity like 1Gi, 512Mi or 1073741824"
_DURATION_EXAMPLE = "a duration like 30s, 5m or 1h30m"


def parse_quantity(value: str | int, *, key: str = "quantity") -> int:
    """A Kubernetes quantity (``1Gi``, ``1.5Gi``, ``500M``, ``1e9``, ``1024``) in bytes.

    Args:
        value: the quantity as written; an ``int`` is taken as bytes.
        key: the field being parsed, named at the start of any error message.

    Raises:
        ValueError: not a quantity, negative, or not a whole number of bytes.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{key}: expected {_QUANTITY_EXAMPLE}, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{key}: a size cannot be negative, got {value}")
        return value
    text = value.strip()
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(f"{key}: expected {_QUANTITY_EXAMPLE}, got {value!r}")
    if match["sign"] == "-" and Fraction(match["number"]) != 0:
        raise ValueError(f"{key}: a size cannot be negative, got {value!r}")
    amount = Fraction(match["number"])
    if match["exp"] is not None:
        amount *= Fraction(10) ** int(match["exp"][1:])
    else:
        suffix = match["suffix"]
        multiplier: int | Fraction | None = (
            MILLI if suffix == "m" else BINARY_SUFFIXES.get(suffix) or DECIMAL_SUFFIXES.get(suffix)
        )
        if suffix and multiplier is None:
            hint = _SUFFIX_HINTS.get(suffix) or _SUFFIX_HINTS.get(suffix.lower())
            meant = f"; did you mean {match['number']}{hint}?" if hint else ""
            raise ValueError(
                f"{key}: unknown unit {suffix!r} in {value!r} "
                f"(use Ki Mi Gi Ti Pi Ei or k M G T P E){meant}"
            )
        amount *= multiplier or 1
    if amount.denominator != 1:
        milli = (
            f" (m is milli); did you mean {match['number']}Mi?" if match["suffix"] == "m" else ""
        )
        raise ValueError(
            f"{key}: {value!r} is not a whole number of bytes ({float(amount):g} bytes){milli}"
        )
    return int(amount)


def format_quantity(n: int) -> str:
    """The shortest exact binary form of ``n`` bytes: ``1Gi``, ``16Mi``, else plain digits.

    Exact means ``parse_quantity(format_quantity(n)) == n``: 1536 stays ``"1536"``
    rather than becoming ``"1.5Ki"``.

    Raises:
        ValueError: ``n`` is negative or not an int.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValueError(f"expected a number of bytes, got {n!r}")
    if n < 0:
        raise ValueError(f"a size cannot be negative, got {n}")
    for suffix, multiplier in BINARY_SUFFIXES.items():
        if n >= multiplier and n % multiplier == 0:
            return f"{n // multiplier}{suffix}"
    return str(n)


def parse_duration(value: str | int | float) -> float:
    """A duration in seconds: Go style (``5m``, ``1h30m``, ``250ms``) or a plain number.

    A plain number, as a number or a string (``30``, ``"2.5"``), is seconds.

    Raises:
        ValueError: negative, not finite, or not a duration.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected {_DURATION_EXAMPLE}, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError(f"expected {_DURATION_EXAMPLE}, got {value!r}")
        if seconds < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        return seconds
    text = value.strip()
    if text.startswith("-"):
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    text = text.removeprefix("+")
    if _PLAIN_NUMBER.fullmatch(text):
        return float(Fraction(text))
    if not text or _DURATION_PART.sub("", text):
        raise ValueError(f"expected {_DURATION_EXAMPLE}, got {value!r}")
    total = sum(
        (Fraction(number) * _DURATION_UNITS[unit] for number, unit in _DURATION_PART.findall(text)),
        Fraction(0),
    )
    return float(total)


def format_duration(seconds: float) -> str:
    """The Go-style form of a duration (``300`` -> ``"5m"``, ``90`` -> ``"1m30s"``).

    Kept to millisecond precision, so ``parse_duration(format_duration(s)) == s`` for
    any whole number of milliseconds. Used to show timeouts the way profiles write them.

    Raises:
        ValueError: negative or not finite.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f"expected a number of seconds, got {seconds!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a finite number >= 0, got {seconds!r}")
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    parts = [(hours, "h"), (minutes, "m"), (secs, "s"), (millis, "ms")]
    return "".join(f"{amount}{unit}" for amount, unit in parts if amount)
