"""Tests for trimtab.quantity: Kubernetes quantity parsing, printing and helpers."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from trimtab.quantity import (
    Format,
    Quantity,
    QuantityError,
    cores,
    format_cpu,
    format_memory,
    parse_quantity,
    to_bytes,
)

BIN = Format.BINARY_SI
DEC = Format.DECIMAL_SI
EXP = Format.DECIMAL_EXPONENT
MAX_BINARY = 2**63 - 1

# (input, canonical output, exact value, remembered format)
PARSE_PRINT = [
    ("0", "0", Fraction(0), DEC),
    ("0Ki", "0", Fraction(0), BIN),
    ("0m", "0", Fraction(0), DEC),
    ("-0", "0", Fraction(0), DEC),
    ("1", "1", Fraction(1), DEC),
    ("+1", "1", Fraction(1), DEC),
    (".5", "500m", Fraction(1, 2), DEC),
    ("5.", "5", Fraction(5), DEC),
    ("1.G", "1G", Fraction(10**9), DEC),
    ("007", "7", Fraction(7), DEC),
    ("1.1", "1100m", Fraction(11, 10), DEC),
    ("1.5", "1500m", Fraction(3, 2), DEC),
    ("-1.5", "-1500m", Fraction(-3, 2), DEC),
    ("0.0001", "100u", Fraction(1, 10**4), DEC),
    ("0.000000001", "1n", Fraction(1, 10**9), DEC),
    ("1n", "1n", Fraction(1, 10**9), DEC),
    ("100m", "100m", Fraction(1, 10), DEC),
    ("1000m", "1", Fraction(1), DEC),
    ("1023", "1023", Fraction(1023), DEC),
    ("1024", "1024", Fraction(1024), DEC),
    ("1000", "1k", Fraction(1000), DEC),
    ("1k", "1k", Fraction(1000), DEC),
    ("50k", "50k", Fraction(50000), DEC),
    ("1000k", "1M", Fraction(10**6), DEC),
    ("1G", "1G", Fraction(10**9), DEC),
    ("1000M", "1G", Fraction(10**9), DEC),
    ("100.035k", "100035", Fraction(100035), DEC),
    ("1.01E", "1010P", Fraction(101 * 10**16), DEC),
    ("12E", "12E", Fraction(12 * 10**18), DEC),
    # Decimal SI has no suffix above E, so Kubernetes prints an exponent.
    ("1000E", "1e21", Fraction(10**21), DEC),
    ("18446744073709551616", "18446744073709551616", Fraction(2**64), DEC),
    # Binary SI.
    ("1Ki", "1Ki", Fraction(1024), BIN),
    ("100Ki", "100Ki", Fraction(102400), BIN),
    ("2048Ki", "2Mi", Fraction(2 * 2**20), BIN),
    ("1024Mi", "1Gi", Fraction(2**30), BIN),
    ("1.5Gi", "1536Mi", Fraction(3 * 2**29), BIN),
    ("0.5Gi", "512Mi", Fraction(2**29), BIN),
    ("-1.5Gi", "-1536Mi", Fraction(-3 * 2**29), BIN),
    ("1.5Ki", "1536", Fraction(1536), BIN),
    ("1.5Mi", "1536Ki", Fraction(1536 * 1024), BIN),
    ("0.5Ki", "512", Fraction(512), BIN),
    (".001Ki", "1024m", Fraction(1024, 1000), BIN),
    ("0.1Ki", "102400m", Fraction(1024, 10), BIN),
    ("3Ei", "3Ei", Fraction(3 * 2**60), BIN),
    # Binary SI is capped at the largest int64, and printed without a suffix.
    ("8Ei", "9223372036854775807", Fraction(MAX_BINARY), BIN),
    ("-8Ei", "-9223372036854775807", Fraction(-MAX_BINARY), BIN),
    ("9223372036854775807Ki", "9223372036854775807", Fraction(MAX_BINARY), BIN),
    # A non-zero binary value below one switches to decimal SI.
    (".000000000001Ki", "2n", Fraction(2, 10**9), DEC),
    # Decimal exponents.
    ("1e3", "1e3", Fraction(1000), EXP),
    ("1E3", "1e3", Fraction(1000), EXP),
    ("1e+3", "1e3", Fraction(1000), EXP),
    ("1e4", "10e3", Fraction(10**4), EXP),
    ("12e6", "12e6", Fraction(12 * 10**6), EXP),
    ("1.3E+6", "1300e3", Fraction(13 * 10**5), EXP),
    ("1e-3", "1e-3", Fraction(1, 1000), EXP),
    ("1E-3", "1e-3", Fraction(1, 1000), EXP),
    ("5e-3", "5e-3", Fraction(5, 1000), EXP),
    ("0.5e-1", "50e-3", Fraction(1, 20), EXP),
    ("1e0", "1", Fraction(1), EXP),
    ("1.5e0", "1500e-3", Fraction(3, 2), EXP),
    ("1e21", "1e21", Fraction(10**21), EXP),
    # Anything finer than a nano rounds away from zero to the next nano.
    ("0.1n", "1n", Fraction(1, 10**9), DEC),
    ("0.9n", "1n", Fraction(1, 10**9), DEC),
    ("-0.1n", "-1n", Fraction(-1, 10**9), DEC),
    ("3.001n", "4n", Fraction(4, 10**9), DEC),
    ("0.00000012345", "124n", Fraction(124, 10**9), DEC),
    ("1.1E-9", "2e-9", Fraction(2, 10**9), EXP),
    ("1e-100000000", "1e-9", Fraction(1, 10**9), EXP),
]

INVALID = [
    "",
    " ",
    " 1",
    "1 ",
    "1 Mi",
    "1.5.5",
    "Mi",
    "1mi",
    "1MI",
    "1K",
    "1ki",
    "1i",
    ".5i",
    "abc",
    "1e",
    "1e-",
    "1e+",
    "1e1.5",
    "1Ee3",
    "--1",
    "+-1",
    "1Ki5",
    "1e3Mi",
    "1Mi3",
    "1+1",
    ".",
    "+",
    "-",
    "-.",
    "1_000",
    "\u0661",  # a non-ASCII digit
    "1\n",
    "0x10",
    "inf",
    "nan",
    "1e1001",
]

BINARY_MULTIPLIERS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL_MULTIPLIERS = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}


@pytest.mark.parametrize(("text", "canonical", "value", "fmt"), PARSE_PRINT)
def test_parse_and_print(text: str, canonical: str, value: Fraction, fmt: Format) -> None:
    quantity = parse_quantity(text)
    assert quantity.value == value
    assert quantity.format is fmt
    assert str(quantity) == canonical
    assert str(parse_quantity(canonical)) == canonical


@pytest.mark.parametrize("text", INVALID)
def test_invalid_quantities_are_rejected_with_the_value_in_the_message(text: str) -> None:
    with pytest.raises(QuantityError) as info:
        parse_quantity(text)
    message = str(info.value)
    assert repr(text) in message
    assert "suffix" in message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("bad", [True, None, [1], math.nan, math.inf, -math.inf])
def test_non_quantity_values_are_rejected(bad: object) -> None:
    with pytest.raises(QuantityError, match="invalid quantity"):
        parse_quantity(bad)  # type: ignore[arg-type]


def test_size_limits() -> None:
    assert str(parse_quantity("9" * 1000)) == "9" * 1000
    assert str(parse_quantity("1e1000")) == "10e999"
    assert str(parse_quantity("1" + "0" * 999 + "m")) == "1e996"
    with pytest.raises(QuantityError, match="more than 1000 digits"):
        parse_quantity("1" * 1001)
    with pytest.raises(QuantityError, match="exponent 1001"):
        parse_quantity("1e1001")


def test_ints_parse_exactly() -> None:
    assert parse_quantity(5) == parse_quantity("5")
    assert str(parse_quantity(2**70)) == str(2**70)
    assert parse_quantity(-1000).format is DEC
    assert str(parse_quantity(-1000)) == "-1k"


def test_floats_parse_like_their_shortest_text() -> None:
    assert str(parse_quantity(0.5)) == "500m"
    assert str(parse_quantity(0.1)) == "100m"
    assert parse_quantity(0.1).value == Fraction(1, 10)
    assert str(parse_quantity(2.0)) == "2"
    assert str(parse_quantity(1e-7)) == "100e-9"
    assert parse_quantity(1e-7).format is EXP


def test_binary_integers_without_a_binary_suffix_print_like_kubernetes() -> None:
    # Kubernetes keeps binary SI for any integer of at least 1024, so binary 5000
    # prints as "5000"; that text parses as decimal SI, which prints as "5k".
    five_thousand = parse_quantity("4.8828125Ki")
    assert five_thousand.format is BIN
    assert str(five_thousand) == "5000"
    assert str(parse_quantity("5000")) == "5k"
    assert str(parse_quantity("1000Ki") + parse_quantity("1k")) == "1025000"
    assert str(Quantity(1025 * 10**9, BIN)) == "1025"


def test_quantity_passes_through() -> None:
    quantity = parse_quantity("1Gi")
    assert parse_quantity(quantity) is quantity


def test_equality_ordering_and_hash_use_the_value_only() -> None:
    assert parse_quantity("1Ki") == parse_quantity("1024")
    assert hash(parse_quantity("1Ki")) == hash(parse_quantity("1.024k"))
    assert parse_quantity("1000m") == parse_quantity("1")
    assert parse_quantity("100m") < parse_quantity("101m") <= parse_quantity("0.101")
    assert parse_quantity("10000T") > parse_quantity("100Gi")
    assert parse_quantity("-1") < parse_quantity("0")
    assert len({parse_quantity("1"), parse_quantity("1e0"), parse_quantity("1000m")}) == 1
    assert sorted(map(parse_quantity, ["1Gi", "1G", "1Mi"])) == [
        parse_quantity("1Mi"),
        parse_quantity("1G"),
        parse_quantity("1Gi"),
    ]


def test_arithmetic_keeps_the_format_like_kubernetes() -> None:
    zero = parse_quantity("0")
    gi = parse_quantity("1Gi")
    assert str(gi + parse_quantity("512Mi")) == "1536Mi"
    assert str(gi - parse_quantity("1Mi")) == "1023Mi"
    assert str(parse_quantity("100m") + parse_quantity("1.9")) == "2"
    assert str(zero + gi) == "1Gi"
    assert str(gi + zero) == "1Gi"
    assert str(zero - gi) == "-1Gi"
    assert str(parse_quantity("250m") * 4) == "1"
    assert str(3 * parse_quantity("1Gi")) == "3Gi"
    assert str(-parse_quantity("1.5")) == "-1500m"
    assert (gi + gi).format is BIN
    # Sums are exact and not capped; printing never drops the magnitude.
    assert str(parse_quantity("8Ei") + parse_quantity("8Ei")) == str(2 * MAX_BINARY)
    assert str(Quantity(2**70 * 10**9, BIN)) == "1024Ei"
    with pytest.raises(TypeError):
        _ = parse_quantity("1") * 1.5  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = parse_quantity("1") + 1  # type: ignore[operator]


def test_quantity_constructor() -> None:
    assert str(Quantity(1_500_000_000)) == "1500m"
    assert Quantity(1, "DecimalExponent").format is EXP  # type: ignore[arg-type]
    assert not Quantity(0)
    assert Quantity(-1)
    assert repr(parse_quantity("1.5Gi")) == "Quantity('1536Mi', BinarySI)"
    with pytest.raises(TypeError):
        Quantity(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Decimal"):
        Quantity(1, "Decimal")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "milli", "whole"),
    [
        ("0", 0, 0),
        ("1", 1000, 1),
        ("250m", 250, 1),
        ("1n", 1, 1),
        ("1.0001", 1001, 2),
        ("1.5Ki", 1536000, 1536),
        ("-1n", -1, -1),
        ("-1.5", -1500, -2),
        ("-0.0001", -1, -1),
    ],
)
def test_milli_value_and_int_value_round_away_from_zero(text: str, milli: int, whole: int) -> None:
    quantity = parse_quantity(text)
    assert quantity.milli_value() == milli
    assert quantity.int_value() == whole


def test_conversions() -> None:
    assert cores("250m") == 0.25
    assert cores("2") == 2.0
    assert cores(1) == 1.0
    assert cores("1n") == 1e-9
    assert to_bytes("1Gi") == 2**30
    assert to_bytes("1.5Ki") == 1536
    assert to_bytes("1m") == 1
    assert to_bytes("128974848") == 128974848
    assert to_bytes("129e6") == 129_000_000
    assert parse_quantity("1e400").as_float() == math.inf
    assert parse_quantity("-1e400").as_float() == -math.inf


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0, "0"),
        (0.0, "0"),
        (0.25, "250m"),
        (0.2501, "251m"),
        (0.3, "300m"),
        (1e-9, "1m"),
        (2.0, "2"),
        (2, "2"),
        (1.5, "1500m"),
        (1000.0, "1k"),
        (-0.5, "-500m"),
    ],
)
def test_format_cpu(amount: float, text: str) -> None:
    assert format_cpu(amount) == text


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0, "0"),
        (1, "1"),
        (0.5, "1"),
        (1000, "1k"),
        (1024, "1Ki"),
        (1536, "1536"),
        (1536.2, "1537"),
        (536870912, "512Mi"),
        (536870912.0, "512Mi"),
        (536870911.5, "512Mi"),
        (3 * 2**30, "3Gi"),
        (1023 * 2**20, "1023Mi"),
        (128974848, "123Mi"),
        (129e6, "129M"),
        (7 * 2**60, "7Ei"),
        (2**63, "9223372036854775808"),
    ],
)
def test_format_memory(amount: float, text: str) -> None:
    assert format_memory(amount) == text


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, True, "1Gi"])
def test_format_helpers_reject_non_numbers(bad: float) -> None:
    with pytest.raises(QuantityError, match="finite number"):
        format_cpu(bad)
    with pytest.raises(QuantityError, match="finite number"):
        format_memory(bad)


# --- property tests -----------------------------------------------------------------


@st.composite
def quantity_texts(draw: st.DrawFn) -> str:
    """Arbitrary valid quantity strings, including non-canonical spellings."""
    sign = draw(st.sampled_from(["", "+", "-"]))
    whole = draw(st.text("0123456789", max_size=22))
    if draw(st.booleans()):
        number = f"{whole}.{draw(st.text('0123456789', min_size=0 if whole else 1, max_size=14))}"
    else:
        number = whole or draw(st.text("0123456789", min_size=1, max_size=22))
    suffix = draw(
        st.one_of(
            st.sampled_from(list(BINARY_MULTIPLIERS) + list(DECIMAL_MULTIPLIERS)),
            st.builds(
                lambda e, sign, exponent: f"{e}{sign}{exponent}",
                st.sampled_from("eE"),
                st.sampled_from(["", "+", "-"]),
                st.integers(0, 40),
            ),
        )
    )
    return sign + number + suffix


def exact_value(text: str) -> Fraction:
    """The unrounded value of a valid quantity string, computed independently."""
    for suffix, multiplier in BINARY_MULTIPLIERS.items():
        if text.endswith(suffix):
            return Fraction(text.removesuffix(suffix)) * multiplier
    exponent_form = re.fullmatch(r"(.*)[eE]([+-]?[0-9]+)", text)
    if exponent_form:
        return Fraction(exponent_form[1]) * Fraction(10) ** int(exponent_form[2])
    if text[-1:] in DECIMAL_MULTIPLIERS:
        return Fraction(text[:-1]) * DECIMAL_MULTIPLIERS[text[-1]]
    return Fraction(text)


def is_binary_reprint(quantity: Quantity, canonical: str) -> bool:
    """A binary integer printed without a suffix parses back as decimal SI.

    Kubernetes prints binary 5000 as "5000", which parses as decimal SI and then
    prints as "5k": the only case where its canonical text is not a fixed point.
    """
    return quantity.format is BIN and canonical.lstrip("-").isdigit() and canonical != "0"


def format_survives_printing(quantity: Quantity) -> bool:
    """Whether Kubernetes' canonical text keeps the format (it cannot always)."""
    text = str(quantity)
    if quantity.nanos == 0:
        return quantity.format is DEC
    if quantity.format is BIN:
        return text.endswith("i")  # otherwise printed as a plain decimal number
    if quantity.format is EXP:
        return "e" in text  # exponent 0 is printed without one
    return "e" not in text  # decimal SI beyond E falls back to an exponent


