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
import difflib
import functools
import math
from dataclasses import dataclass
from fractions import Fraction

from .errors import ExpressionError
from .text import first_unsafe_char
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


_NODE_TYPES = (Num, Sym, UnitLit, BinOp, Neg, Call, Compare, BoolOp, Not)

# name -> number of arguments
FUNCTIONS = {
    "exp": 1, "log": 1, "sqrt": 1, "abs": 1, "tanh": 1, "sinh": 1, "cosh": 1,
    "min": 2, "max": 2,
}
_DIMENSIONLESS_ARGUMENT = {"exp", "log", "tanh", "sinh", "cosh"}

# Unit symbols allowed inside expressions: every prefixed or long unit name, but no
# single letters, which are too easily a mistyped variable name.
EXPRESSION_UNITS = {name for name in UNIT_SYMBOLS if len(name) > 1}

_BINOP_NAMES = ("+", "-", "*", "/", "**")
_CMPOP_NAMES = ("<", "<=", ">", ">=", "==", "!=")
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_CMPOPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


# ---------------------------------------------------------------------------- parsing
MAX_LENGTH = 5000   # characters in one expression
MAX_DEPTH = 100     # nesting of the expression tree

_DESCRIBE_NODE = {
    ast.Attribute: "attribute access (x.y)", ast.Subscript: "indexing (x[...])", ast.Lambda: "lambda",
    ast.IfExp: "a conditional expression (a if b else c)", ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension", ast.DictComp: "a comprehension", ast.GeneratorExp: "a generator expression",
    ast.List: "a list", ast.Tuple: "a tuple", ast.Set: "a set", ast.Dict: "a dict",
    ast.JoinedStr: "an f-string", ast.FormattedValue: "an f-string", ast.Starred: "a starred expression",
    ast.NamedExpr: "an assignment (:=)", ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
    ast.Slice: "a slice",
}


def _quoted(text):
    """``text`` in quotes for a message, shortened if long (control characters escaped)."""
    if len(text) > 80:
        return repr(text[:80]) + "…"
    return repr(text)


def _number(value, text):
    """A finite float from a number literal, or ExpressionError."""
    try:
        number = float(value)
    except (OverflowError, ValueError):
        number = float("inf")
    if not math.isfinite(number):
        raise ExpressionError(f"a number in {_quoted(text)} is not finite (or too large for a float)")
    return number


def parse_expression(text, names) -> object:
    """Parse ``text`` into an expression tree; ``names`` is the set of declared symbols.

    Raises :class:`ExpressionError` (a one-line message) for anything outside the allowed
    grammar or for an undefined name. Nothing in ``text`` is executed: it is parsed with
    :func:`ast.parse` and only whitelisted node types are turned into the tree. The
    length limit (:data:`MAX_LENGTH`) is checked before anything else looks at the text,
    and the nesting limit (:data:`MAX_DEPTH`) before the tree is built.
    """
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        shown = repr(text)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        kind = {list: "a list", dict: "a table", bool: "a boolean"}.get(type(text), type(text).__name__)
        raise ExpressionError(f"expected an expression in quotes, such as \"V_m - E_L\", got {kind} {shown}")
    if isinstance(text, (int, float)):
        return Num(_number(text, str(text)))
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is too long ({len(text)} characters; at most {MAX_LENGTH}): "
                              f"split it into [expressions]")
    stripped = text.strip()
    if not stripped:
        raise ExpressionError("the expression is empty")
    if "\n" in stripped or "\r" in stripped:
        raise ExpressionError("an expression must be on one line")
    if "\x7f" in stripped or first_unsafe_char(stripped) is not None:
        raise ExpressionError(f"the expression {_quoted(stripped)} contains control characters")
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as error:
        detail = "" if not error.msg or error.msg.startswith("invalid syntax") else f" ({error.msg})"
        if first_unsafe_char(detail) is not None or len(detail) > 80:
            detail = ""
        column = error.offset if error.offset and 1 <= error.offset <= len(stripped) else None
        at = f" at column {column} ({_quoted(stripped[column - 1:column + 9])})" if column else ""
        raise ExpressionError(f"syntax error in {_quoted(stripped)}{at}{detail}") from None
    except (ValueError, MemoryError, RecursionError):
        raise ExpressionError(f"cannot parse {_quoted(stripped)}: too complex") from None
    _check_depth(tree.body, stripped)
    return _build(tree.body, frozenset(names), stripped)


