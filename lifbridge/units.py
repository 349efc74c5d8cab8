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


def parse_unit(text) -> Unit:
    """Parse a unit string such as ``"mV"``, ``"1/ms"``, ``"mS/cm**2"`` into a :class:`Unit`."""
    if not isinstance(text, str):
        raise UnitError(f"a unit must be a string such as \"mV\", got {text!r}")
    stripped = text.strip()
    if stripped in ("", "1", "dimensionless"):
        return Unit(DIMENSIONLESS, 1.0, "1")
    source = stripped.replace("^", "**")
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError:
        raise UnitError(f"cannot parse unit {text!r}") from None
    dim, scale = _unit_node(tree, text)
    return Unit(dim, scale, stripped)


def _unit_node(node, text):
    if isinstance(node, ast.Name):
        if node.id not in UNIT_SYMBOLS:
            hint = _suggest(node.id)
            raise UnitError(f"unknown unit {node.id!r} in {text!r}" + (f" (did you mean {hint!r}?)" if hint else ""))
        return UNIT_SYMBOLS[node.id]
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return DIMENSIONLESS, float(node.value)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow):
            base_dim, base_scale = _unit_node(node.left, text)
            exponent = _exponent(node.right, text)
            return base_dim ** exponent, base_scale ** float(exponent)
        ld, ls = _unit_node(node.left, text)
        rd, rs = _unit_node(node.right, text)
        if isinstance(node.op, ast.Mult):
            return ld * rd, ls * rs
        if isinstance(node.op, ast.Div):
            return ld / rd, ls / rs
    raise UnitError(f"cannot parse unit {text!r}: only unit names, numbers, '*', '/' and '**' are allowed")


def _exponent(node, text):
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        sign, node = -1, node.operand
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return sign * node.value
    raise UnitError(f"cannot parse unit {text!r}: exponents must be whole numbers")


def _suggest(name):
    lowered = {k.lower(): k for k in UNIT_SYMBOLS}
    if name.lower() in lowered:
        return lowered[name.lower()]
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
        parts.append(base if e == 1 else f"{base}**{e}")
    return "*".join(parts)


_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


def parse_quantity(text: str, default_unit: Unit | None = None) -> tuple[float, Unit]:
    """Parse ``"250pF"``, ``"-63 mV"`` or a bare number into (value, unit).

    A bare number takes ``default_unit`` (or is dimensionless).
    """
    match = _QUANTITY.match(str(text))
    if not match:
        raise UnitError(f"cannot read {text!r} as a number with a unit (example: 250pF, -63mV, 0.5nA)")
    number, unit_text = match.groups()
    if unit_text.startswith("*"):
        unit_text = unit_text[1:].strip()
    if not unit_text:
        return float(number), (default_unit or ONE)
    return float(number), parse_unit(unit_text)


def convert(value: float, unit: Unit, target: Unit, what: str = "value") -> float:
    """Convert ``value`` in ``unit`` to ``target``; UnitError names ``what`` on a dimension mismatch."""
    if unit.dim != target.dim:
        raise UnitError(f"{what}: {unit.name} is {describe_dimension(unit.dim)}, "
                        f"but {target.name} ({describe_dimension(target.dim)}) is expected")
    return value * scale_ratio(unit.scale, target.scale)


def scale_ratio(a: float, b: float) -> float:
    """a / b, rounded to 15 significant digits so that 1e-9/1e-12 is exactly 1000."""
    return float(f"{a / b:.15g}")