@given(quantity_texts())
@example("8Ei")
@example("0.000000000001Ki")
@example("-.5e-40")
@example("1000E")
def test_parsing_matches_exact_arithmetic(text: str) -> None:
    quantity = parse_quantity(text)
    exact = exact_value(text)
    is_binary = text.endswith("i")
    if is_binary and abs(exact) > MAX_BINARY:
        assert quantity.value == (MAX_BINARY if exact > 0 else -MAX_BINARY)
        return
    # Exact to the nano, rounded away from zero.
    assert abs(quantity.value) >= abs(exact)
    assert abs(quantity.value) - abs(exact) < Fraction(1, 10**9)
    assert (quantity.nanos == 0) == (exact == 0)
    assert quantity.nanos == 0 or (quantity.nanos > 0) == (exact > 0)


@given(quantity_texts())
@example("1.5Ki")
@example("1e0")
@example("1000E")
def test_round_trip_and_canonical_fixed_point(text: str) -> None:
    quantity = parse_quantity(text)
    canonical = str(quantity)
    again = parse_quantity(canonical)
    assert again == quantity
    assert again.value == quantity.value
    if is_binary_reprint(quantity, canonical):
        assert str(again) == canonical or canonical.endswith("000")
        assert str(parse_quantity(str(again))) == str(again)
    else:
        assert str(again) == canonical
    if format_survives_printing(quantity):
        assert again.format is quantity.format
    else:
        assert again.format is not BIN


