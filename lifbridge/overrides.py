"""Parameter and initial-value overrides: the one place where they are read and checked.

Every backend and front end (``lifbridge.brian2.neuron_group``, the runners, the
reference integrator, the command line) turns the values a user gives into numbers
with :func:`resolve`::

    from lifbridge.overrides import resolve

    r = resolve(model, {"C_m": "250pF", "V_th": [-55, -50], "tau_syn_ex": 5*ms}, n=2)
    r.parameters      # {"C_m": 250.0, "V_th": array([-55., -50.]), "tau_syn_exc": 5.0}   (spec units)
    r.state           # overridden initial values, e.g. {"V_m": -63.0}                       (spec units)
    r.model           # the model with the scalar overrides as its defaults
    r.per_neuron      # ("V_th",): the names given one value per neuron
    r.parameter_values()   # every parameter (defaults filled in), spec units
    r.initial_values()     # every state variable's initial value, spec units

Accepted values, for a parameter or a state variable's initial value:

* a string with a unit, ``"250pF"``, ``"-63 mV"`` (a bare number in a string takes
  the spec's unit);
* a number, in the spec's unit (``lifbridge show MODEL`` lists them; times in ms);
* a Brian2 quantity, ``250*pF`` (its dimension is checked);
* one value per neuron: a list, tuple or 1-D array of any of the above, or a Brian2
  array quantity, of length ``n``.

Every value is checked: its dimension against the spec's (one line naming the name,
the unit given and the unit expected), finiteness, the parameter's bounds (every
element of an array) and the model's constraints (per neuron). Quantities of other
unit libraries (pint, quantities, astropy) are refused with the accepted forms.

Names are the spec's; NEST's spellings are accepted as aliases where they name the
same variable (``tau_syn_ex`` -> ``tau_syn_exc``, ``E_in`` -> ``E_inh``, ``g_ex`` ->
``g_exc``, hh's ``Act_m``/``Inact_h``/``Act_n`` -> ``m``/``h``/``n``; see
:func:`aliases`). An unknown name gets a "did you mean".

Errors are :class:`lifbridge.ParameterError` with a one-line message; ``where`` (e.g.
``"--param "``) is put in front of it.
"""

from __future__ import annotations

import difflib
import math
import numbers
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np

from . import expr as ex
from .errors import ParameterError, UnitError
from .model import Model
from .units import (AMP, DIMENSIONLESS, FARAD, HERTZ, METRE, OHM, SECOND, SIEMENS, VOLT, WATT, Dimension, Unit,
                    describe_dimension, parse_quantity, scale_ratio)

__all__ = ["Resolved", "resolve", "convert", "aliases", "canonical_name", "NEST_SUFFIXES", "NEST_NAMES"]

#: NEST's spelling of a name ending -> lifbridge's (``tau_syn_ex`` -> ``tau_syn_exc``).
NEST_SUFFIXES = (("_ex", "_exc"), ("_in", "_inh"))
#: NEST names that are not a suffix change (``hh_psc_alpha``'s gating variables).
NEST_NAMES = {"Act_m": "m", "Inact_h": "h", "Act_n": "n"}

_NOUNS = [
    (VOLT, "a voltage"), (AMP, "a current"), (SECOND, "a time"), (FARAD, "a capacitance"),
    (SIEMENS, "a conductance"), (OHM, "a resistance"), (HERTZ, "a rate"), (METRE, "a length"),
    (WATT, "a power"), (WATT / METRE ** 2, "an irradiance"), (VOLT / SECOND, "a voltage rate"),
    (AMP / SECOND, "a current rate"), (HERTZ / (WATT / METRE ** 2), "a rate per irradiance"),
]
_FOREIGN = {"pint": "a pint quantity", "quantities": "a 'quantities' quantity", "astropy": "an astropy quantity",
            "unyt": "a unyt quantity"}


def _noun(dim: Dimension) -> str:
    if dim.is_dimensionless:
        return "dimensionless"
    for known, noun in _NOUNS:
        if dim == known:
            return noun
    return f"of dimension {describe_dimension(dim)}"


def _shown(value) -> str:
    text = str(value) if isinstance(value, str) or _is_brian2(value) else repr(value)
    text = " ".join(text.split())
    return text if len(text) <= 40 else text[:37] + "..."


