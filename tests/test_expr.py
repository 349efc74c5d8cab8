"""The restricted expression language (lifbridge.expr): parsing, printing, dimensions, evaluation."""

import math
import os
from pathlib import Path

import pytest

from lifbridge import expr as ex
from lifbridge.errors import ExpressionError
from lifbridge.units import DIMENSIONLESS, SECOND, VOLT, parse_unit

NAMES = {"a", "b", "c", "x", "y", "V_m", "E_L", "V_th", "tau_m", "I_e", "C_m", "g_L", "t"}
UNITS = {"a": "1", "b": "1", "c": "1", "x": "1", "y": "1", "V_m": "mV", "E_L": "mV", "V_th": "mV",
         "tau_m": "ms", "I_e": "pA", "C_m": "pF", "g_L": "nS"}
DIMS = {name: parse_unit(unit).dim for name, unit in UNITS.items()} | {"t": SECOND}


def parse(text):
    return ex.parse_expression(text, NAMES)


def dim(text):
    return ex.dimension_of(parse(text), DIMS, UNITS)


# ---------------------------------------------------------------------------- printing
ROUND_TRIP = [
    "a - (b - c)", "a + (b - c)", "a + (b + c)", "a - b - c", "(a - b) - c", "a/(b*c)", "a/b*c", "a/(b/c)", "a*(b/c)",
    "-x**2", "(-x)**2", "(a+b)**2", "a**b**c", "(a**b)**c", "a**-b", "2**-1", "-(a + b)", "-a*b", "-(a*b)",
    "a - -b", "a + -1", "-(-a)", "x**0.5", "1e-20*a", "1e20*a", "-2.5e-3", "140*mV", "(V_m - E_L)/tau_m",
    "exp((V_m - V_th)/(2*mV))", "min(a, b) + max(a, -b)", "sqrt(abs(a))",
    "a < b", "not a < b", "not (a < b and b < c)", "a < b and b < c or c < a", "a < b and (b < c or c < a)",
    "(a < b) == (b < c)", "a + b < c*2", "not not a < b", "a and (b and c)", "(a and b) and c",
    "-(V_m - E_L)/tau_m + I_e/C_m", "t/tau_m",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_printing_round_trip(text):
    tree = parse(text)
    printed = ex.to_text(tree)
    assert parse(printed) == tree, printed
    assert ex.to_text(parse(printed)) == printed


@pytest.mark.parametrize("text, expected", [
    ("a - (b - c)", "a - (b - c)"),
    ("a/(b*c)", "a / (b * c)"),
    ("-x**2", "-x**2.0"),
    ("(a+b)**2", "(a + b)**2.0"),
    ("(-x)**2", "(-x)**2.0"),
])
def test_printing_keeps_needed_parentheses(text, expected):
    assert ex.to_text(parse(text)) == expected


def test_negative_literal_folds():
    assert parse("-2") == ex.Num(-2.0)
    assert parse("-x**2") == ex.Neg(ex.BinOp("**", ex.Sym("x"), ex.Num(2.0)))


def test_printer_refuses_malformed_trees():
    for tree in (ex.BinOp("+ 1 or __import__('os') +", ex.Num(1.0), ex.Num(2.0)),
                 ex.Compare("; x", ex.Num(1.0), ex.Num(2.0)),
                 ex.Num(float("inf")), ex.Num(float("nan")), ex.Num("1"),
                 ex.Call("system", (ex.Num(1.0),)), "a + b", 3.0):
        with pytest.raises(ExpressionError):
            ex.compile_expression(tree)


# ---------------------------------------------------------------------------- dimensions
def test_dimensions_of_valid_expressions():
    assert dim("-(V_m - E_L)/tau_m + I_e/C_m") == VOLT / SECOND
    assert dim("g_L*(V_m - E_L)") == parse_unit("pA").dim
    assert dim("exp((V_m - V_th)/(2*mV))") == DIMENSIONLESS
    assert dim("V_m**2/mV") == VOLT
    assert dim("sqrt(V_m*V_m)") == VOLT
    assert dim("V_m >= V_th and not t < tau_m") == ex.BOOLEAN
    assert dim("a**x") == DIMENSIONLESS
    assert dim("V_m**(1/2)") == VOLT ** 0.5


@pytest.mark.parametrize("text, phrase", [
    ("V_m + I_e", "cannot add mV and pA in 'V_m + I_e'"),
    ("V_m - I_e", "cannot subtract mV and pA"),
    ("-(V_m - E_L)/tau_m + I_e", "cannot add mV/ms and pA"),
    ("exp(V_m)", "the argument of exp() must be dimensionless, but 'V_m' is mV"),
    ("log(tau_m)", "the argument of log() must be dimensionless, but 'tau_m' is ms"),
    ("tanh(V_m/tau_m)", "must be dimensionless, but 'V_m / tau_m' is mV/ms"),
    ("V_m < tau_m", "cannot compare mV with ms"),
    ("V_m >= 1", "cannot compare mV with dimensionless"),
    ("V_m**x", "can only be raised to a constant power"),
    ("V_m**a", "can only be raised to a constant power"),
    ("a**V_m", "an exponent must be dimensionless"),
    ("max(V_m, I_e)", "max() needs two arguments with the same unit"),
    ("(V_m < E_L) + a", "cannot use + on a condition"),
    ("V_m and a < b", "'and' needs conditions"),
    ("not V_m", "'not' needs a condition"),
    ("(a < b) < c", "cannot compare a condition"),
])
def test_dimension_errors(text, phrase):
    with pytest.raises(ExpressionError) as info:
        dim(text)
    message = str(info.value)
    assert phrase in message
    assert "\n" not in message
    assert "Dimension(" not in message and "Fraction(" not in message


def test_dimension_messages_use_the_units_as_written():
    units = {"V_m": "mV", "V_th": "V", "I_e": "pA"}
    dims = {"V_m": VOLT, "V_th": VOLT, "I_e": parse_unit("pA").dim}
    with pytest.raises(ExpressionError, match="cannot add V and pA"):
        ex.dimension_of(ex.parse_expression("V_th + I_e", dims), dims, units)
    with pytest.raises(ExpressionError, match="cannot add mV and pA"):
        ex.dimension_of(ex.parse_expression("V_m + I_e", dims), dims, units)
    # without unit text the SI name is used
    with pytest.raises(ExpressionError, match="cannot add V and A"):
        ex.dimension_of(ex.parse_expression("V_m + I_e", dims), dims)


def test_dimension_of_unknown_symbol_is_an_expression_error():
    with pytest.raises(ExpressionError, match="undefined name 'zz'"):
        ex.dimension_of(ex.Sym("zz"), DIMS)


# ---------------------------------------------------------------------------- evaluation
@pytest.mark.parametrize("text, reference", [
    ("a + b*c", lambda a, b, c: a + b * c),
    ("a - (b - c)", lambda a, b, c: a - (b - c)),
    ("a/(b*c)", lambda a, b, c: a / (b * c)),
    ("-a**2", lambda a, b, c: -a ** 2),
    ("(a + b)**2", lambda a, b, c: (a + b) ** 2),
    ("exp(-a/b)*sqrt(c) - log(b)", lambda a, b, c: math.exp(-a / b) * math.sqrt(c) - math.log(b)),
    ("tanh(a) + sinh(b) - cosh(c)", lambda a, b, c: math.tanh(a) + math.sinh(b) - math.cosh(c)),
    ("min(a, b) + max(b, c) + abs(a - c)", lambda a, b, c: min(a, b) + max(b, c) + abs(a - c)),
    ("abs(a)**b**0.5", lambda a, b, c: abs(a) ** b ** 0.5),
])
def test_evaluate_matches_python(text, reference):
    for a, b, c in [(1.5, 2.0, 3.0), (0.25, 4.0, 0.5), (-1.0, 3.0, 2.0)]:
        got = ex.evaluate(parse(text), {"a": a, "b": b, "c": c})
        assert float(got) == pytest.approx(reference(a, b, c), rel=1e-14)


def test_evaluate_unit_literals_in_si():
    assert float(ex.evaluate(parse("140*mV"), {})) == pytest.approx(0.14)
    assert float(ex.evaluate(parse("V_m - E_L"), {"V_m": -0.055, "E_L": -0.07})) == pytest.approx(0.015)


@pytest.mark.parametrize("text, expected", [
    ("a < b", True), ("a > b", False), ("not a < b", False), ("not a > b", True),
    ("a < b and b < c", True), ("a > b or b > c", False), ("not (a > b or b > c)", True),
    ("a == 1", True), ("a != 1", False),
])
def test_evaluate_conditions(text, expected):
    assert bool(ex.evaluate(parse(text), {"a": 1.0, "b": 2.0, "c": 3.0})) is expected


def test_evaluate_does_not_raise_on_arithmetic_overflow():
    assert math.isinf(ex.evaluate(parse("a/0"), {"a": 1.0}))
    assert math.isinf(ex.evaluate(parse("a**1000"), {"a": 10.0}))


def test_evaluate_arrays():
    import numpy as np

    got = ex.evaluate(parse("not a < b"), {"a": np.array([1.0, 3.0]), "b": 2.0})
    assert list(got) == [False, True]


# ---------------------------------------------------------------------------- the grammar
SENTINEL = Path("/tmp/lifbridge_expr_test_pwned")

HOSTILE = [
    "__import__('os').system('touch /tmp/lifbridge_expr_test_pwned')",
    "().__class__.__bases__[0].__subclasses__()",
    "(lambda: 1)()",
    "lambda: 1",
    "open('/etc/passwd').read()",
    "open('/tmp/lifbridge_expr_test_pwned', 'w')",
    "eval('1')",
    "exec('import os')",
    "globals()",
    "[x for x in ()]",
    "{x for x in ()}",
    "(x for x in ())",
    "f'{x}'",
    "f'{__import__(\"os\").system(\"touch /tmp/lifbridge_expr_test_pwned\")}'",
    "a if b else c",
    "(x := 1)",
    "V_m.real",
    "V_m[0]",
    "V_m[0:1]",
    "'abc'",
    "b'abc'",
    "[1, 2]",
    "(1, 2)",
    "{'a': 1}",
    "*a",
    "exp(*a)",
    "exp(x=1)",
    "a; import os",
    "import os",
    "a\nb",
    "x = 1",
    "True",
    "None",
    "1j",
    "...",
    "a // b",
    "a % b",
    "a @ b",
    "a ^ b",
    "~a",
    "a is b",
    "a in b",
    "a < b < c",
    "1e999",
    "9" * 400,
    "undefined_name",
    "a\x00b",
    "",
    "   ",
    "(" * 500 + "a" + ")" * 500,
    "-" * 3000 + "a",
    "a" + "+a" * 3000,
    "a" + "**a" * 200,
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_are_rejected_without_executing(text):
    if SENTINEL.exists():
        SENTINEL.unlink()
    with pytest.raises(ExpressionError) as info:
        parse(text)
    assert not SENTINEL.exists()
    message = str(info.value)
    assert len(message.splitlines()) == 1 and len(message) <= 300, message
    assert "Traceback" not in message


@pytest.mark.parametrize("value", [["a"], {"a": 1}, True, None, float("nan"), float("inf")])
def test_non_string_expressions(value):
    with pytest.raises(ExpressionError):
        ex.parse_expression(value, NAMES)


def test_numbers_are_expressions():
    assert ex.parse_expression(3, NAMES) == ex.Num(3.0)
    assert ex.parse_expression(-0.5, NAMES) == ex.Num(-0.5)


@pytest.mark.parametrize("text, phrase", [
    ("tau", "did you mean 'tau_m'"),
    ("V", "single-letter units are not allowed"),
    ("exp", "exp is a function"),
    ("a ^ 2", "write ** for a power"),
    ("eval('1')", "function 'eval' is not allowed"),
    ("a < b < c", "chained comparisons"),
    ("a.b", "attribute access"),
    ("a[1]", "indexing"),
])
def test_helpful_messages(text, phrase):
    with pytest.raises(ExpressionError, match=phrase.replace("(", r"\(").replace("*", r"\*").replace("^", r"\^")):
        parse(text)


def test_syntax_error_names_the_column_on_one_line():
    with pytest.raises(ExpressionError) as info:
        parse("a + * b")
    message = str(info.value)
    assert "\n" not in message
    assert "at column 5 ('* b')" in message


def test_unit_names_are_allowed_but_declared_names_win():
    assert parse("2*mV") == ex.BinOp("*", ex.Num(2.0), ex.UnitLit("mV"))
    assert ex.parse_expression("ms", {"ms"}) == ex.Sym("ms")


def test_compiled_code_holds_only_names_numbers_and_numpy():
    code = ex.compile_expression(parse("exp(-(V_m - E_L)/(2*mV)) + max(a, b)")).source
    assert "import" not in code and "__" not in code
    assert code.startswith("np.exp(")


def test_nothing_was_created():
    assert not SENTINEL.exists()
    assert not os.path.exists("/tmp/lifbridge_pwned_by_model")