def _check_depth(root, text):
    """Reject trees nested deeper than MAX_DEPTH (walked without recursion)."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(f"the expression {_quoted(text)} is nested too deeply "
                                  f"(more than {MAX_DEPTH} levels); split it into [expressions]")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _undefined(name, names, text):
    message = f"undefined name {name!r} in {_quoted(text)}"
    close = difflib.get_close_matches(name, sorted(n for n in names if n != "t"), n=1, cutoff=0.75)
    if close:
        return message + f"; did you mean {close[0]!r}?"
    if name in UNIT_SYMBOLS:
        return message + (f"; single-letter units are not allowed in expressions (they look like variables): "
                          f"write a prefixed unit such as m{name} or 1e-3*m{name}")
    if name in FUNCTIONS:
        return message + f"; {name} is a function: write {name}(...)"
    from .units import suggest_unit
    hint = suggest_unit(name)
    if hint and hint in EXPRESSION_UNITS:
        return message + f"; did you mean the unit {hint!r}?"
    return message + "; declare it as a parameter, state variable, expression or input"


def _build(node, names, text):
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            kind = "a string" if isinstance(node.value, (str, bytes)) else repr(node.value)
            if node.value is None or node.value is Ellipsis or isinstance(node.value, complex):
                kind = repr(node.value)
            raise ExpressionError(f"only numbers are allowed as constants, found {kind} in {_quoted(text)}")
        return Num(_number(node.value, text))
    if isinstance(node, ast.Name):
        if node.id in names:
            return Sym(node.id)
        if node.id in EXPRESSION_UNITS:
            return UnitLit(node.id)
        if node.id in ("True", "False", "None"):
            raise ExpressionError(f"{node.id} is not allowed in expressions, in {_quoted(text)}")
        raise ExpressionError(_undefined(node.id, names, text))
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            symbol = {ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.BitAnd: "&", ast.BitOr: "|",
                      ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>"}.get(type(node.op), "this operator")
            hint = "; write ** for a power" if symbol == "^" else "; use + - * / ** only"
            raise ExpressionError(f"the operator {symbol} is not allowed in {_quoted(text)}{hint}")
        left, right = _build(node.left, names, text), _build(node.right, names, text)
        if (isinstance(node.op, ast.Pow) and isinstance(left, Num) and isinstance(right, Num)
                and left.value < 0 and right.value != int(right.value)):
            raise ExpressionError(f"a negative number to a fractional power is not a real number, in {_quoted(text)}")
        return BinOp(_BINOPS[type(node.op)], left, right)
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.Invert):
            raise ExpressionError(f"the operator ~ is not allowed in {_quoted(text)}; write 'not'")
        operand = _build(node.operand, names, text)
        if isinstance(node.op, ast.USub):
            return Num(-operand.value) if isinstance(operand, Num) else Neg(operand)
        if isinstance(node.op, ast.UAdd):
            return operand
        return Not(operand)
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1:
            raise ExpressionError(f"chained comparisons are not allowed in {_quoted(text)}; write 'a < b and b < c'")
        op = _CMPOPS.get(type(node.ops[0]))
        if op is None:
            raise ExpressionError(f"only the comparisons < <= > >= == != are allowed, in {_quoted(text)}")
        return Compare(op, _build(node.left, names, text), _build(node.comparators[0], names, text))
    if isinstance(node, ast.BoolOp):
        op = "and" if isinstance(node.op, ast.And) else "or"
        return BoolOp(op, tuple(_build(v, names, text) for v in node.values))
    if isinstance(node, ast.Call):
        allowed = ", ".join(sorted(FUNCTIONS))
        if not isinstance(node.func, ast.Name):
            raise ExpressionError(f"only the functions {allowed} may be called, in {_quoted(text)}")
        func = node.func.id
        if func not in FUNCTIONS:
            raise ExpressionError(f"function {func!r} is not allowed in {_quoted(text)}; allowed: {allowed}")
        if node.keywords or len(node.args) != FUNCTIONS[func] or any(isinstance(a, ast.Starred) for a in node.args):
            count = FUNCTIONS[func]
            raise ExpressionError(f"{func}() takes {count} argument{'s' if count > 1 else ''}, in {_quoted(text)}")
        return Call(func, tuple(_build(a, names, text) for a in node.args))
    kind = _DESCRIBE_NODE.get(type(node), type(node).__name__)
    raise ExpressionError(f"{kind} is not allowed in expressions, in {_quoted(text)}")


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


def affine_degree(node, variables):
    """0 if ``node`` does not depend on ``variables``, 1 if it is affine in them, None otherwise."""
    if isinstance(node, (Num, UnitLit)):
        return 0
    if isinstance(node, Sym):
        return 1 if node.name in variables else 0
    if isinstance(node, Neg):
        return affine_degree(node.operand, variables)
    if isinstance(node, BinOp):
        left, right = affine_degree(node.left, variables), affine_degree(node.right, variables)
        if left is None or right is None:
            return None
        if node.op in ("+", "-"):
            return max(left, right)
        if node.op == "*":
            return left + right if left + right <= 1 else None
        if node.op == "/":
            return left if right == 0 else None
        return 0 if left == right == 0 else None
    if isinstance(node, Call):
        return 0 if all(affine_degree(a, variables) == 0 for a in node.args) else None
    return 0 if not (symbols(node) & set(variables)) else None


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

    def show(node, dim):
        """The unit of ``node`` as the user wrote it where possible (mV, pA/pF), else SI."""
        text = unit_text_of(node, units_text)
        if text is not None:
            return text
        return describe_dimension(dim)

    def rec(node):
        if isinstance(node, Num):
            return DIMENSIONLESS
        if isinstance(node, Sym):
            if node.name not in dims:
                raise ExpressionError(f"undefined name {node.name!r} in {_quoted(to_text(expr))}")
            return dims[node.name]
        if isinstance(node, UnitLit):
            if node.name not in UNIT_SYMBOLS:
                raise ExpressionError(f"unknown unit {node.name!r} in {_quoted(to_text(expr))}")
            return UNIT_SYMBOLS[node.name][0]
        if isinstance(node, Neg):
            d = rec(node.operand)
            _require_number(d, node, "negate")
            return d
        if isinstance(node, BinOp):
            left, right = rec(node.left), rec(node.right)
            for side in (left, right):
                _require_number(side, node, f"use {node.op} on")
            if node.op in ("+", "-"):
                if left != right:
                    verb = "add" if node.op == "+" else "subtract"
                    raise ExpressionError(f"cannot {verb} {show(node.left, left)} and {show(node.right, right)} "
                                          f"in {_quoted(to_text(node))}")
                return left
            if node.op == "*":
                return left * right
            if node.op == "/":
                return left / right
            # power
            if right != DIMENSIONLESS:
                raise ExpressionError(f"an exponent must be dimensionless, but {_quoted(to_text(node.right))} is "
                                      f"{show(node.right, right)}, in {_quoted(to_text(node))}")
            if left == DIMENSIONLESS:
                return DIMENSIONLESS
            exponent = _constant_value(node.right)
            if exponent is None:
                raise ExpressionError(f"a quantity with a unit ({_quoted(to_text(node.left))} is {show(node.left, left)}) "
                                      f"can only be raised to a constant power, in {_quoted(to_text(node))}")
            if not math.isfinite(exponent) or abs(exponent) > 1000:
                raise ExpressionError(f"the exponent in {_quoted(to_text(node))} is too large")
            return left ** Fraction(exponent).limit_denominator(1000)
        if isinstance(node, Call):
            if node.func not in FUNCTIONS or len(node.args) != FUNCTIONS[node.func]:
                raise ExpressionError(f"unknown function {node.func!r} in {_quoted(to_text(expr))}")
            args = [rec(a) for a in node.args]
            for a in args:
                _require_number(a, node, f"call {node.func}() on")
            if node.func in _DIMENSIONLESS_ARGUMENT and args[0] != DIMENSIONLESS:
                raise ExpressionError(f"the argument of {node.func}() must be dimensionless, but "
                                      f"{_quoted(to_text(node.args[0]))} is {show(node.args[0], args[0])}; "
                                      f"divide it by a quantity of the same unit")
            if node.func == "sqrt":
                return args[0] ** Fraction(1, 2)
            if node.func in ("min", "max") and args[0] != args[1]:
                raise ExpressionError(f"{node.func}() needs two arguments with the same unit, but "
                                      f"{_quoted(to_text(node.args[0]))} is {show(node.args[0], args[0])} and "
                                      f"{_quoted(to_text(node.args[1]))} is {show(node.args[1], args[1])}")
            return args[0]
        if isinstance(node, Compare):
            left, right = rec(node.left), rec(node.right)
            if left == BOOLEAN or right == BOOLEAN:
                raise ExpressionError(f"cannot compare a condition in {_quoted(to_text(node))}")
            if left != right:
                raise ExpressionError(f"cannot compare {show(node.left, left)} with {show(node.right, right)} "
                                      f"in {_quoted(to_text(node))}")
            return BOOLEAN
        if isinstance(node, BoolOp):
            for item in node.operands:
                if rec(item) != BOOLEAN:
                    raise ExpressionError(f"'{node.op}' needs conditions on both sides, but {_quoted(to_text(item))} "
                                          f"is not a comparison, in {_quoted(to_text(node))}")
            return BOOLEAN
        if isinstance(node, Not):
            if rec(node.operand) != BOOLEAN:
                raise ExpressionError(f"'not' needs a condition, in {_quoted(to_text(node))}")
            return BOOLEAN
        raise ExpressionError(f"not an expression node: {type(node).__name__}")

    return rec(expr)


def unit_text_of(node, units_text):
    """The unit of ``node`` spelled with the units the user wrote (``mV/ms``, ``pA/pF``), or None.

    Only for nodes built from symbols with known unit text, unit literals, numbers and
    ``* / **`` (and ``+ - min max abs`` of one unit); a readable hint, not a simplification.
    """
    def rec(n):
        if isinstance(n, Num):
            return "1"
        if isinstance(n, Sym):
            return units_text.get(n.name)
        if isinstance(n, UnitLit):
            return n.name
        if isinstance(n, Neg):
            return rec(n.operand)
        if isinstance(n, Call) and n.func in ("abs", "min", "max"):
            return rec(n.args[0])
        if isinstance(n, BinOp):
            left = rec(n.left)
            if n.op in ("+", "-"):
                return left
            if n.op == "**":
                exponent = _constant_value(n.right)
                if left is None or exponent is None:
                    return None
                if left == "1":
                    return "1"
                shown = f"{exponent:g}" if exponent >= 0 else f"({exponent:g})"
                return f"({left})**{shown}" if not _simple(left) else f"{left}**{shown}"
            right = rec(n.right)
            if left is None or right is None:
                return None
            if n.op == "*":
                if left == "1":
                    return right
                if right == "1":
                    return left
                return f"{left}*{_paren(right)}" if "/" in right else f"{left}*{right}"
            if right == "1":
                return left
            return f"{left}/{right if _simple(right) else _paren(right)}"
        return None

    try:
        text = rec(node)
    except RecursionError:
        return None
    if text is None or len(text) > 40:
        return None
    return "dimensionless" if text == "1" else text


def _simple(text):
    return all(c.isalnum() or c == "_" for c in text)


def _paren(text):
    return text if _simple(text) else f"({text})"


def _require_number(dim, node, action):
    if dim == BOOLEAN:
        raise ExpressionError(f"cannot {action} a condition, in {_quoted(to_text(node))}")


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
        if type(node) not in _NODE_TYPES:
            raise ExpressionError(f"not an expression node: {type(node).__name__}")
        method = getattr(self, "_print_" + type(node).__name__)
        return method(node)

    def _wrap(self, node, parent_precedence, right_side=False):
        text, precedence = self._print(node)
        if precedence < parent_precedence or (right_side and precedence == parent_precedence):
            return f"({text})"
        return text

    def _print_Num(self, node):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ExpressionError(f"cannot print the number {value!r}: numbers must be finite")
        value = float(value)  # a numpy float would print as np.float64(...)
        if value == int(value) and abs(value) < 1e15:
            text = f"{value:.1f}"
        else:
            text = repr(value)
        # copysign: -0.0 prints as "-0.0" and needs its parentheses too ((-0.0)**x is not -(0.0**x))
        return (text, _PRECEDENCE["atom"]) if math.copysign(1.0, value) > 0 else (f"({text})", _PRECEDENCE["atom"])

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
        if node.op not in _BINOP_NAMES:
            raise ExpressionError(f"not an arithmetic operator: {node.op!r}")
        precedence = _PRECEDENCE[node.op]
        if node.op == "**":
            left = self._wrap(node.left, precedence + 1)
            right = self._wrap(node.right, precedence)
            return self.power(left, right), precedence
        left = self._wrap(node.left, precedence)
        # a right operand of equal precedence keeps its parentheses: a - (b - c), a*(b/c), a + (b + c)
        right = self._wrap(node.right, precedence, right_side=True)
        return f"{left} {node.op} {right}", precedence

    def power(self, base, exponent):
        return f"{base}{self.power_operator}{exponent}"

    def _print_Call(self, node):
        if node.func not in self.known_functions:
            raise ExpressionError(f"{type(self).__name__} cannot print the function {node.func}()")
        args = ", ".join(self._print(a)[0] for a in node.args)
        return f"{self.known_functions[node.func]}({args})", _PRECEDENCE["atom"]

    def _print_Compare(self, node):
        if node.op not in _CMPOP_NAMES:
            raise ExpressionError(f"not a comparison operator: {node.op!r}")
        precedence = _PRECEDENCE["cmp"]
        return (f"{self._wrap(node.left, precedence + 1)} {node.op} {self._wrap(node.right, precedence + 1)}",
                precedence)

    def _print_BoolOp(self, node):
        if node.op not in ("and", "or"):
            raise ExpressionError(f"not a boolean operator: {node.op!r}")
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
        # np.logical_not, not ~: ~ of a Python bool is -1 or -2, both true
        return f"np.logical_not({self._print(node.operand)[0]})", _PRECEDENCE["atom"]

    def _print_Sym(self, node):
        if not isinstance(node.name, str) or not node.name.isidentifier():
            raise ExpressionError(f"not a valid symbol name: {node.name!r}")
        return super()._print_Sym(node)

    def _print_UnitLit(self, node):
        if node.name not in UNIT_SYMBOLS:
            raise ExpressionError(f"unknown unit {node.name!r}")
        return super()._print_UnitLit(node)


def compile_expression(expr):
    """A function ``f(ns)`` evaluating ``expr`` on SI values (floats or numpy arrays).

    The code is printed from the validated tree, so it holds only names, numbers,
    operators and numpy functions. Compiled code is cached by its text.
    """
    return _compile_code(PythonPrinter().doprint(expr))


@functools.lru_cache(maxsize=4096)
def _compile_code(code):
    import numpy as np

    function = eval(compile(f"lambda ns: {code}", "<lifbridge expression>", "eval"), {"np": np, "__builtins__": {}})
    function.source = code
    return function


def evaluate(expr, values):
    """Evaluate ``expr`` with ``values`` (name -> SI value); returns a float or array.

    Scalars are evaluated as numpy floats, so a division by zero or an overflow gives
    inf or nan (without a warning) rather than an exception. Only the values of the
    names ``expr`` uses are read, so evaluating many expressions against one large
    table costs what the expressions cost. A result that is not real (a complex
    number) raises :class:`ExpressionError`.
    """
    import numpy as np

    function = compile_expression(expr)
    ns = {}
    for name in symbols(expr):
        if name not in values:
            raise ExpressionError(f"no value for {name!r} in {_quoted(to_text(expr))}")
        v = values[name]
        ns[name] = np.float64(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
    try:
        with np.errstate(all="ignore"):
            result = function(ns)
    except ArithmeticError as error:
        raise ExpressionError(f"cannot evaluate {_quoted(to_text(expr))}: {error}") from None
    except TypeError:
        raise ExpressionError(f"cannot evaluate {_quoted(to_text(expr))}: the result is not a real number") from None
    if isinstance(result, complex) or np.iscomplexobj(result):
        raise ExpressionError(f"cannot evaluate {_quoted(to_text(expr))}: the result is not a real number")
    return result


def is_constant(expr):
    return all(not isinstance(n, Sym) for n in walk(expr))


__all__ = [
    "Num", "Sym", "UnitLit", "BinOp", "Neg", "Call", "Compare", "BoolOp", "Not", "FUNCTIONS",
    "parse_expression", "symbols", "walk", "substitute", "dimension_of", "BOOLEAN",
    "ExpressionPrinter", "to_text", "compile_expression", "evaluate", "is_constant",
]
