"""Unit strings, quantities and conversions (lifbridge.units)."""

import pytest

from lifbridge.errors import UnitError
from lifbridge.units import (AMP, DIMENSIONLESS, FARAD, HERTZ, METRE, OHM, SECOND, SIEMENS, VOLT, WATT, convert,
                             describe_dimension, parse_quantity, parse_unit)


@pytest.mark.parametrize("text, dim, scale", [
    ("mV", VOLT, 1e-3),
    ("pA", AMP, 1e-12),
    ("nS", SIEMENS, 1e-9),
    ("pF", FARAD, 1e-12),
    ("ms", SECOND, 1e-3),
    ("GOhm", OHM, 1e9),
    ("1/ms", HERTZ, 1e3),
    ("Hz", HERTZ, 1.0),
    ("mS/cm**2", SIEMENS / METRE ** 2, 10.0),
    ("mW/mm**2", WATT / METRE ** 2, 1e3),
    ("uA/cm**2", AMP / METRE ** 2, 1e-2),
    ("uF/cm^2", FARAD / METRE ** 2, 1e-2),
    ("1", DIMENSIONLESS, 1.0),
    ("", DIMENSIONLESS, 1.0),
])
def test_parse_unit(text, dim, scale):
    unit = parse_unit(text)
    assert unit.dim == dim
    assert unit.scale == pytest.approx(scale, rel=1e-12)


def test_unit_keeps_the_name_as_written():
    assert parse_unit(" mS/cm**2 ").name == "mS/cm**2"
    assert str(parse_unit("GOhm")) == "GOhm"


@pytest.mark.parametrize("text, suggestion", [
    ("mv", "mV"),
    ("PA", "pA"),
    ("NS", "nS"),
    ("gohm", "Gohm"),
    ("mVolt", "mV"),
    ("millivolt", "mV"),
    ("msec", "ms"),
    ("picoamp", "pA"),
])
def test_unknown_unit_suggests(text, suggestion):
    with pytest.raises(UnitError) as info:
        parse_unit(text)
    message = str(info.value)
    assert f"unknown unit {text!r}" in message
    assert f"did you mean {suggestion!r}" in message


def test_mega_volt_is_a_unit_not_a_typo():
    assert parse_unit("MV").scale == 1e6


def test_unknown_unit_without_suggestion_lists_the_known_units():
    with pytest.raises(UnitError, match="unknown unit 'furlong'; known units are"):
        parse_unit("furlong")


def test_unknown_unit_inside_a_compound_unit_names_both():
    with pytest.raises(UnitError, match=r"unknown unit 'xx' in 'mV/xx'"):
        parse_unit("mV/xx")


@pytest.mark.parametrize("text, phrase", [
    ("mV mV", "cannot parse unit"),
    ("mV + pA", "only unit names"),
    ("__import__('os')", "is not allowed in a unit"),
    ("mV # comment", "is not allowed in a unit"),
    ("m\nV", "is not allowed in a unit"),
    ("mV.real", "only unit names"),
    ("ms**0.5", "whole numbers"),
    ("ms**100000", "too large"),
    ("2**10000", "too large"),
    ("ms/0", "positive and finite"),
    ("0/ms", "positive and finite"),
    ("-1*mV", "only unit names"),
    ("1e999*mV", "positive and finite"),
    ("1e300*1e300*mV", "positive and finite"),
    ("(" * 300 + "mV" + ")" * 300, "cannot parse unit"),
])
def test_bad_unit_strings(text, phrase):
    with pytest.raises(UnitError, match=phrase):
        parse_unit(text)


@pytest.mark.parametrize("value", [3, None, ["mV"], True])
def test_unit_must_be_a_string(value):
    with pytest.raises(UnitError, match="must be a string"):
        parse_unit(value)


def test_parse_quantity():
    assert parse_quantity("250pF") == (250.0, parse_unit("pF"))
    value, unit = parse_quantity("-63 mV")
    assert value == -63.0 and unit.name == "mV"
    value, unit = parse_quantity("0.5nA")
    assert value == 0.5 and unit.name == "nA"
    value, unit = parse_quantity("10 * ms")
    assert value == 10.0 and unit.name == "ms"
    value, unit = parse_quantity("1e3")
    assert value == 1000.0 and unit.is_dimensionless
    value, unit = parse_quantity("42", default_unit=parse_unit("pA"))
    assert value == 42.0 and unit.name == "pA"


@pytest.mark.parametrize("text", ["fast", "", "mV", "1e999 mV", "nan mV"])
def test_parse_quantity_rejects(text):
    with pytest.raises(UnitError):
        parse_quantity(text)


@pytest.mark.parametrize("value, source, target, expected", [
    (0.5, "nA", "pA", 500.0),
    (250.0, "pF", "nF", 0.25),
    (1.0, "GOhm", "MOhm", 1000.0),
    (2.0, "ms", "s", 0.002),
    (1.0, "mS/cm**2", "S/m**2", 10.0),
    (3.0, "nS", "pS", 3000.0),
    (-63.0, "mV", "V", -0.063),
    (1.0, "1/ms", "Hz", 1000.0),
])
def test_conversions_are_exact(value, source, target, expected):
    assert convert(value, parse_unit(source), parse_unit(target)) == expected
    assert value * parse_unit(source).factor_to(parse_unit(target)) == expected


def test_quantity_conversion_is_exact():
    value, unit = parse_quantity("0.5 nA")
    assert value * unit.factor_to(parse_unit("pA")) == 500.0


@pytest.mark.parametrize("source, target", [("mV", "pA"), ("ms", "Hz"), ("nS", "GOhm"), ("pF", "1")])
def test_dimension_mismatch(source, target):
    with pytest.raises(UnitError, match=f"{source}.*{target}"):
        parse_unit(source).factor_to(parse_unit(target))
    with pytest.raises(UnitError, match="C_m"):
        convert(1.0, parse_unit(source), parse_unit(target), what="C_m")


def test_messages_have_no_python_noise():
    for text in ("mV", "ms**-2", "mS/cm**2", "mV**3"):
        shown = describe_dimension(parse_unit(text).dim)
        assert "Dimension" not in shown and "Fraction" not in shown
    try:
        parse_unit("mV").factor_to(parse_unit("pA"))
    except UnitError as error:
        assert "Dimension(" not in str(error) and "\n" not in str(error)
    assert describe_dimension(VOLT) == "V"
    assert describe_dimension(VOLT ** 0.5) == "m*kg**(1/2)*s**(-3/2)*A**(-1/2)"