def _example(name, unit: Unit, default) -> str:
    name = name.split()[-1].split("[")[0].strip("()") if name.split() else name
    number = f"{default:g}" if default is not None and math.isfinite(default) else "1"
    if unit.is_dimensionless and unit.scale == 1.0:
        return f"{name}={number}"
    return f'{name}="{number}{unit.name}"'


def _mismatch(name, given_text, given_dim, unit: Unit, default) -> ParameterError:
    base = name.split("(= ")[-1].rstrip(")") if "(= " in name else name.split("[")[0]
    if unit.is_dimensionless:
        need = f"{base} is dimensionless"
    else:
        need = f"{base} needs {_noun(unit.dim)} ({unit.name})"
    return ParameterError(f"{name}: {given_text} is {_noun(given_dim)}, {need}, e.g. {_example(name, unit, default)}")


def _module_root(value) -> str:
    return (type(value).__module__ or "").split(".")[0]


def _is_brian2(value) -> bool:
    return _module_root(value) == "brian2"


def convert(value, unit: Unit, name="value", default=None):
    """One value in ``unit``: a float, or a float array for a list/array/array quantity.

    ``name`` is used in messages; ``default`` (in ``unit``) makes the example in a
    message. Raises ParameterError (one line) for a wrong dimension, a value that is
    not a finite number, or a foreign quantity type.
    """
    if isinstance(value, str):
        return _convert_text(value, unit, name, default)
    if _is_brian2(value):
        return _convert_brian2(value, unit, name, default)
    root = _module_root(value)
    if root in _FOREIGN:
        raise ParameterError(f"{name}: {_FOREIGN[root]} is not read; give a string with a unit "
                             f"({_example(name, unit, default)}), a number in {unit.name} or a Brian2 quantity")
    if isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"{name}: {value!r} is not a number")
    if isinstance(value, numbers.Real):
        return _finite(float(value), name)
    if isinstance(value, (list, tuple)) and any(isinstance(v, str) or _is_brian2(v) for v in value):
        out = np.empty(len(value))
        for i, item in enumerate(value):
            if np.ndim(item) != 0:
                raise ParameterError(f"{name}[{i}]: expected a single value, got {_shown(item)}")
            out[i] = convert(item, unit, f"{name}[{i}]", default)
        return out
    if isinstance(value, (list, tuple, np.ndarray)):
        try:
            array = np.asarray(value) if not isinstance(value, np.ndarray) else value
        except ValueError:
            array = np.asarray(value, dtype=object)
        if array.ndim != 1:
            raise ParameterError(f"{name}: expected one value or one value per neuron (a 1-D list), "
                                 f"got shape {np.shape(array)}")
        if array.dtype.kind in "fiu":
            values = array.astype(float)
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                raise ParameterError(f"{name}[{bad[0]}]: {float(values[bad[0]])!r} is not a finite number")
            return values
        if array.dtype.kind == "b":
            raise ParameterError(f"{name}: booleans are not numbers")
        out = np.empty(len(array))
        for i, item in enumerate(array):
            if isinstance(item, (list, tuple, np.ndarray)) or (_is_brian2(item) and np.ndim(item) != 0):
                raise ParameterError(f"{name}[{i}]: expected a single value, got {_shown(item)}")
            out[i] = convert(item, unit, f"{name}[{i}]", default)
        return out
    raise ParameterError(f"{name}: {_shown(value)} is not a number; give a number in {unit.name}, "
                         f"a string with a unit ({_example(name, unit, default)}) or a Brian2 quantity")


def _finite(number, name):
    if not math.isfinite(number):
        raise ParameterError(f"{name}: {number!r} is not a finite number")
    return number


def _convert_text(text, unit, name, default):
    try:
        number, given = parse_quantity(text, default_unit=unit)
    except UnitError as error:
        raise ParameterError(f"{name}: {error}") from None
    if given.dim != unit.dim:
        raise _mismatch(name, _shown(text.strip()), given.dim, unit, default)
    return _finite(number * scale_ratio(given.scale, unit.scale), name)


