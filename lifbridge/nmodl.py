"""NMODL printer: a model becomes one NEURON ``POINT_PROCESS`` (a .mod file).

The point process sits on a single-compartment section whose membrane potential ``v``
is the model's membrane potential (:func:`lifbridge.divergence.membrane_potential`).
What carries over, and how:

* **Units are NEURON's**: mV, ms, nA, nF, uS (and nA/ms, uS/ms ... for other
  dimensions, :func:`lifbridge.pynn.names.pynn_unit_for`; dimensionless stays 1). Every
  parameter and state variable is held in that unit. Expressions are printed over SI
  values: each name ``x`` is printed as ``x*f`` with ``f`` its unit's factor to SI and
  each unit literal as its SI value, and each derivative is converted back to the
  state's NEURON unit per ms. Every factor comes from :meth:`lifbridge.units.Unit.factor_to`.
* **The membrane**: NEURON integrates ``C dv/dt = -i + (injected current)``. The
  section's capacitance is ``C = 1 / (d(dV_m/dt)/dI_stim)`` (:func:`section_capacitance`,
  an expression of parameters; ``lb_cm`` in the mechanism, in nF, which equals the
  section's ``cm`` in uF/cm2 on PyNN's 1e-3 cm2 compartment), so a current injected into
  the section (PyNN's ``IClamp``) enters exactly as the model's current input ``I_stim``;
  the point process supplies the rest of ``dV_m/dt`` as its current ``lb_i = -lb_cm*f0``,
  ``f0`` being ``dV_m/dt`` with ``I_stim = 0``.
* **The other state variables** (adaptation, gating variables, opsin fractions,
  synaptic currents and conductances) are ``STATE`` variables of a ``DERIVATIVE`` block,
  solved with ``cnexp`` when every equation is linear in its own variable (NEURON's
  exponential integrator: exact for a single exponential decay), else ``derivimplicit``.
* **Spikes** as PyNN's ``adexp.mod`` and ``izhikevich.mod`` detect them: ``INITIAL``
  sends the self-event ``net_send(0, 1)``, which sets up ``WATCH (g > 0) 2`` with ``g``
  the spike condition as an event function (``left - right`` for ``>``/``>=``, the
  minimum over ``and``, the maximum over ``or``, as the reference integrator locates
  it); the event with flag 2 emits the spike (``net_event(t)``), runs the reset
  statements and starts the refractory period, which a self-event with flag 3 ends
  ``t_ref`` later. While refractory, a clamped membrane is held at its value after the
  reset by a clamp conductance ``lb_gclamp`` (PyNN's ``refrac.mod`` technique), other
  clamped variables have zero derivative, no spike is emitted, and an input spike whose
  statement changes a clamped variable (a delta synapse's jump) is dropped.
* **Spike inputs**: ``NET_RECEIVE (weight, lb_receptor)``; the receptor index (the spike
  port's position among the model's spike inputs) is what PyNN writes into the second
  NetCon weight; the ``INITIAL`` block inside ``NET_RECEIVE`` keeps ``finitialize()``
  from zeroing it. Weights are in the port's NEURON unit (nA, uS, mV) with PyNN's sign:
  an inhibitory current or voltage jump is negative, a conductance positive; the port's
  statements see the magnitude, as in lifbridge's spec (``weight``).
* **Inputs**: ``I_stim`` reaches the mechanism only through the section (it is 0 inside
  the mechanism: a spike condition that reads it, such as hh's ``I_m < 0``, reads the
  model's current without the injected one); a light input (``phi``) is a ``RANGE``
  parameter, 0 unless set.

Names of the model become names in the .mod file only after they were checked to be
identifiers that are no NMODL, C or NEURON name (:func:`check_name`); numbers are printed
from floats; free text goes into one-line ``:`` comments, folded by
:func:`lifbridge.text.comment_text`. Nothing from a model file reaches the .mod as code.
A construct NMODL cannot express is a one-line :class:`NmodlError`, never partial code.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from . import expr as ex
from .divergence import membrane_potential
from .errors import ExpressionError
from .model import Model
from .text import comment_text
from .units import UNIT_SYMBOLS, VOLT, Unit, parse_unit

#: The prefix of every name the generator adds to a .mod file; no model name may start with it.
PREFIX = "lb_"
INDENT = "    "

#: Clamp conductance while refractory (uS): with C of 0.25 nF the membrane relaxes to the
#: clamp value in 2.5e-10 ms; an injected 1 nA moves it by 1e-9 mV.
CLAMP_CONDUCTANCE_US = 1e9

#: Two spikes of one neuron closer than this (ms) are a runaway, not firing: the neuron is held
#: and the run reported as diverged (no model here fires at a megahertz).
STORM_INTERVAL_MS = 1e-3

#: Relative round-off within which a spike condition ``a >= b`` counts as met (WATCH has no >=).
EQUALITY_ROUNDOFF = 1e-12

#: Relative round-off within which a spike condition ``a >= b`` counts as met (WATCH has no >=).
EQUALITY_ROUNDOFF = 1e-12

MILLISECOND = parse_unit("ms")
SECOND = parse_unit("s")
NANOAMP = parse_unit("nA")
NANOFARAD = parse_unit("nF")
MILLIVOLT = parse_unit("mV")

#: Names NMODL, the C++ it is translated to, or NEURON reserve (a model name must not be one).
RESERVED = frozenset("""
    v t dt i celsius area diam flag weight secondorder nrn_ghk FARADAY R PI DEBYE e_charge
    NEURON UNITS PARAMETER ASSIGNED STATE INITIAL BREAKPOINT DERIVATIVE NET_RECEIVE PROCEDURE FUNCTION
    SOLVE METHOD LOCAL TABLE DEPEND FROM TO WITH IF ELSE WHILE VERBATIM ENDVERBATIM COMMENT ENDCOMMENT
    if else while for do return break continue switch case default goto sizeof static struct union
    int long short double float char void const volatile register extern auto signed unsigned enum typedef
    class new delete this template typename namespace using operator public private protected virtual friend
    inline bool true false try catch throw explicit mutable and or not xor
    exp log log10 sqrt fabs tanh sinh cosh sin cos tan pow floor ceil fmod min max
    net_send net_event net_move WATCH INDEPENDENT CONSERVE KINETIC LINEAR NONLINEAR SWEEP
    CONSTANT POINT_PROCESS ARTIFICIAL_CELL SUFFIX RANGE GLOBAL POINTER BBCOREPOINTER EXTERNAL
    NONSPECIFIC_CURRENT ELECTRODE_CURRENT USEION READ WRITE VALENCE THREADSAFE REPRESENTS
    cnexp derivimplicit euler runge sparse after_cvode cvode_t nrn_pointing at_time
    """.split())

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_MAX_NAME = 60


class NmodlError(ExpressionError):
    """A model (or a construct of it) that NMODL output cannot express; one line."""


def check_name(name, model: Model, what="name") -> str:
    """``name`` if it may appear in a .mod file, else NmodlError naming the fix."""
    where = f"{model.source}: {what} {str(name)[:40]!r}"
    if not isinstance(name, str) or not _IDENTIFIER.match(name) or len(name) > _MAX_NAME:
        raise NmodlError(f"{where} is not an NMODL identifier (letters, digits, '_', starting with a letter, "
                         f"at most {_MAX_NAME} characters); rename it")
    if name in RESERVED or name.startswith(PREFIX):
        raise NmodlError(f"{where} is reserved in NMODL/NEURON (or starts with {PREFIX!r}); rename it")
    return name


def mechanism_name(model: Model) -> str:
    """The NEURON name of the point process of ``model`` (``lif`` -> ``lb_lif``)."""
    return PREFIX + check_name(model.name, model, "model name")


def neuron_unit(unit: Unit) -> Unit:
    """NEURON's unit of ``unit``'s dimension (mV, ms, nA, nF, uS, ... as PyNN's), else ``unit``."""
    from .pynn.names import pynn_unit_for

    return pynn_unit_for(unit)


def _si(unit: Unit) -> Unit:
    return Unit(unit.dim, 1.0, "SI")


def _to_si(unit: Unit) -> float:
    """Factor from ``unit``'s NEURON unit to SI."""
    return neuron_unit(unit).factor_to(_si(unit))


def _from_si_per_ms(unit: Unit) -> float:
    """Factor from an SI derivative (SI unit per second) to ``unit``'s NEURON unit per ms."""
    return _si(unit).factor_to(neuron_unit(unit)) * MILLISECOND.factor_to(SECOND)


def _number(value) -> str:
    value = float(value)
    if not math.isfinite(value):
        raise NmodlError(f"cannot print the number {value!r} in NMODL: numbers must be finite")
    text = f"{value:.1f}" if value == int(value) and abs(value) < 1e15 else repr(value)
    return f"({text})" if math.copysign(1.0, value) < 0 else text


# ---------------------------------------------------------------------------- the printer
class NmodlPrinter(ex.ExpressionPrinter):
    """Prints an expression tree as NMODL over SI values (see the module docstring).

    ``names``: symbol -> (printed name, factor from the printed name's unit to SI);
    a symbol missing there is refused. Functions missing from :attr:`known_functions`
    are refused, never printed.
    """

    known_functions = {"exp": "exp", "log": "log", "sqrt": "sqrt", "abs": "fabs", "tanh": "tanh",
                       "sinh": "sinh", "cosh": "cosh", "min": "lb_min", "max": "lb_max"}
    and_operator = "&&"
    or_operator = "||"
    not_operator = "!"

    def __init__(self, names: dict, inline_min_max: bool = False):
        self.names = names
        self.inline_min_max = inline_min_max   # WATCH conditions cannot call FUNCTIONs
        self.used_functions = set()

    def _print_Sym(self, node):
        if node.name not in self.names:
            raise NmodlError(f"NMODL: the name {str(node.name)[:40]!r} has no value in the mechanism")
        printed, factor = self.names[node.name]
        if printed is None:
            return "0.0", ex._PRECEDENCE["atom"]
        if factor == 1.0:
            return printed, ex._PRECEDENCE["atom"]
        return f"({printed}*{_number(factor)})", ex._PRECEDENCE["atom"]

    def _print_UnitLit(self, node):
        if node.name not in UNIT_SYMBOLS:
            raise NmodlError(f"NMODL: unknown unit {str(node.name)[:40]!r}")
        return _number(UNIT_SYMBOLS[node.name][1]), ex._PRECEDENCE["atom"]

    def _print_Num(self, node):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise NmodlError(f"cannot print the number {value!r} in NMODL")
        return _number(value), ex._PRECEDENCE["atom"]

    def _print_BinOp(self, node):
        if node.op == "**":
            base = self._print(node.left)[0]
            exponent = self._print(node.right)[0]
            return f"(({base})^({exponent}))", ex._PRECEDENCE["atom"]
        return super()._print_BinOp(node)

    def _print_Call(self, node):
        if node.func not in self.known_functions:
            raise NmodlError(f"NMODL printer cannot print the function {str(node.func)[:40]}()")
        if self.inline_min_max and node.func in ("min", "max"):
            # min(a, b) = (a + b - |a - b|)/2, max(a, b) = (a + b + |a - b|)/2
            a, b = node.args
            sign = "-" if node.func == "min" else "+"
            spread = ex.Call("abs", (ex.BinOp("-", a, b),))
            return self._print(ex.BinOp("/", ex.BinOp(sign, ex.BinOp("+", a, b), spread), ex.Num(2.0)))
        self.used_functions.add(node.func)
        return super()._print_Call(node)

    def _print_Compare(self, node):
        text, precedence = super()._print_Compare(node)
        return f"({text})", ex._PRECEDENCE["atom"]

    def _print_BoolOp(self, node):
        text, precedence = super()._print_BoolOp(node)
        return f"({text})", ex._PRECEDENCE["atom"]

    def _print_Not(self, node):
        return f"(!{self._wrap(node.operand, ex._PRECEDENCE['atom'])})", ex._PRECEDENCE["atom"]


# ---------------------------------------------------------------------------- analysis
def linear_coefficient(expr, name: str):
    """(coefficient, rest) with ``expr == coefficient*name + rest``, both trees free of ``name``;
    NmodlError if ``expr`` is not affine in ``name`` (read from the tree, no algebra system)."""
    if name not in ex.symbols(expr):
        return None, expr
    if isinstance(expr, ex.Sym):
        return ex.Num(1.0), None
    if isinstance(expr, ex.Neg):
        c, r = linear_coefficient(expr.operand, name)
        return ex.Neg(c), (None if r is None else ex.Neg(r))
    if isinstance(expr, ex.BinOp) and expr.op in "+-":
        cl, rl = linear_coefficient(expr.left, name)
        cr, rr = linear_coefficient(expr.right, name)
        return _combine(expr.op, cl, cr), _combine(expr.op, rl, rr)
    if isinstance(expr, ex.BinOp) and expr.op == "*":
        if name not in ex.symbols(expr.left):
            c, r = linear_coefficient(expr.right, name)
            return ex.BinOp("*", expr.left, c), (None if r is None else ex.BinOp("*", expr.left, r))
        if name not in ex.symbols(expr.right):
            c, r = linear_coefficient(expr.left, name)
            return ex.BinOp("*", c, expr.right), (None if r is None else ex.BinOp("*", r, expr.right))
    if isinstance(expr, ex.BinOp) and expr.op == "/" and name not in ex.symbols(expr.right):
        c, r = linear_coefficient(expr.left, name)
        return ex.BinOp("/", c, expr.right), (None if r is None else ex.BinOp("/", r, expr.right))
    raise NmodlError(f"not affine in {name}: {ex.to_text(expr)[:80]}")


def _combine(op, a, b):
    if b is None:
        return a
    if a is None:
        return b if op == "+" else ex.Neg(b)
    return ex.BinOp(op, a, b)


@dataclass(frozen=True)
class Membrane:
    """The membrane equation split for NEURON: ``dV/dt = f0 + k*I_stim`` (trees, SI)."""

    variable: str
    rest: object          # f0: dV/dt with I_stim = 0
    gain: object          # k: d(dV/dt)/dI_stim, parameters only


def membrane(model: Model) -> Membrane:
    """The membrane potential and its equation split around the current input (NmodlError if
    the model has no voltage state, or the current enters other than additively)."""
    name = membrane_potential(model)
    if name is None or model.state[name].unit.dim != VOLT or name not in model.equations:
        raise NmodlError(f"{model.source}: NMODL needs a membrane potential (a voltage state with an equation); "
                         f"{model.name} has none")
    rhs = model.expand_aliases(model.equations[name])
    current = model.input_current
    if current is None:
        return Membrane(name, rhs, None)
    try:
        gain, rest = linear_coefficient(rhs, current)
    except NmodlError:
        raise NmodlError(f"{model.source}: [equations].{name}: the current input {current} must enter "
                         f"additively for NEURON's current sources to reach it") from None
    if gain is None:
        raise NmodlError(f"{model.source}: the current input {current} does not enter [equations].{name}")
    if ex.symbols(gain) - set(model.parameters):
        raise NmodlError(f"{model.source}: [equations].{name}: the factor of {current} depends on "
                         f"{', '.join(sorted(ex.symbols(gain) - set(model.parameters)))}; NEURON's section "
                         f"capacitance must be a constant")
    for var, eq in model.equations.items():
        if var != name and current in ex.symbols(model.expand_aliases(eq)):
            raise NmodlError(f"{model.source}: [equations].{var} reads the current input {current}; NMODL "
                             f"output supports it in the membrane equation only")
    return Membrane(name, rest if rest is not None else ex.Num(0.0), gain)


def section_capacitance(model: Model):
    """The section capacitance as a tree over SI parameter values, in farad: 1/k (see the module docstring)."""
    return ex.BinOp("/", ex.Num(1.0), membrane(model).gain)


def section_capacitance_nF(model: Model, parameters_si: dict) -> float:
    """The section capacitance in nF (== cm in uF/cm2 on PyNN's 1e-3 cm2) for SI parameter values."""
    farad = parse_unit("F")
    return float(ex.evaluate(section_capacitance(model), parameters_si)) * farad.factor_to(NANOFARAD)


def event_function(condition):
    """The spike condition as a tree ``g`` that crosses zero upwards when it becomes true."""
    if isinstance(condition, ex.Compare):
        if condition.op in (">", ">=", "<", "<="):
            high, low = (condition.left, condition.right) if condition.op[0] == ">" else (condition.right, condition.left)
            g = ex.BinOp("-", high, low)
            if condition.op.endswith("="):
                # WATCH takes only > and <: ``a >= b`` as a - b > -eps (|a| + |b|), within round-off
                spread = ex.BinOp("+", ex.Call("abs", (high,)), ex.Call("abs", (low,)))
                g = ex.BinOp("+", g, ex.BinOp("*", ex.Num(EQUALITY_ROUNDOFF), spread))
            return g
        raise NmodlError(f"spike condition {ex.to_text(condition)[:80]}: NMODL's WATCH needs <, <=, > or >=")
    if isinstance(condition, ex.BoolOp):
        func = "min" if condition.op == "and" else "max"
        parts = [event_function(c) for c in condition.operands]
        out = parts[0]
        for part in parts[1:]:
            out = ex.Call(func, (out, part))
        return out
    if isinstance(condition, ex.Not):
        return ex.Neg(event_function(condition.operand))
    raise NmodlError(f"spike condition {ex.to_text(condition)[:80]}: not a comparison")


def solver(model: Model, states) -> str:
    """``cnexp`` if every equation of ``states`` is linear in its own variable, else ``derivimplicit``."""
    for x in states:
        if ex.affine_degree(model.expand_aliases(model.equations[x]), {x}) is None:
            return "derivimplicit"
    return "cnexp"


# ---------------------------------------------------------------------------- the .mod file
def _comment(text) -> str:
    return f" : {comment_text(text)}" if text else ""


def _names_table(model: Model, membrane_name: str) -> dict:
    names = {}
    for table in (model.parameters, model.state):
        for name, item in table.items():
            check_name(name, model)
            names[name] = (name, _to_si(item.unit))
    names[membrane_name] = ("v", MILLIVOLT.factor_to(_si(model.state[membrane_name].unit)))
    for name, port in model.inputs.items():
        check_name(name, model, "input")
        if port.kind == "current":
            names[name] = (None, 1.0)               # reaches the mechanism through the section only
        elif port.kind == "light":
            names[name] = (name, _to_si(port.unit))
    names["t"] = ("t", MILLISECOND.factor_to(SECOND))
    return names


def _statement(printer, names, model, assignment, membrane_name) -> str:
    target = assignment.target
    if target not in model.state:
        raise NmodlError(f"{model.source}: a statement assigns {str(target)[:40]!r}, which is not a state variable")
    value = printer.doprint(assignment.as_expression())
    unit = model.state[target].unit
    if target == membrane_name:
        return f"v = ({value})*{_number(_si(unit).factor_to(MILLIVOLT))}"
    return f"{target} = ({value})*{_number(_si(unit).factor_to(neuron_unit(unit)))}"


def to_nmodl(model: Model, mechanism: str | None = None) -> str:
    """The NMODL text of ``model``'s point process (see the module docstring)."""
    mechanism = mechanism or mechanism_name(model)
    if not _IDENTIFIER.match(mechanism):
        raise NmodlError(f"mechanism name {mechanism[:40]!r} is not an NMODL identifier")
    split = membrane(model)
    vm = split.variable
    names = _names_table(model, vm)
    printer = NmodlPrinter(names)
    others = [x for x in model.state if x != vm]
    for x in others:
        if x not in model.equations:
            raise NmodlError(f"{model.source}: state variable {x} has no equation")
    clamp = tuple(model.refractory.clamp) if model.refractory else ()
    refractory = model.refractory is not None
    ports = list(model.spike_inputs)
    lines = [f": {mechanism}: {comment_text(model.description)}",
             f": Source: {comment_text(model.reference)}",
             f": Generated by lifbridge from {comment_text(model.source.rsplit('/', 1)[-1])} (lifbridge generate "
             f"{comment_text(model.name)} --target nmodl); do not edit.",
             f": Membrane: v is {vm} (mV); the section capacitance must be lb_cm (nF; cm in uF/cm2 on a 1e-3 cm2 "
             f"section), so that an injected current (nA) acts as the current input.",
             ": Units: mV, ms, nA, nF, uS; weights in nA (current), uS (conductance), mV (jump), with PyNN's signs."]
    for var, rhs in model.equations.items():
        lines.append(f":   d{comment_text(var)}/dt = {comment_text(ex.to_text(rhs))}")
    range_names = list(model.parameters) + others + [n for n, p in model.inputs.items() if p.kind == "light"]
    range_names += ["lb_cm", "lb_diverged", "lb_diverged_t", "lb_retired"] + (["lb_refractory"] if refractory else [])
    lines += ["", "NEURON {", f"{INDENT}THREADSAFE", f"{INDENT}POINT_PROCESS {mechanism}"]
    for start in range(0, len(range_names), 8):
        lines.append(f"{INDENT}RANGE {', '.join(range_names[start:start + 8])}")
    lines += [f"{INDENT}NONSPECIFIC_CURRENT lb_i", "}", "",
              "UNITS {", f"{INDENT}(mV) = (millivolt)", f"{INDENT}(nA) = (nanoamp)", "}", "", "PARAMETER {"]
    for name, p in model.parameters.items():
        unit = neuron_unit(p.unit)
        lines.append(f"{INDENT}{name} = {_number(p.value * p.unit.factor_to(unit)).strip('()')}"
                     + _comment(f"{unit.name}, {p.description}" if p.description else unit.name))
    for name, port in model.inputs.items():
        if port.kind == "light":
            unit = neuron_unit(port.unit)
            lines.append(f"{INDENT}{name} = 0.0" + _comment(f"{unit.name}, light input (0: dark)"))
    lines.append(f"{INDENT}lb_gclamp = {_number(CLAMP_CONDUCTANCE_US)} : uS, refractory and runaway clamp "
                 f"conductance")
    lines.append(f"{INDENT}lb_storm = {_number(STORM_INTERVAL_MS)} : ms, two spikes closer than this are a runaway")
    lines.append(f"{INDENT}lb_retired = 0 : 1: inert (no current, no change, no spikes), a cell of an earlier run")
    lines += ["}", "", "ASSIGNED {", f"{INDENT}v (mV)", f"{INDENT}lb_i (nA)",
              f"{INDENT}lb_cm : nF, the section capacitance the model needs",
              f"{INDENT}lb_diverged : 1 once the neuron ran away (v then held)",
              f"{INDENT}lb_hold_diverged : mV, v held after a runaway",
              f"{INDENT}lb_diverged_t : ms, when the runaway was found",
              f"{INDENT}lb_last_spike : ms, time of the last spike"]
    if refractory:
        lines.append(f"{INDENT}lb_refractory : 1 while refractory")
        for x in clamp:
            lines.append(f"{INDENT}lb_hold_{x} : value of {x} held while refractory")
    lines.append("}")
    if others:
        lines += ["", "STATE {"]
        for x in others:
            unit = neuron_unit(model.state[x].unit)
            lines.append(f"{INDENT}{x}" + _comment(f"{unit.name}, {model.state[x].description}"
                                                    if model.state[x].description else unit.name))
        lines.append("}")
    cm_text = printer.doprint(section_capacitance(model)) if split.gain is not None else "1.0"
    cm_factor = _number(parse_unit("F").factor_to(NANOFARAD)) if split.gain is not None else "1.0"
    lines += ["", "INITIAL {"]
    for x in others:
        initial = model.state[x].initial
        unit = model.state[x].unit
        if isinstance(initial, float):
            lines.append(f"{INDENT}{x} = {_number(initial * unit.factor_to(neuron_unit(unit)))}")
        else:
            lines.append(f"{INDENT}{x} = ({printer.doprint(initial)})*{_number(_si(unit).factor_to(neuron_unit(unit)))}")
    lines.append(f"{INDENT}lb_cm = ({cm_text})*{cm_factor}")
    lines += [f"{INDENT}lb_diverged = 0", f"{INDENT}lb_hold_diverged = 0", f"{INDENT}lb_diverged_t = -1",
              f"{INDENT}lb_last_spike = -1e9"]
    if refractory:
        lines.append(f"{INDENT}lb_refractory = 0")
        for x in clamp:
            lines.append(f"{INDENT}lb_hold_{x} = 0")
    if model.spike is not None:
        lines.append(f"{INDENT}if (lb_retired == 0) {{ net_send(0, 1) }}")
    lines += ["}", "", "BREAKPOINT {"]
    if others:
        lines.append(f"{INDENT}SOLVE lb_states METHOD {solver(model, others)}")
    rest = printer.doprint(split.rest)
    to_mv_per_ms = _number(_from_si_per_ms(model.state[vm].unit) * MILLIVOLT.factor_to(neuron_unit(model.state[vm].unit)))
    lines.append(f"{INDENT}lb_cm = ({cm_text})*{cm_factor}")
    current = f"lb_i = -lb_cm*({rest})*{to_mv_per_ms}"
    lines += [f"{INDENT}if (lb_retired) {{", f"{INDENT * 2}lb_i = 0",
              f"{INDENT}}} else if (lb_diverged) {{", f"{INDENT * 2}lb_i = lb_gclamp*(v - lb_hold_diverged)"]
    if vm in clamp:
        lines += [f"{INDENT}}} else if (lb_refractory) {{", f"{INDENT * 2}lb_i = lb_gclamp*(v - lb_hold_{vm})"]
    lines += [f"{INDENT}}} else {{", f"{INDENT * 2}{current}", f"{INDENT}}}"]
    lines.append("}")
    if others:
        lines += ["", "DERIVATIVE lb_states {"]
        for x in others:
            rhs = printer.doprint(model.expand_aliases(model.equations[x]))
            hold = "(1 - lb_retired)*" + ("(1 - lb_refractory)*" if x in clamp else "")
            lines.append(f"{INDENT}{x}' = {hold}({rhs})*{_number(_from_si_per_ms(model.state[x].unit))}")
        lines.append("}")
    lines += _net_receive(model, printer, names, vm, ports, clamp, refractory)
    functions = set(printer.used_functions)
    if "min" in functions:
        lines += ["", "FUNCTION lb_min(a, b) {", f"{INDENT}if (a < b) {{", f"{INDENT * 2}lb_min = a",
                  f"{INDENT}}} else {{", f"{INDENT * 2}lb_min = b", f"{INDENT}}}", "}"]
    if "max" in functions:
        lines += ["", "FUNCTION lb_max(a, b) {", f"{INDENT}if (a > b) {{", f"{INDENT * 2}lb_max = a",
                  f"{INDENT}}} else {{", f"{INDENT * 2}lb_max = b", f"{INDENT}}}", "}"]
    return "\n".join(wrapped for line in lines for wrapped in _wrap_line(line)) + "\n"


#: NMODL's translator refuses lines of more than about 500 characters; longer ones are folded.
MAX_LINE = 200


def _wrap_line(line: str) -> list:
    """``line`` folded at spaces into lines of at most :data:`MAX_LINE` characters (NMODL reads a
    line break as a space; a trailing ``:`` comment stays on the last line, a long comment is
    split into several)."""
    if len(line) <= MAX_LINE:
        return [line]
    indent = line[:len(line) - len(line.lstrip())]
    code, sep, comment = line.partition(":")
    if not code.strip():                       # a comment line
        text = line.strip()[1:].strip()
        out, rest = [], text
        while rest:
            cut = rest.rfind(" ", 0, MAX_LINE - len(indent) - 2)
            cut = cut if cut > 0 else MAX_LINE - len(indent) - 2
            out.append(f"{indent}: {rest[:cut].strip()}")
            rest = rest[cut:].strip()
        return out
    words = code.strip().split(" ")
    out, current = [], indent
    for word in words:
        if current.strip() and len(current) + 1 + len(word) > MAX_LINE:
            out.append(current)
            current = indent + INDENT + word
        else:
            current = f"{current} {word}" if current.strip() else current + word
    out.append(current)
    if sep:
        out += _wrap_line(f"{indent}:{comment}")
    return out


def _functions_of(tree) -> set:
    return {node.func for node in ex.walk(tree) if isinstance(node, ex.Call)}


def port_sign(model: Model, port: str) -> float:
    """+1 or -1: the factor from a NetCon weight (PyNN's sign) to the magnitude the port's
    statements see. Conductances are positive on every port; an inhibitory current or
    voltage jump is negative."""
    spec = model.inputs[port]
    conductance = neuron_unit(spec.unit).name == "uS"
    return -1.0 if spec.sign == "inhibitory" and not conductance else 1.0


def _net_receive(model, printer, names, vm, ports, clamp, refractory) -> list:
    lines = ["", "NET_RECEIVE (weight, lb_receptor) {", f"{INDENT}LOCAL lb_w",
             f"{INDENT}INITIAL {{", f"{INDENT * 2}: keeps the receptor index in weight[1] (finitialize() would zero it)",
             f"{INDENT}}}"]
    branches = []
    for index, port in enumerate(ports):
        spec = model.inputs[port]
        check_name(port, model, "input")
        weight_unit = neuron_unit(spec.unit)
        inner = dict(names, weight=("lb_w", weight_unit.factor_to(_si(spec.unit))))
        port_printer = NmodlPrinter(inner)
        body = [f"lb_w = {_number(port_sign(model, port))}*weight" + _comment(f"{port}: {spec.sign or 'spikes'}, "
                                                                          f"weight in {weight_unit.name}")]
        for assignment in spec.on_spike:
            statement = _statement(port_printer, inner, model, assignment, vm)
            if assignment.target in clamp:
                statement = f"if (lb_refractory == 0) {{ {statement} }}"
            body.append(statement)
        printer.used_functions |= port_printer.used_functions
        branches.append((index, body))
    lines.append(f"{INDENT}if (flag == 0) {{")
    for position, (index, body) in enumerate(branches):
        keyword = "if" if position == 0 else "} else if"
        lines.append(f"{INDENT * 2}{keyword} (lb_receptor == {index}) {{")
        lines += [f"{INDENT * 3}{b}" for b in body]
    if branches:
        lines.append(f"{INDENT * 2}}}")
    if model.spike is not None:
        g = NmodlPrinter(names, inline_min_max=True).doprint(event_function(model.expand_aliases(model.spike.condition)))
        lines += [f"{INDENT}}} else if (flag == 1) {{", f"{INDENT * 2}WATCH ({g} > 0) 2",
                  f"{INDENT}}} else if (flag == 2) {{"]
        # a neuron firing again within lb_storm of its last spike runs away (a current too large
        # for the model): it is held where it is and the run is stopped as diverged (lb_diverged)
        body = ["if (t - lb_last_spike < lb_storm && lb_diverged == 0) {", f"{INDENT}lb_diverged = 1",
                f"{INDENT}lb_hold_diverged = v", f"{INDENT}lb_diverged_t = t", "}", "lb_last_spike = t", "if (lb_diverged == 0) {", f"{INDENT}net_event(t)"]
        body += [f"{INDENT}{_statement(printer, names, model, a, vm)}" for a in model.spike.reset]
        body.append("}")
        if refractory:
            period = printer.doprint(model.refractory.period)
            to_ms = _number(SECOND.factor_to(MILLISECOND))
            body = body[:-1]
            body += [f"{INDENT}lb_hold_{x} = {'v' if x == vm else x}" for x in clamp]
            body += [f"{INDENT}lb_refractory = 1", f"{INDENT}net_send(({period})*{to_ms}, 3)", "}"]
            lines.append(f"{INDENT * 2}if (lb_refractory == 0) {{")
            lines += [f"{INDENT * 3}{b}" for b in body]
            lines += [f"{INDENT * 2}}}", f"{INDENT}}} else if (flag == 3) {{", f"{INDENT * 2}lb_refractory = 0"]
        else:
            lines += [f"{INDENT * 2}{b}" for b in body]
    lines += [f"{INDENT}}}", "}"]
    return lines


__all__ = ["NmodlPrinter", "NmodlError", "to_nmodl", "mechanism_name", "membrane", "section_capacitance",
           "section_capacitance_nF", "event_function", "port_sign", "neuron_unit", "check_name", "RESERVED"]