nanos_values = st.one_of(
    st.integers(-(10**30), 10**30),
    st.builds(
        lambda mantissa, unit: mantissa * unit,
        st.integers(-2000, 2000),
        st.sampled_from(
            [10**k for k in range(0, 40)] + [1024**k * 10**9 for k in range(1, 7)] + [10**6]
        ),
    ),
)


@given(nanos_values, st.sampled_from(list(Format)))
def test_constructed_quantities_round_trip(nanos: int, fmt: Format) -> None:
    if fmt is BIN and abs(nanos) > MAX_BINARY * 10**9:
        nanos = nanos % (MAX_BINARY * 10**9)  # parsing would cap the value
    quantity = Quantity(nanos, fmt)
    canonical = str(quantity)
    again = parse_quantity(canonical)
    assert again.nanos == nanos
    if is_binary_reprint(quantity, canonical):
        assert str(parse_quantity(str(again))) == str(again)
    else:
        assert str(again) == canonical
    if format_survives_printing(quantity):
        assert again.format is fmt
    # Canonical text never has a fraction or a leading "+".
    assert "." not in canonical
    assert not canonical.startswith("+")


@given(st.integers(-(10**12), 10**12), st.integers(-(10**12), 10**12), st.integers(-50, 50))
def test_arithmetic_is_exact(a: int, b: int, factor: int) -> None:
    qa, qb = Quantity(a), Quantity(b, BIN)
    assert (qa + qb).nanos == a + b
    assert (qa - qb).nanos == a - b
    assert (qa + qb) - qb == qa
    assert (qa * factor).nanos == a * factor
    assert (qa < qb) == (a < b)


