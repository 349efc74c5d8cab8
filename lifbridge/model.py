"""The model object: lifbridge's one intermediate representation.

A :class:`Model` holds parameters (value + unit), state variables (unit + initial
value), named expressions, ODE right-hand sides as expression trees, the spike
condition, reset statements, refractoriness and input ports. It imports no
simulator; every backend (Brian2, NESTML, PyNN, the reference integrator) reads it.

Dynamics::

    d<state>/dt = equations[state]            (unit: state unit / time)
    spike when spike.condition becomes true   (not while refractory)
    then each reset statement, in order
    for refractory.period after a spike, the variables in refractory.clamp stay
    at the value they had after the reset; a spike input's statement on a clamped
    variable (a delta synapse's jump of V_m) is dropped while refractory, as NEST's
    iaf_psc_delta and aeif_psc_delta drop such spikes.

A model may be composed from a neuron file and synapse kinetics files
(:mod:`lifbridge.compose`); the result is a Model like any other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from . import expr as ex
from .errors import ParameterError
from .units import SECOND, Unit


@dataclass(frozen=True)
class Parameter:
    """A model parameter; ``value`` is in ``unit``; ``minimum``/``maximum`` are optional bounds."""

    name: str
    value: float
    unit: Unit
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False

    def check(self, value, where=""):
        """Raise ParameterError if ``value`` (in ``unit``) is outside the allowed range."""
        prefix = f"{where}parameter {self.name} = {value:g} {self.unit}"
        if self.minimum is not None:
            if self.exclusive_minimum and not value > self.minimum:
                raise ParameterError(f"{prefix} is not allowed: it must be > {self.minimum:g} {self.unit}")
            if not self.exclusive_minimum and not value >= self.minimum:
                raise ParameterError(f"{prefix} is not allowed: it must be >= {self.minimum:g} {self.unit}")
        if self.maximum is not None and not value <= self.maximum:
            raise ParameterError(f"{prefix} is not allowed: it must be <= {self.maximum:g} {self.unit}")


@dataclass(frozen=True)
class StateVariable:
    """A state variable with its unit and initial value.

    ``initial`` is a number in ``unit``, or an expression tree of parameters.
    """

    name: str
    unit: Unit
    initial: object
    description: str = ""


@dataclass(frozen=True)
class Alias:
    """A named expression (Brian2 subexpression, NESTML inline expression)."""

    name: str
    expr: object
    unit: Unit
    description: str = ""


@dataclass(frozen=True)
class Assignment:
    """``target op value`` with op one of ``=``, ``+=``, ``-=``, ``*=``."""

    target: str
    op: str
    value: object

    def as_expression(self):
        """The new value of ``target`` as one expression."""
        if self.op == "=":
            return self.value
        return ex.BinOp(self.op[0], ex.Sym(self.target), self.value)


@dataclass(frozen=True)
class Spike:
    condition: object
    reset: tuple = ()


@dataclass(frozen=True)
class Refractory:
    """Absolute refractory period (time expression) and the variables clamped during it."""

    period: object
    clamp: tuple = ()


@dataclass(frozen=True)
class InputPort:
    """An input of the model.

    ``kind`` is ``"spike"`` (events with a weight in ``unit``; ``on_spike`` says what
    a spike does, with ``w`` the weight's magnitude; ``sign`` says which sign of
    weight the port takes), ``"current"`` (a continuous current in ``unit``) or
    ``"light"`` (a continuous light intensity in ``unit``).
    """

    name: str
    kind: str
    unit: Unit
    sign: str = ""
    on_spike: tuple = ()
    description: str = ""


@dataclass(frozen=True)
class Synapse:
    """What composition (:mod:`lifbridge.compose`) put behind one spike port.

    ``kinetics``: the kinetics' name (``"psc_alpha"``); ``bundled``: True if it is the
    file of that name in ``models/synapses/`` (whose closed forms :mod:`lifbridge.analytic`
    knows), False for a file of one's own; ``type``: ``"current"``, ``"conductance"`` or
    ``"jump"``; ``names``: the kinetics' own names -> the model's (``tau_syn`` ->
    ``tau_syn_exc``); ``receptor``: ``"exc"``, ``"inh"``, another name, or NEST's
    receptor number of a ``*_multisynapse`` model.
    """

    port: str
    kinetics: str
    bundled: bool
    type: str
    names: MappingProxyType
    receptor: object = None


@dataclass(frozen=True)
class Constraint:
    """A condition on parameters that must hold, with the reason."""

    check: object
    text: str
    reason: str = ""


@dataclass(frozen=True)
class Model:
    """A neuron model. Build it with :func:`lifbridge.load`; it is immutable."""

    name: str
    description: str
    reference: str
    parameters: MappingProxyType
    state: MappingProxyType
    aliases: MappingProxyType
    equations: MappingProxyType
    spike: Spike | None
    refractory: Refractory | None
    inputs: MappingProxyType
    constraints: tuple = ()
    presets: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    hints: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    source: str = "<model>"
    #: spike port -> :class:`Synapse` for a composed model (empty for a model file with its own ports)
    synapses: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def __reduce__(self):
        # Read-only mappings cannot be pickled; rebuild them (for worker processes).
        fields = {f: getattr(self, f) for f in self.__dataclass_fields__}
        plain = {k: dict(v) if isinstance(v, MappingProxyType) else v for k, v in fields.items()}
        presets = {k: dict(v) for k, v in plain["presets"].items()}
        synapses = {k: replace(v, names=dict(v.names)) for k, v in plain["synapses"].items()}
        return _rebuild_model, (dict(plain, presets=presets, synapses=synapses),)

    # ------------------------------------------------------------------ lookups
    def unit_of(self, name) -> Unit:
        """Unit of any declared symbol (parameter, state, alias, input, or ``t``)."""
        for table in (self.parameters, self.state, self.aliases, self.inputs):
            if name in table:
                return table[name].unit
        if name == "t":
            return Unit(SECOND, 1e-3, "ms")
        raise KeyError(name)

    @property
    def continuous_inputs(self):
        return {n: p for n, p in self.inputs.items() if p.kind in ("current", "light")}

    @property
    def spike_inputs(self):
        return {n: p for n, p in self.inputs.items() if p.kind == "spike"}

    @property
    def input_current(self):
        """Name of the continuous current input port (e.g. ``I_stim``), or None."""
        return next((n for n, p in self.inputs.items() if p.kind == "current"), None)

    @property
    def light_input(self):
        return next((n for n, p in self.inputs.items() if p.kind == "light"), None)

    def parameter_values_si(self):
        """Parameter values in SI units (name -> float)."""
        return {n: p.value * p.unit.scale for n, p in self.parameters.items()}

    def initial_values_si(self, parameters_si=None):
        """Initial state in SI units, evaluated from the initial-value expressions."""
        ns = dict(parameters_si or self.parameter_values_si())
        return {n: (s.initial * s.unit.scale if isinstance(s.initial, float) else float(ex.evaluate(s.initial, ns)))
                for n, s in self.state.items()}

    def expand_aliases(self, expr):
        """``expr`` with every named expression replaced by its definition (they are acyclic)."""
        mapping = {name: alias.expr for name, alias in self.aliases.items()}
        for _ in range(len(mapping) + 1):
            if not (ex.symbols(expr) & set(mapping)):
                return expr
            expr = ex.substitute(expr, mapping)
        return expr

    def is_linear(self) -> bool:
        """True if every state equation is affine in the state variables with constant
        coefficients (named expressions expanded): exact propagators exist."""
        states = set(self.state)
        return all(ex.affine_degree(self.expand_aliases(rhs), states) is not None
                   for rhs in self.equations.values())

    def linear_subsystem(self) -> tuple:
        """State variables that form a linear system with constant coefficients.

        These are the largest set of state variables whose right-hand sides (named
        expressions expanded) depend only on variables of the set and on parameters, and
        are affine in the variables of the set; refractory-clamped variables are left out.
        In the bundled models these are the synaptic currents and conductances (and the
        adaptation variable of ``adaptive_lif``). Found from the expression trees, not by name.
        """
        clamp = set(self.refractory.clamp) if self.refractory else set()
        rhs = {x: self.expand_aliases(self.equations[x]) for x in self.state}
        allowed = set(self.state) | set(self.parameters)
        chosen = {x for x in self.state if x not in clamp and ex.symbols(rhs[x]) <= allowed}
        changed = True
        while changed:
            changed = False
            for x in sorted(chosen):
                if (ex.symbols(rhs[x]) & set(self.state)) - chosen or ex.affine_degree(rhs[x], chosen) is None:
                    chosen.discard(x)
                    changed = True
        return tuple(x for x in self.state if x in chosen)

    def aliases_in_order(self):
        """Aliases sorted so that each comes after the aliases it uses."""
        ordered, seen = [], set()

        def visit(name):
            if name in seen:
                return
            seen.add(name)
            for dep in ex.symbols(self.aliases[name].expr):
                if dep in self.aliases:
                    visit(dep)
            ordered.append(name)

        for name in self.aliases:
            visit(name)
        return ordered

    # ------------------------------------------------------------------ variants
    def with_parameters(self, values=None, **kwargs):
        """A copy with new parameter defaults.

        Values are numbers in the parameter's unit, or strings with a unit (``"250pF"``).
        Ranges and constraints are checked; violations raise ParameterError.
        """
        values = dict(values or {}, **kwargs)
        new = dict(self.parameters)
        for name, value in values.items():
            if name not in self.parameters:
                raise ParameterError(f"model {self.name!r} has no parameter {name!r}; "
                                     f"parameters: {', '.join(self.parameters)}")
            param = self.parameters[name]
            number = to_unit(value, param.unit, f"parameter {name}")
            param.check(number)
            new[name] = replace(param, value=number)
        model = replace(self, parameters=MappingProxyType(new))
        model.check_constraints()
        return model

    def with_preset(self, preset):
        """A copy with the parameter values of a named preset (e.g. Izhikevich ``"RS"``)."""
        if preset not in self.presets:
            raise ParameterError(f"model {self.name!r} has no preset {preset!r}; presets: {', '.join(self.presets) or 'none'}")
        return self.with_parameters(self.presets[preset])

    def check_constraints(self, where=""):
        values = self.parameter_values_si()
        for constraint in self.constraints:
            if not bool(ex.evaluate(constraint.check, values)):
                shown = ", ".join(f"{n} = {self.parameters[n].value:g} {self.parameters[n].unit}"
                                  for n in sorted(ex.symbols(constraint.check)))
                raise ParameterError(f"{where}constraint '{constraint.text}' does not hold ({shown})"
                                     + (f": {constraint.reason}" if constraint.reason else ""))

    def __repr__(self):
        return f"<lifbridge Model {self.name!r}: {len(self.parameters)} parameters, state {list(self.state)}>"


def _rebuild_model(fields):
    proxied = {k: MappingProxyType(v) if isinstance(v, dict) else v for k, v in fields.items()}
    proxied["presets"] = MappingProxyType({k: MappingProxyType(v) for k, v in fields["presets"].items()})
    proxied["synapses"] = MappingProxyType({k: replace(v, names=MappingProxyType(v.names))
                                            for k, v in fields["synapses"].items()})
    return Model(**proxied)


def to_unit(value, unit: Unit, what="value") -> float:
    """A number in ``unit`` from a number (already in ``unit``), a string with a unit, or a Brian2 quantity.

    Strings and quantities are checked against ``unit``'s dimension. For whole sets of
    overrides (aliases, per-neuron arrays, bounds, constraints) use
    :func:`lifbridge.overrides.resolve`.
    """
    if isinstance(value, str) or (type(value).__module__ or "").startswith("brian2"):
        # strings and Brian2 quantities: dimension checked (lifbridge.overrides)
        from .overrides import convert

        number = convert(value, unit, what)
        if not isinstance(number, float):
            raise ParameterError(f"{what}: {len(number)} values given where one value is expected")
        return number
    if isinstance(value, bool):
        raise ParameterError(f"{what}: {value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{what}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ParameterError(f"{what}: {value!r} is not a finite number")
    return number