def _round(values):
    """Values from SI, rounded to 15 significant digits (2.5e-10 F / 1e-12 is 250 pF, not 250.00000000000003)."""
    with np.errstate(all="ignore"):
        magnitude = np.where(np.isfinite(values) & (values != 0), np.abs(values), 1.0)
        digits = 14 - np.floor(np.log10(magnitude))
        scale = 10.0 ** digits
        rounded = np.round(values * scale) / scale
    return np.where(np.isfinite(rounded), rounded, values)


def _convert_brian2(value, unit, name, default):
    from brian2.units.fundamentalunits import get_dimensions

    try:
        dims = Dimension(tuple(float(e) for e in get_dimensions(value)._dims))
    except (TypeError, AttributeError):
        raise ParameterError(f"{name}: {_shown(value)} is not a number or a quantity") from None
    exponents = tuple(int(e) if float(e).is_integer() else e for e in dims.exponents)
    dims = Dimension(exponents)
    if dims != unit.dim:
        raise _mismatch(name, _shown(value), dims, unit, default)
    array = _round(np.asarray(value, dtype=float) / unit.scale)
    if array.ndim == 0:
        return _finite(float(array), name)
    if array.ndim != 1:
        raise ParameterError(f"{name}: expected one value or one value per neuron, got shape {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise ParameterError(f"{name}[{bad[0]}]: {value[bad[0]]} is not a finite number")
    return array


# ---------------------------------------------------------------------------- names
def aliases(model: Model) -> dict:
    """NEST spelling -> the model's name, for the names of ``model`` that NEST spells differently.

    Built from :data:`NEST_SUFFIXES` and :data:`NEST_NAMES`. An alias is only made when
    it is not itself a name of the model and points at exactly one of its variables.
    """
    names = set(model.parameters) | set(model.state)
    table, clashes = {}, set()
    candidates = [(nest, ours) for nest, ours in NEST_NAMES.items()]
    for ours in names:
        for nest_end, our_end in NEST_SUFFIXES:
            if ours.endswith(our_end):
                candidates.append((ours[: -len(our_end)] + nest_end, ours))
    for nest, ours in candidates:
        if ours not in names or nest in names or nest in model.inputs or nest in _sign_flipped(model):
            continue
        if nest in table and table[nest] != ours:
            clashes.add(nest)
        table[nest] = ours
    for nest in clashes:
        del table[nest]
    return table


def _sign_flipped(model: Model) -> dict:
    """NEST spelling -> our name, for inhibitory synaptic currents: NEST's models may keep them
    negative where lifbridge's hold the magnitude, so those spellings are refused, never mapped."""
    flipped = {}
    for ours, var in model.state.items():
        if ours.endswith("_inh") and var.unit.dim in (AMP, AMP / SECOND):
            flipped[ours[: -len("_inh")] + "_in"] = ours
    return flipped


def canonical_name(model: Model, name: str, where: str = "") -> str:
    """The model's name for ``name`` (itself, or the name a NEST alias stands for).

    Raises ParameterError with a "did you mean" for an unknown name.
    """
    if name in model.parameters or name in model.state:
        return name
    table = aliases(model)
    if name in table:
        return table[name]
    flipped = _sign_flipped(model)
    if name in flipped:
        raise ParameterError(f"{where}{name} is NEST's spelling of an inhibitory current that NEST may keep negative; "
                             f"here {flipped[name]} holds its magnitude (>= 0): give {flipped[name]} instead")
    known = list(model.parameters) + list(model.state)
    shown = name if isinstance(name, str) else repr(name)
    if isinstance(name, str) and name in model.inputs:
        raise ParameterError(f"{where}{name} is an input of model {model.name!r}, not a parameter or state "
                             f"variable; set it on the group or stimulus instead")
    close = difflib.get_close_matches(str(name), known + list(table), n=3, cutoff=0.6) if isinstance(name, str) else []
    close = list(dict.fromkeys(table.get(c, c) for c in close))
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise ParameterError(f"{where}model {model.name!r} has no parameter or state variable {shown[:60]!r}{hint} "
                         f"(parameters: {', '.join(model.parameters)}; state: {', '.join(model.state)})")


# ---------------------------------------------------------------------------- resolve
@dataclass(frozen=True)
class Resolved:
    """Overrides read and checked against a model (see :func:`resolve`).

    ``parameters`` and ``state`` hold only the names that were given, under the
    model's names, in the spec's units: a float, or a float array of length ``n``.
    ``model`` is the model with the scalar parameter overrides as its defaults.
    """

    model: Model
    parameters: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    state: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    n: int | None = None

    @property
    def per_neuron(self) -> tuple:
        """Names (parameters and state) given one value per neuron."""
        return tuple(k for table in (self.parameters, self.state) for k, v in table.items() if np.ndim(v))

    def parameter_values(self) -> dict:
        """Every parameter: name -> float or array (length ``n``), in its spec unit."""
        return {k: self.parameters.get(k, p.value) for k, p in self.model.parameters.items()}

    def parameter_values_si(self) -> dict:
        """Every parameter in SI units (floats or arrays)."""
        return {k: v * self.model.parameters[k].unit.scale for k, v in self.parameter_values().items()}

    def initial_values(self) -> dict:
        """Every state variable's initial value in its spec unit: the override, else the
        spec's initial value (expressions evaluated with these parameters)."""
        si = self.parameter_values_si()
        values = {}
        for k, var in self.model.state.items():
            if k in self.state:
                values[k] = self.state[k]
            elif isinstance(var.initial, float):
                values[k] = var.initial
            else:
                value = ex.evaluate(var.initial, si) / var.unit.scale
                values[k] = float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=float)
        return values


