"""Expression trees for model specs: a restricted parser, dimension checking and evaluation.

Expressions are parsed with :mod:`ast` and rebuilt as a small tree of frozen
dataclasses. Only numbers, declared names, unit symbols (``mV``, ``GOhm`` ...),
arithmetic, comparisons, ``and``/``or``/``not`` and the functions in
:data:`FUNCTIONS` are accepted. Anything else (attribute access, subscripts,
lambdas, calls of other names, strings ...) is rejected with a message, and nothing
from the text is ever executed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from fractions import Fraction

from .errors import ExpressionError
from .units import DIMENSIONLESS, UNIT_SYMBOLS, describe_dimension


# ---------------------------------------------------------------------------- nodes
@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Sym:
    """A declared name: parameter, state variable, alias, input or ``t``."""

    name: str


@dataclass(frozen=True)
class UnitLit:
    """A unit symbol used as a value, e.g. the ``mV`` in ``140*mV``."""

    name: str


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * / **
    left: object
    right: object


@dataclass(frozen=True)
class Neg:
    operand: object


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple


@dataclass(frozen=True)
class Compare:
    op: str  # one of < <= > >= == !=
    left: object
    right: object


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    operands: tuple


@dataclass(frozen=True)
class Not:
    operand: object


# name -> number of arguments
FUNCTIONS = {
    "exp": 1, "log": 1, "sqrt": 1, "abs": 1, "tanh": 1, "sinh": 1, "cosh": 1,
    "min": 2, "max": 2,
}
_DIMENSIONLESS_ARGUMENT = {"exp", "log", "tanh", "sinh", "cosh"}

# Unit symbols allowed inside expressions: every prefixed or long unit name, but no
# single letters, which are too easily a mistyped variable name.
EXPRESSION_UNITS = {name for name in UNIT_SYMBOLS if len(name) > 1}

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_CMPOPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


# ---------------------------------------------------------------------------- parsing
def parse_expression(text, names) -> object:
    """Parse ``text`` into an expression tree; ``names`` is the set of declared symbols.

    Raises :class:`ExpressionError` for anything outside the allowed grammar or for an
    undefined name.
    """
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ExpressionError(f"expected an expression string, got {type(text).__name__} {text!r}")
    if isinstance(text, (int, float)):
        return Num(float(text))
    if "\n" in text.strip():
        raise ExpressionError("an expression must be on one line")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        col = (error.offset or 1) - 1
        raise ExpressionError(f"syntax error in {text.strip()!r}\n    {text.strip()}\n    {' ' * col}^") from None
    return _build(tree.body, set(names), text.strip())


def _build(node, names, text):
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ExpressionError(f"only numbers are allowed as constants, found {node.value!r} in {text!r}")
        return Num(float(node.value))
    if isinstance(node, ast.Name):
        if node.id in names:
            return Sym(node.id)
        if node.id in EXPRESSION_UNITS:
            return UnitLit(node.id)
        raise ExpressionError(f"undefined name {node.id!r} in {text!r}; declare it as a parameter, "
                              f"state variable, expression or input")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return BinOp(_BINOPS[type(node.op)], _build(node.left, names, text), _build(node.right, names, text))
    if isinstance(node, ast.UnaryOp):
        operand = _build(node.operand, names, text)
        if isinstance(node.op, ast.USub):
            return Num(-operand.value) if isinstance(operand, Num) else Neg(operand)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.Not):
            return Not(operand)
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1:
            raise ExpressionError(f"chained comparisons are not allowed in {text!r}; use 'and'")
        op = _CMPOPS.get(type(node.ops[0]))
        if op is None:
            raise ExpressionError(f"comparison operator not allowed in {text!r}")
        return Compare(op, _build(node.left, names, text), _build(node.comparators[0], names, text))
    if isinstance(node, ast.BoolOp):
        op = "and" if isinstance(node.op, ast.And) else "or"
        return BoolOp(op, tuple(_build(v, names, text) for v in node.values))
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise ExpressionError(f"only calls of the functions {sorted(FUNCTIONS)} are allowed, in {text!r}")
        func = node.func.id
        if func not in FUNCTIONS:
            raise ExpressionError(f"function {func!r} is not allowed in {text!r}; allowed: {', '.join(sorted(FUNCTIONS))}")
        if node.keywords or len(node.args) != FUNCTIONS[func]:
            raise ExpressionError(f"{func}() takes {FUNCTIONS[func]} positional argument(s), in {text!r}")
        return Call(func, tuple(_build(a, names, text) for a in node.args))
    kind = {
        ast.Attribute: "attribute access", ast.Subscript: "indexing", ast.Lambda: "lambda",
        ast.IfExp: "conditional expression", ast.ListComp: "comprehension", ast.List: "list",
        ast.Tuple: "tuple", ast.Dict: "dict", ast.JoinedStr: "string", ast.Starred: "starred expression",
    }.get(type(node), type(node).__name__)
    raise ExpressionError(f"{kind} is not allowed in expressions, in {text!r}")


# ---------------------------------------------------------------------------- inspection
def symbols(expr) -> set:
    """The declared names an expression refers to."""
    found = set()
    for node in walk(expr):
        if isinstance(node, Sym):
            found.add(node.name)
    return found


def walk(expr):
    yield expr
    if isinstance(expr, (BinOp, Compare)):
        yield from walk(expr.left)
        yield from walk(expr.right)
    elif isinstance(expr, (Neg, Not)):
        yield from walk(expr.operand)
    elif isinstance(expr, Call):
        for a in expr.args:
            yield from walk(a)
    elif isinstance(expr, BoolOp):
        for a in expr.operands:
            yield from walk(a)


def substitute(expr, mapping):
    """Replace symbols by expressions (``mapping``: name -> expression tree)."""
    if isinstance(expr, Sym):
        return mapping.get(expr.name, expr)
    if isinstance(expr, BinOp):
        return BinOp(expr.op, substitute(expr.left, mapping), substitute(expr.right, mapping))
    if isinstance(expr, Compare):
        return Compare(expr.op, substitute(expr.left, mapping), substitute(expr.right, mapping))
    if isinstance(expr, Neg):
        return Neg(substitute(expr.operand, mapping))
    if isinstance(expr, Not):
        return Not(substitute(expr.operand, mapping))
    if isinstance(expr, Call):
        return Call(expr.func, tuple(substitute(a, mapping) for a in expr.args))
    if isinstance(expr, BoolOp):
        return BoolOp(expr.op, tuple(substitute(a, mapping) for a in expr.operands))
    return expr


# ---------------------------------------------------------------------------- dimensions
BOOLEAN = "boolean"


def dimension_of(expr, dims, units_text=None):
    """Dimension of ``expr`` given ``dims`` (name -> Dimension) or BOOLEAN for conditions.

    ``units_text`` (name -> unit string as written) makes error messages speak the
    user's units. Raises ExpressionError on any inconsistency.
    """
    units_text = units_text or {}

    def show(dim):
        for name, text in units_text.items():
            if dims.get(name) == dim and text not in ("1", ""):
                return text
        return describe_dimension(dim)

    def rec(node):
        if isinstance(node, Num):
            return DIMENSIONLESS
        if isinstance(node, Sym):
            return dims[node.name]
        if isinstance(node, UnitLit):
            return UNIT_SYMBOLS[node.name][0]
        if isinstance(node, Neg):
            d = rec(node.operand)
            _require_number(d, node, "negate")
            return d
        if isinstance(node, BinOp):
            left, right = rec(node.left), rec(node.right)
            for side in (left, right):
                _require_number(side, node, f"use {node.op} on")
            if node.op in "+-":
                if left != right:
                    raise ExpressionError(f"cannot {'add' if node.op == '+' else 'subtract'} {show(left)} and "
                                          f"{show(right)} in '{to_text(node)}'")
                return left
            if node.op == "*":
                return left * right
            if node.op == "/":
                return left / right
            # power
            if right != DIMENSIONLESS:
                raise ExpressionError(f"an exponent must be dimensionless, in '{to_text(node)}'")
            if left == DIMENSIONLESS:
                return DIMENSIONLESS
            exponent = _constant_value(node.right)
            if exponent is None:
                raise ExpressionError(f"a quantity with a unit ({show(left)}) can only be raised to a constant "
                                      f"power, in '{to_text(node)}'")
            return left ** Fraction(exponent).limit_denominator(1000)
        if isinstance(node, Call):
            args = [rec(a) for a in node.args]
            for a in args:
                _require_number(a, node, f"call {node.func} on")
            if node.func in _DIMENSIONLESS_ARGUMENT and args[0] != DIMENSIONLESS:
                raise ExpressionError(f"the argument of {node.func}() must be dimensionless, but "
                                      f"'{to_text(node.args[0])}' is {show(args[0])}")
            if node.func == "sqrt":
                return args[0] ** Fraction(1, 2)
            if node.func in ("min", "max") and args[0] != args[1]:
                raise ExpressionError(f"{node.func}() of {show(args[0])} and {show(args[1])} in '{to_text(node)}'")
            return args[0]
        if isinstance(node, Compare):
            left, right = rec(node.left), rec(node.right)
            if left == BOOLEAN or right == BOOLEAN:
                raise ExpressionError(f"cannot compare a condition in '{to_text(node)}'")
            if left != right:
                raise ExpressionError(f"cannot compare {show(left)} with {show(right)} in '{to_text(node)}'")
            return BOOLEAN
        if isinstance(node, BoolOp):
            for operand in node.operands:
                if rec(operand) != BOOLEAN:
                    raise ExpressionError(f"'{node.op}' needs conditions on both sides, in '{to_text(node)}'")
            return BOOLEAN
        if isinstance(node, Not):
            if rec(node.operand) != BOOLEAN:
                raise ExpressionError(f"'not' needs a condition, in '{to_text(node)}'")
            return BOOLEAN
        raise ExpressionError(f"unknown expression node {node!r}")

    return rec(expr)


def _require_number(dim, node, action):
    if dim == BOOLEAN:
        raise ExpressionError(f"cannot {action} a condition, in '{to_text(node)}'")


def _constant_value(node):
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Neg):
        inner = _constant_value(node.operand)
        return None if inner is None else -inner
    if isinstance(node, BinOp) and node.op == "/":
        a, b = _constant_value(node.left), _constant_value(node.right)
        if a is not None and b not in (None, 0):
            return a / b
    return None


# ---------------------------------------------------------------------------- printing
_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "neg": 7, "**": 8, "atom": 9}


class ExpressionPrinter:
    """Prints an expression tree as infix text; subclasses change names, units and functions.

    Dispatch is on the node's class (``_print_Num``, ``_print_Sym`` ...). A function
    missing from :attr:`known_functions` raises instead of emitting partial code.
    """

    known_functions = {f: f for f in FUNCTIONS}
    power_operator = "**"
    and_operator = "and"
    or_operator = "or"
    not_operator = "not "

    def doprint(self, expr) -> str:
        return self._print(expr)[0]

    def _print(self, node):
        method = getattr(self, "_print_" + type(node).__name__)
        return method(node)

    def _wrap(self, node, parent_precedence, right_side=False):
        text, precedence = self._print(node)
        if precedence < parent_precedence or (right_side and precedence == parent_precedence):
            return f"({text})"
        return text

    def _print_Num(self, node):
        value = node.value
        if value == int(value) and abs(value) < 1e15:
            text = f"{value:.1f}"
        else:
            text = repr(value)
        return (text, _PRECEDENCE["atom"]) if value >= 0 else (f"({text})", _PRECEDENCE["atom"])

    def _print_Sym(self, node):
        return self.symbol(node.name), _PRECEDENCE["atom"]

    def symbol(self, name):
        return name

    def _print_UnitLit(self, node):
        return self.unit_literal(node.name), _PRECEDENCE["atom"]

    def unit_literal(self, name):
        return name

    def _print_Neg(self, node):
        return "-" + self._wrap(node.operand, _PRECEDENCE["neg"]), _PRECEDENCE["neg"]

    def _print_BinOp(self, node):
        precedence = _PRECEDENCE[node.op]
        if node.op == "**":
            left = self._wrap(node.left, precedence + 1)
            right = self._wrap(node.right, precedence)
            return self.power(left, right), precedence
        left = self._wrap(node.left, precedence)
        right = self._wrap(node.right, precedence, right_side=node.op in "-/")
        return f"{left} {node.op} {right}", precedence

    def power(self, base, exponent):
        return f"{base}{self.power_operator}{exponent}"

    def _print_Call(self, node):
        if node.func not in self.known_functions:
            raise ExpressionError(f"{type(self).__name__} cannot print the function {node.func}()")
        args = ", ".join(self._print(a)[0] for a in node.args)
        return f"{self.known_functions[node.func]}({args})", _PRECEDENCE["atom"]

    def _print_Compare(self, node):
        precedence = _PRECEDENCE["cmp"]
        return (f"{self._wrap(node.left, precedence + 1)} {node.op} {self._wrap(node.right, precedence + 1)}",
                precedence)

    def _print_BoolOp(self, node):
        precedence = _PRECEDENCE[node.op]
        op = self.and_operator if node.op == "and" else self.or_operator
        return f" {op} ".join(self._wrap(a, precedence + 1) for a in node.operands), precedence

    def _print_Not(self, node):
        return self.not_operator + self._wrap(node.operand, _PRECEDENCE["not"]), _PRECEDENCE["not"]


def to_text(expr) -> str:
    """The expression as lifbridge spec text."""
    return ExpressionPrinter().doprint(expr)


# ---------------------------------------------------------------------------- evaluation
class PythonPrinter(ExpressionPrinter):
    """Prints a tree as numpy code over SI values (``ns[name]``); unit literals become SI factors."""

    known_functions = {"exp": "np.exp", "log": "np.log", "sqrt": "np.sqrt", "abs": "np.abs",
                       "tanh": "np.tanh", "sinh": "np.sinh", "cosh": "np.cosh",
                       "min": "np.minimum", "max": "np.maximum"}
    and_operator = "&"
    or_operator = "|"
    not_operator = "~"

    def symbol(self, name):
        return f"ns[{name!r}]"

    def unit_literal(self, name):
        return repr(UNIT_SYMBOLS[name][1])

    def _print_Compare(self, node):
        text, _ = super()._print_Compare(node)
        return f"({text})", _PRECEDENCE["atom"]

    def _print_BoolOp(self, node):
        text, _ = super()._print_BoolOp(node)
        return f"({text})", _PRECEDENCE["atom"]

    def _print_Not(self, node):
        return f"(~{self._wrap(node.operand, _PRECEDENCE['atom'])})", _PRECEDENCE["atom"]


def compile_expression(expr):
    """A function ``f(ns)`` evaluating ``expr`` on SI values (floats or numpy arrays).

    The code is printed from the validated tree, so it holds only names, numbers,
    operators and numpy functions.
    """
    import numpy as np

    code = PythonPrinter().doprint(expr)
    function = eval(compile(f"lambda ns: {code}", "<lifbridge expression>", "eval"), {"np": np, "__builtins__": {}})
    function.source = code
    return function


def evaluate(expr, values):
    """Evaluate ``expr`` with ``values`` (name -> SI value); returns a float or array."""
    return compile_expression(expr)(values)


def is_constant(expr):
    return all(not isinstance(n, Sym) for n in walk(expr))


__all__ = [
    "Num", "Sym", "UnitLit", "BinOp", "Neg", "Call", "Compare", "BoolOp", "Not", "FUNCTIONS",
    "parse_expression", "symbols", "walk", "substitute", "dimension_of", "BOOLEAN",
    "ExpressionPrinter", "to_text", "compile_expression", "evaluate", "is_constant",
]
