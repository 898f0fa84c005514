"""Kubernetes resource quantities ("250m", "1.5Gi", "1e3"), parsed and printed exactly.

Trimtab reads requests, limits and usage as Kubernetes quantity strings and writes
recommendations back as quantity strings.  Kubernetes compares what we write with
what it stores, so this module follows the rules of the apiserver's own quantity
type (``k8s.io/apimachinery/pkg/api/resource``):

* Grammar: ``[+-]<number><suffix>`` where ``<number>`` is ``1``, ``1.5``, ``.5`` or
  ``5.`` and ``<suffix>`` is binary SI (``Ki Mi Gi Ti Pi Ei``), decimal SI
  (``n u m "" k M G T P E``) or a decimal exponent (``e3``, ``E-3``, ``e+6``).
* Values are kept exactly.  Kubernetes keeps nothing finer than a nano, and rounds
  a finer non-zero value away from zero ("0.1n" is "1n"), so a quantity here is an
  integer number of nanos.  Floats are never used for parsing.
* A binary SI value is capped at 2**63 - 1 when parsed ("8Ei"), and a non-zero
  binary SI value below one is switched to decimal SI, as Kubernetes does.
* Printing is canonical, like ``Quantity.String()``: no fractional digits, the
  largest suffix that loses nothing, and decimal exponents that are multiples of
  three.  A binary SI integer of at least 1024 gets the largest binary suffix that
  divides it, possibly none ("1536"); any other binary SI value is printed as
  decimal SI ("512", "1024m").

The format a quantity was written in is remembered and reused when printing, but
it is not part of equality: ``1Ki == 1024`` just as ``Quantity.Cmp`` says.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import TypeAlias

__all__ = [
    "Format",
    "Quantity",
    "QuantityError",
    "QuantityLike",
    "cores",
    "format_cpu",
    "format_memory",
    "parse_quantity",
    "to_bytes",
]

_NANO = 10**9
# Kubernetes caps a parsed binary SI quantity at the largest int64.
_MAX_BINARY = 2**63 - 1
# Longer numbers and larger exponents would build absurdly large integers (and
# trip Python's limit on int/str conversion); no resource amount comes close.
_MAX_DIGITS = 1000
_MAX_EXPONENT = 1000

_BINARY_SUFFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
_DECIMAL_SUFFIXES = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_DECIMAL_BY_EXPONENT = {exponent: suffix for suffix, exponent in _DECIMAL_SUFFIXES.items()}

# The exponent alternative comes first so that "1E3" is an exponent and "1E" is exa.
_QUANTITY_RE = re.compile(
    r"(?P<sign>[+-]?)(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?"
    r"(?:[eE](?P<exp>[+-]?[0-9]+)|(?P<bin>[KMGTPE]i)|(?P<dec>[numkMGTPE]))?"
)

_EXPECTED = (
    "expected an optional sign, a decimal number and an optional suffix "
    "(Ki, Mi, Gi, Ti, Pi, Ei, n, u, m, k, M, G, T, P, E, or an exponent such as e3), "
    "for example '500m', '1.5Gi', '128974848' or '1e3'"
)


class QuantityError(ValueError):
    """A value is not a valid Kubernetes quantity (the message names the value)."""


class Format(StrEnum):
    """How a quantity is printed; the values are the Kubernetes format names."""

    BINARY_SI = "BinarySI"  # 12Mi (12 * 2**20)
    DECIMAL_SI = "DecimalSI"  # 12M (12 * 10**6)
    DECIMAL_EXPONENT = "DecimalExponent"  # 12e6


def _div_away_from_zero(numerator: int, denominator: int) -> int:
    """Divide by a positive denominator, rounding a remainder away from zero."""
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


@dataclass(frozen=True, order=True)
class Quantity:
    """An exact quantity: ``nanos`` billionths of a unit, printed in ``format``.

    Equality, ordering and hashing use the value only, like Kubernetes' ``Cmp``.
    ``+`` and ``-`` keep the left operand's format unless it is zero (then the
    right operand's format is used, as in Kubernetes' ``Add``/``Sub``).
    """

    nanos: int
    format: Format = field(default=Format.DECIMAL_SI, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.nanos, int) or isinstance(self.nanos, bool):
            raise TypeError(f"Quantity nanos must be an int, not {type(self.nanos).__name__}")
        object.__setattr__(self, "format", Format(self.format))

    @property
    def value(self) -> Fraction:
        """The exact value in base units (cores, bytes, ...)."""
        return Fraction(self.nanos, _NANO)

    def as_float(self) -> float:
        """The value as the nearest float, for statistics; +/-inf if out of range."""
        try:
            return float(self.value)
        except OverflowError:
            return math.inf if self.nanos > 0 else -math.inf

    def int_value(self) -> int:
        """The value rounded to an integer away from zero, like Kubernetes ``Value()``.

        Rounding up means a request converted to whole units never shrinks.
        """
        return _div_away_from_zero(self.nanos, _NANO)

    def milli_value(self) -> int:
        """The value in thousandths rounded away from zero, like ``MilliValue()``.

        "250m" is 250 and "1n" is 1: a non-zero CPU amount never becomes zero.
        Negative values round to -1n -> -1 like Kubernetes' int64 fast path (its
        big-decimal path rounds negatives inconsistently; we do not copy that).
        """
        return _div_away_from_zero(self.nanos, _NANO // 1000)

    def __str__(self) -> str:
        """The canonical text Kubernetes prints for this value and format."""
        if self.nanos == 0:
            return "0"
        if self.format == Format.BINARY_SI:
            whole, fraction = divmod(self.nanos, _NANO)
            # Values below 1024 in magnitude or with a fraction would need a
            # fractional binary mantissa, so Kubernetes prints them as decimal SI.
            # Other integers print in binary even without a suffix: binary 5000
            # is "5000", which then parses as decimal SI and prints as "5k".
            # Beyond Ei (only reachable by arithmetic) the mantissa keeps growing.
            if abs(self.nanos) >= 1024 * _NANO and not fraction:
                power = 0
                while power < len(_BINARY_SUFFIXES) - 1 and whole % 1024 == 0:
                    whole //= 1024
                    power += 1
                return f"{whole}{_BINARY_SUFFIXES[power]}"
        mantissa, exponent = self.nanos, -9
        while mantissa % 10 == 0:
            mantissa //= 10
            exponent += 1
        # Lower the exponent to a multiple of three (never raise it: that would
        # need a fractional mantissa).
        shift = exponent % 3
        mantissa *= 10**shift
        exponent -= shift
        if self.format == Format.DECIMAL_EXPONENT:
            suffix = f"e{exponent}" if exponent else ""
        else:
            # Decimal SI has no suffix beyond E (10**18).  Current apimachinery
            # falls back to exponent notation ("1000E" is "1e21"); older releases
            # printed the bare mantissa ("1"), silently dropping the magnitude.
            suffix = _DECIMAL_BY_EXPONENT.get(exponent, f"e{exponent}")
        return f"{mantissa}{suffix}"

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r}, {self.format.value})"

    def __bool__(self) -> bool:
        return self.nanos != 0

    def __neg__(self) -> Quantity:
        return Quantity(-self.nanos, self.format)

    def __add__(self, other: Quantity) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        return Quantity(self.nanos + other.nanos, self._result_format(other))

    def __sub__(self, other: Quantity) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        return Quantity(self.nanos - other.nanos, self._result_format(other))

    def __mul__(self, factor: int) -> Quantity:
        # Only integers: a float factor would make the result inexact.
        if not isinstance(factor, int) or isinstance(factor, bool):
            return NotImplemented
        return Quantity(self.nanos * factor, self.format)

    __rmul__ = __mul__

    def _result_format(self, other: Quantity) -> Format:
        return self.format if self.nanos else other.format


QuantityLike: TypeAlias = Quantity | str | int | float


def _parse_text(text: str) -> Quantity:
    match = _QUANTITY_RE.fullmatch(text)
    if match is None or not (match["int"] or match["frac"]):
        raise QuantityError(f"invalid quantity {text!r}: {_EXPECTED}")
    frac = match["frac"] or ""
    digits = (match["int"] or "") + frac
    if len(digits) > _MAX_DIGITS:
        raise QuantityError(
            f"invalid quantity {text!r}: more than {_MAX_DIGITS} digits; {_EXPECTED}"
        )
    magnitude = int(digits)
    if match["bin"] is not None:
        fmt = Format.BINARY_SI
        power = _BINARY_SUFFIXES.index(match["bin"])
        nanos = _div_away_from_zero(magnitude * 1024**power * _NANO, 10 ** len(frac))
        # Kubernetes caps binary SI at the largest int64 and prints a non-zero
        # binary value below one as decimal SI, so it never rounds to "0Ki".
        nanos = min(nanos, _MAX_BINARY * _NANO)
        if 0 < nanos < _NANO:
            fmt = Format.DECIMAL_SI
    else:
        if match["exp"] is not None:
            fmt = Format.DECIMAL_EXPONENT
            exponent = int(match["exp"])
            if exponent > _MAX_EXPONENT:
                raise QuantityError(
                    f"invalid quantity {text!r}: exponent {exponent} is larger than "
                    f"the supported {_MAX_EXPONENT}; {_EXPECTED}"
                )
        else:
            fmt = Format.DECIMAL_SI
            exponent = _DECIMAL_SUFFIXES[match["dec"] or ""]
        shift = exponent - len(frac) + 9  # power of ten from the digits to nanos
        if shift >= 0:
            nanos = magnitude * 10**shift
        elif -shift > len(str(magnitude)):
            nanos = 1 if magnitude else 0  # far below a nano: rounds up to 1n
        else:
            nanos = _div_away_from_zero(magnitude, 10**-shift)
    if match["sign"] == "-":
        nanos = -nanos
    return Quantity(nanos, fmt)


def parse_quantity(text: QuantityLike) -> Quantity:
    """Parse a Kubernetes quantity exactly as the apiserver does.

    Strings must follow the quantity grammar exactly: no surrounding whitespace,
    and (unlike Kubernetes' lenient scanner) at least one digit, so "Mi", "." and
    "-" are errors rather than zero.  Numbers of more than 1000 digits and
    exponents above 1000 are rejected to bound the work done on hostile input.
    An ``int`` is exact and parses like its decimal text.  A ``float`` (YAML
    ``cpu: 0.5``) parses like its shortest text form, ``repr(value)``, which is
    what a JSON encoder sends and so what the apiserver would have parsed; NaN
    and infinities are rejected.  A ``Quantity`` is returned unchanged.
    """
    if isinstance(text, Quantity):
        return text
    if isinstance(text, bool):
        raise QuantityError(f"invalid quantity {text!r}: a boolean is not a quantity")
    if isinstance(text, int):
        return _parse_text(str(text))
    if isinstance(text, float):
        if not math.isfinite(text):
            raise QuantityError(f"invalid quantity {text!r}: {_EXPECTED}")
        return _parse_text(repr(text))
    if isinstance(text, str):
        return _parse_text(text)
    raise QuantityError(f"invalid quantity {text!r}: {_EXPECTED}")


def cores(text: QuantityLike) -> float:
    """CPU in cores as a float for arithmetic and statistics: "250m" is 0.25."""
    return parse_quantity(text).as_float()


def to_bytes(text: QuantityLike) -> int:
    """Memory in whole bytes, rounding a fraction up: "1.5Ki" is 1536, "1m" is 1."""
    return parse_quantity(text).int_value()


def _exact(number: float, what: str) -> Fraction:
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise QuantityError(f"invalid {what} {number!r}: expected a finite number")
    if not math.isfinite(number):
        raise QuantityError(f"invalid {what} {number!r}: expected a finite number")
    return Fraction(number)


def _ceil_ignoring_noise(amount: Fraction) -> int:
    """Round up, but first forget what is below a millionth of a unit: floating-point noise
    (0.1 * 1000 is 100.00000000000001) must not add a whole unit to a value already whole."""
    return math.ceil(round(amount, 6))


def format_cpu(cores: float) -> str:
    """A CPU amount in cores as a canonical quantity, rounded up to whole millicores.

    Millicores are the finest CPU unit the kubelet honours, and rounding up means a
    recommendation is never below what was computed: 0.2501 is "251m", 2.0 is "2".
    Float noise below a millionth of a millicore is ignored, so 0.1 is "100m", not "101m".
    """
    millis = _ceil_ignoring_noise(_exact(cores, "CPU amount") * 1000)
    return str(Quantity(millis * (_NANO // 1000), Format.DECIMAL_SI))


def format_memory(n_bytes: float) -> str:
    """A memory amount in bytes as a canonical quantity, rounded up to whole bytes.

    Multiples of 1024 use the largest exact binary suffix (536870912 is "512Mi"),
    which is how people write memory; anything else (including amounts beyond the
    2**63 - 1 cap Kubernetes puts on binary quantities) is canonical decimal SI:
    1000 is "1k", 1536 is "1536".
    """
    whole = _ceil_ignoring_noise(_exact(n_bytes, "memory amount"))
    # Above the int64 cap a binary suffix would not parse back to the same value.
    binary = whole % 1024 == 0 and abs(whole) <= _MAX_BINARY
    fmt = Format.BINARY_SI if binary else Format.DECIMAL_SI
    return str(Quantity(whole * _NANO, fmt))