def resolve(model: Model, overrides=None, n: int | None = None, where: str = "") -> Resolved:
    """Read ``overrides`` (name -> value) for ``model``; ``n`` is the number of neurons.

    With ``n`` given, a list/array of length ``n`` sets one value per neuron; without
    it, only single values are accepted. Checks names (NEST aliases, "did you mean"),
    dimensions, finiteness, bounds and constraints; raises ParameterError (one line,
    prefixed with ``where``).
    """
    params, state, given_as = {}, {}, {}
    for key, value in dict(overrides or {}).items():
        name = canonical_name(model, key, where)
        if name in given_as:
            raise ParameterError(f"{where}{name} is given twice (as {given_as[name]} and {key})")
        given_as[name] = key
        label = name if key == name else f"{key} (= {name})"
        if name in model.parameters:
            p = model.parameters[name]
            table, unit, default = params, p.unit, p.value
        else:
            var = model.state[name]
            table, unit = state, var.unit
            default = var.initial if isinstance(var.initial, float) else None
        try:
            number = convert(value, unit, label, default)
        except ParameterError as error:
            raise ParameterError(f"{where}{error}") from None
        if np.ndim(number):
            if n is None:
                raise ParameterError(f"{where}{label}: {len(number)} values given where one value is expected")
            if len(number) != n:
                raise ParameterError(f"{where}{label}: {len(number)} values given for {n} neurons")
        table[name] = number
    for name, value in params.items():
        p = model.parameters[name]
        for i, v in enumerate(np.atleast_1d(value)):
            try:
                p.check(float(v))
            except ParameterError as error:
                at = f"neuron {i}: " if np.ndim(value) else ""
                raise ParameterError(f"{where}{at}{error}") from None
    new = dict(model.parameters)
    for name, value in params.items():
        if not np.ndim(value):
            new[name] = replace(model.parameters[name], value=float(value))
    varied = replace(model, parameters=MappingProxyType(new))
    resolved = Resolved(varied, MappingProxyType(params), MappingProxyType(state), n)
    _check_constraints(resolved, where)
    return resolved


def _check_constraints(resolved: Resolved, where):
    model = resolved.model
    values = resolved.parameter_values_si()
    for constraint in model.constraints:
        with np.errstate(all="ignore"):
            ok = np.asarray(ex.evaluate(constraint.check, values), dtype=bool)
        if ok.all():
            continue
        i = int(np.flatnonzero(~np.atleast_1d(ok))[0]) if ok.ndim else None
        shown = []
        for name in sorted(ex.symbols(constraint.check)):
            if name not in model.parameters:
                continue
            value = resolved.parameter_values()[name]
            number = float(np.atleast_1d(value)[i]) if (i is not None and np.ndim(value)) else float(value)
            shown.append(f"{name} = {number:g} {model.parameters[name].unit}")
        at = f"neuron {i}: " if i is not None else ""
        raise ParameterError(f"{where}{at}constraint '{constraint.text}' does not hold ({', '.join(shown)})"
                             + (f": {constraint.reason}" if constraint.reason else ""))