@pytest.mark.parametrize(
    ("amount", "text"),
    [(0.1, "100m"), (0.05, "50m"), (0.1 * 3, "300m"), (0.4, "400m"), (0.2501, "251m"), (2.0, "2")],
)
def test_format_cpu_ignores_float_noise(amount: float, text: str) -> None:
    assert format_cpu(amount) == text


@given(st.floats(min_value=-1e6, max_value=1e9, allow_nan=False, allow_infinity=False))
@example(0.1 * 3)
@example(0.2501)
@example(5e-324)
def test_format_cpu_rounds_up_to_one_millicore(amount: float) -> None:
    text = format_cpu(amount)
    quantity = parse_quantity(text)
    assert quantity >= Quantity(0) or amount < 0
    # Rounded up, except float noise below a millionth of a millicore.
    assert quantity.value >= Fraction(amount) - Fraction(1, 10**9)
    assert quantity.value - Fraction(amount) < Fraction(1, 1000)
    assert quantity.value * 1000 == quantity.milli_value()
    assert str(quantity) == text


@given(
    st.one_of(
        st.floats(min_value=0, max_value=1e19, allow_nan=False, allow_infinity=False),
        st.integers(0, 2**64),
        st.builds(lambda m, k: m * 1024**k, st.integers(0, 5000), st.integers(0, 5)),
    )
)
def test_format_memory_rounds_up_to_one_byte(amount: float) -> None:
    text = format_memory(amount)
    quantity = parse_quantity(text)
    assert quantity.value.denominator == 1
    # Rounded up, except float noise below a millionth of a byte.
    assert quantity.value >= Fraction(amount) - Fraction(1, 10**6)
    assert quantity.value - Fraction(amount) < 1
    assert str(quantity) == text
    whole = int(quantity.value)
    if whole and whole % 1024 == 0 and whole <= MAX_BINARY:
        assert text.endswith("i")
        assert quantity.format is BIN
