"""Physical units for model specs, with no simulator dependency.

A :class:`Dimension` is a vector of rational exponents over the SI base
dimensions (length, mass, time, current, temperature, amount, luminosity).
A :class:`Unit` is a dimension, a scale factor to SI, and the name the user wrote.

Unit strings are parsed with :mod:`ast` against a table of known unit symbols
(``mV``, ``pA``, ``nS``, ``mS/cm**2``, ``1/ms``, ``mW/mm**2`` ...): nothing is
evaluated.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from fractions import Fraction

from .errors import UnitError

BASE_NAMES = ("m", "kg", "s", "A", "K", "mol", "cd")


@dataclass(frozen=True)
class Dimension:
    """Exponents of the SI base dimensions (m, kg, s, A, K, mol, cd)."""

    exponents: tuple = (0, 0, 0, 0, 0, 0, 0)

    def __mul__(self, other):
        return Dimension(tuple(a + b for a, b in zip(self.exponents, other.exponents)))

    def __truediv__(self, other):
        return Dimension(tuple(a - b for a, b in zip(self.exponents, other.exponents)))

    def __pow__(self, power):
        power = Fraction(power)
        return Dimension(tuple(Fraction(a) * power for a in self.exponents))

    @property
    def is_dimensionless(self):
        return all(e == 0 for e in self.exponents)

    def __str__(self):
        return describe_dimension(self)


DIMENSIONLESS = Dimension()


def _dim(m=0, kg=0, s=0, A=0):
    return Dimension((m, kg, s, A, 0, 0, 0))


# Dimensions of the named SI units that model files use.
VOLT = _dim(m=2, kg=1, s=-3, A=-1)
AMP = _dim(A=1)
SECOND = _dim(s=1)
FARAD = _dim(m=-2, kg=-1, s=4, A=2)
SIEMENS = _dim(m=-2, kg=-1, s=3, A=2)
OHM = _dim(m=2, kg=1, s=-3, A=-2)
HERTZ = _dim(s=-1)
METRE = _dim(m=1)
WATT = _dim(m=2, kg=1, s=-3)
GRAM = _dim(kg=1)
COULOMB = _dim(s=1, A=1)

# symbol -> (dimension, SI scale of the unprefixed unit)
_BASE_UNITS = {
    "V": (VOLT, 1.0),
    "A": (AMP, 1.0),
    "s": (SECOND, 1.0),
    "F": (FARAD, 1.0),
    "S": (SIEMENS, 1.0),
    "Ohm": (OHM, 1.0),
    "ohm": (OHM, 1.0),
    "Hz": (HERTZ, 1.0),
    "m": (METRE, 1.0),
    "W": (WATT, 1.0),
    "g": (GRAM, 1e-3),
    "C": (COULOMB, 1.0),
}
_LONG_NAMES = {
    "volt": "V", "amp": "A", "ampere": "A", "second": "s", "farad": "F",
    "siemens": "S", "hertz": "Hz", "metre": "m", "meter": "m", "watt": "W",
    "gram": "g", "coulomb": "C",
}
_PREFIXES = {"p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "c": 1e-2, "k": 1e3, "M": 1e6, "G": 1e9}

UNIT_SYMBOLS: dict[str, tuple[Dimension, float]] = {}
for _sym, (_d, _scale) in _BASE_UNITS.items():
    UNIT_SYMBOLS[_sym] = (_d, _scale)
    for _p, _f in _PREFIXES.items():
        UNIT_SYMBOLS.setdefault(_p + _sym, (_d, _scale * _f))
for _long, _sym in _LONG_NAMES.items():
    UNIT_SYMBOLS[_long] = _BASE_UNITS[_sym]
# "cm", "mm" and "um" above are lengths; "Ms" (megasecond) etc. are valid too.


@dataclass(frozen=True)
class Unit:
    """A physical unit: dimension, factor to SI, and the text it was written as."""

    dim: Dimension
    scale: float
    name: str

    @classmethod
    def parse(cls, text: str) -> "Unit":
        return parse_unit(text)

    @property
    def is_dimensionless(self):
        return self.dim.is_dimensionless

    def factor_to(self, other: "Unit") -> float:
        """Factor f with value_in_self * f = value_in_other (same dimension required)."""
        if self.dim != other.dim:
            raise UnitError(f"cannot convert {self.name} to {other.name}: "
                            f"{describe_dimension(self.dim)} is not {describe_dimension(other.dim)}")
        return scale_ratio(self.scale, other.scale)

    def __str__(self):
        return self.name


ONE = Unit(DIMENSIONLESS, 1.0, "1")


MAX_UNIT_EXPONENT = 12
#: Longest unit string (characters).
MAX_UNIT_CHARS = 200
# The characters a unit string may hold: names, numbers, * / ** ^ ( ) and spaces. Anything
# else (a '#', a quote, a line break) could change what the unit means where it is printed
# into generated code.
_UNIT_CHARS = re.compile(r"[A-Za-z0-9_.*/^() \t+-]*")


def parse_unit(text) -> Unit:
    """Parse a unit string such as ``"mV"``, ``"1/ms"``, ``"mS/cm**2"`` into a :class:`Unit`."""
    if not isinstance(text, str):
        raise UnitError(f"a unit must be a string such as \"mV\", got {_shown_value(text)}")
    if len(text) > MAX_UNIT_CHARS:
        raise UnitError(f"cannot parse unit {_shown_text(text)}: a unit is a short name such as mV or mS/cm**2 "
                        f"(at most {MAX_UNIT_CHARS} characters)")
    stripped = text.strip()
    if stripped in ("", "1", "dimensionless"):
        return Unit(DIMENSIONLESS, 1.0, "1")
    if not _UNIT_CHARS.fullmatch(stripped):
        bad = next(c for c in stripped if not _UNIT_CHARS.fullmatch(c))
        raise UnitError(f"cannot parse unit {_shown_text(stripped)}: the character {bad!r} is not allowed in a unit; "
                        f"write e.g. mV, pA, 1/ms or mS/cm**2")
    source = stripped.replace("^", "**")
    try:
        tree = ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise UnitError(f"cannot parse unit {_shown_text(stripped)}; write e.g. mV, pA, 1/ms or mS/cm**2") from None
    try:
        dim, scale = _unit_node(tree, stripped)
    except RecursionError:
        raise UnitError(f"cannot parse unit {_shown_text(stripped)}: too deeply nested") from None
    if not (math.isfinite(scale) and scale > 0):
        raise UnitError(f"unit {_shown_text(stripped)} has a scale of {scale:g}; "
                        f"numbers in a unit must keep it positive and finite")
    return Unit(dim, scale, stripped)


def _shown_text(text):
    return repr(text) if len(text) <= 60 else repr(text[:60]) + "…"


def _shown_value(value):
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10 ** 60:
        return f"an integer of {len(str(abs(value))) if abs(value) < 10 ** 4000 else 'thousands of'} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


def _unit_node(node, text):
    if isinstance(node, ast.Name):
        if node.id not in UNIT_SYMBOLS:
            where = "" if node.id == text else f" in {_shown_text(text)}"
            hint = suggest_unit(node.id)
            raise UnitError(f"unknown unit {node.id!r}{where}" + (f"; did you mean {hint!r}?" if hint else
                            "; known units are V, A, s, F, S, Ohm, Hz, m, W, g, C with a prefix "
                            "p, n, u, m, c, k, M or G (e.g. mV, pA, nS, ms)"))
        return UNIT_SYMBOLS[node.id]
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        value = float(node.value) if abs(node.value) < 1e308 else math.inf
        if not (math.isfinite(value) and value > 0):
            raise UnitError(f"cannot parse unit {_shown_text(text)}: a number in a unit must be positive and finite")
        return DIMENSIONLESS, value
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow):
            base_dim, base_scale = _unit_node(node.left, text)
            exponent = _exponent(node.right, text)
            try:
                return base_dim ** exponent, base_scale ** float(exponent)
            except (OverflowError, ZeroDivisionError):
                return base_dim ** exponent, math.inf
        if isinstance(node.op, (ast.Mult, ast.Div)):
            ld, ls = _unit_node(node.left, text)
            rd, rs = _unit_node(node.right, text)
            if isinstance(node.op, ast.Mult):
                return ld * rd, ls * rs
            return ld / rd, ls / rs
    raise UnitError(f"cannot parse unit {_shown_text(text)}: only unit names, numbers, '*', '/' and '**' are allowed")


def _exponent(node, text):
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign, node = (-1 if isinstance(node.op, ast.USub) else 1), node.operand
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        if node.value > MAX_UNIT_EXPONENT:
            raise UnitError(f"cannot parse unit {_shown_text(text)}: exponent {sign * node.value} is too large "
                            f"(at most {MAX_UNIT_EXPONENT})")
        return sign * node.value
    raise UnitError(f"cannot parse unit {_shown_text(text)}: exponents must be whole numbers")


_SPELLED_PREFIXES = {"pico": "p", "nano": "n", "micro": "u", "milli": "m", "centi": "c", "kilo": "k",
                     "mega": "M", "giga": "G", "": ""}
_ALIASES = {"sec": "s", "secs": "s", "seconds": "s", "volts": "V", "amps": "A", "amperes": "A",
            "ohms": "Ohm", "mho": "S", "hz": "Hz", "mhz": "mHz", "khz": "kHz"}


def _base_unit_for(word):
    lowered = word.lower()
    if not lowered:
        return None
    for candidate in (lowered, lowered[:-1] if lowered.endswith("s") else None):
        if candidate in _LONG_NAMES:
            return _LONG_NAMES[candidate]
    if lowered in _ALIASES:
        return _ALIASES[lowered]
    return next((k for k in _BASE_UNITS if k.lower() == lowered), None)


def suggest_unit(name):
    """The known unit that ``name`` most likely means (a case slip, a spelled-out name), or None."""
    if not isinstance(name, str) or not name:
        return None
    # the same letters in another case: prefer the candidate that changes the fewest letters
    candidates = [k for k in UNIT_SYMBOLS if k.lower() == name.lower() and len(k) <= 4]
    if candidates:
        return min(candidates, key=lambda k: (sum(a != b for a, b in zip(k, name)), k))
    lowered = name.lower()
    if lowered in _ALIASES:
        return _ALIASES[lowered]
    # a prefix followed by a spelled-out or capitalised unit name: mVolt, millivolt, msec, kOhms
    for spelled, prefix in _SPELLED_PREFIXES.items():
        starts = []
        if spelled and lowered.startswith(spelled):
            starts.append(len(spelled))
        if prefix and name.startswith(prefix):
            starts.append(len(prefix))
        if not spelled:
            starts.append(0)
        for start in starts:
            base = _base_unit_for(name[start:])
            if base and prefix + base in UNIT_SYMBOLS:
                return prefix + base
    power = re.fullmatch(r"([A-Za-z]{1,8}?)(\d{1,2})", name)  # a power without its operator: mm2
    if power and power.group(1) in UNIT_SYMBOLS:
        return f"{power.group(1)}**{power.group(2)}"
    return None


_PRETTY = [
    (VOLT, "V"), (AMP, "A"), (SECOND, "s"), (FARAD, "F"), (SIEMENS, "S"), (OHM, "Ohm"),
    (HERTZ, "Hz"), (WATT, "W"), (METRE, "m"), (WATT / METRE ** 2, "W/m**2"),
    (SIEMENS / METRE ** 2, "S/m**2"), (AMP / METRE ** 2, "A/m**2"), (FARAD / METRE ** 2, "F/m**2"),
    (VOLT / SECOND, "V/s"), (AMP / SECOND, "A/s"), (SIEMENS / SECOND, "S/s"),
]


def describe_dimension(dim: Dimension) -> str:
    """A readable name for a dimension: 'voltage (V)', or SI exponents."""
    if dim.is_dimensionless:
        return "dimensionless"
    for known, name in _PRETTY:
        if dim == known:
            return name
    parts = []
    for base, e in zip(BASE_NAMES, dim.exponents):
        if e == 0:
            continue
        e = Fraction(e)
        parts.append(base if e == 1 else f"{base}**{e}" if e.denominator == 1 else f"{base}**({e})")
    return "*".join(parts)


# A number, then anything (the unit). No part can backtrack over another: the number's
# alternatives start differently and the rest is taken whole (linear time on any text).
_QUANTITY = re.compile(r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)(.*)", re.DOTALL)
#: Longest text :func:`parse_quantity` reads.
MAX_QUANTITY_CHARS = 200


def parse_quantity(text: str, default_unit: Unit | None = None) -> tuple[float, Unit]:
    """Parse ``"250pF"``, ``"-63 mV"`` or a bare number into (value, unit).

    A bare number takes ``default_unit`` (or is dimensionless).
    """
    text = str(text)
    if len(text) > MAX_QUANTITY_CHARS:
        raise UnitError(f"cannot read {_shown_text(text)} as a number with a unit: too long "
                        f"(at most {MAX_QUANTITY_CHARS} characters; example: 250pF)")
    match = _QUANTITY.fullmatch(text.strip())
    if not match:
        raise UnitError(f"cannot read {_shown_text(text)} as a number with a unit (example: 250pF, -63mV, 0.5nA)")
    number, unit_text = match.groups()
    unit_text = unit_text.strip()
    if unit_text.startswith("*"):
        unit_text = unit_text[1:].strip()
    value = float(number)
    if not math.isfinite(value):
        raise UnitError(f"the number in {_shown_text(str(text))} is too large")
    if not unit_text:
        return value, (default_unit or ONE)
    return value, parse_unit(unit_text)


def convert(value: float, unit: Unit, target: Unit, what: str = "value") -> float:
    """Convert ``value`` in ``unit`` to ``target``; UnitError names ``what`` on a dimension mismatch."""
    if unit.dim != target.dim:
        raise UnitError(f"{what}: {unit.name} is {describe_dimension(unit.dim)}, "
                        f"but {target.name} ({describe_dimension(target.dim)}) is expected")
    return value * scale_ratio(unit.scale, target.scale)


def scale_ratio(a: float, b: float) -> float:
    """a / b, rounded to 15 significant digits so that 1e-9/1e-12 is exactly 1000."""
    return float(f"{a / b:.15g}")
