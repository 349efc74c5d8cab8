"""Brian2 backend: a model becomes the arguments of ``brian2.NeuronGroup``.

* :func:`to_brian2` prints the equations, threshold, reset, refractory period,
  integration method and namespace (a :class:`Brian2Code`);
* :func:`neuron_group` returns a ready ``NeuronGroup`` with parameter overrides, read
  and unit-checked by :func:`lifbridge.overrides.resolve` (scalars go into the
  namespace, per-neuron values become per-neuron parameters; the bias current ``I_e``
  is always per-neuron, so ``group.I_e = '1*nA*i/N'`` works);
* :func:`synapses` returns a ``Synapses`` onto a spike input with NEST's signed
  weights checked, :func:`on_pre` prints the statement for one made by hand, and
  :func:`check_weights` checks weights set later;
* :func:`generate_script` writes Python code to paste into a plain Brian2 script.

Continuous inputs (``I_stim``, the light intensity ``phi``) are per-neuron variables
that a script may set, unless ``inputs={"I_stim": "stimulus(t)"}`` replaces them with
an expression (e.g. of a ``TimedArray`` in the namespace).

What the generated code promises, whatever the integration method:

* weights follow NEST's sign convention (inhibitory ports take weights <= 0) and
  ``on_pre`` names only the synapse's weight and the target neuron's own variables;
* linear synaptic kinetics are updated exactly at every step (:meth:`Model.linear_subsystem`);
* the refractory clamp is released at the grid point ``t_spike + t_ref``, with
  ``t_spike`` the grid point at which the crossing is found (one step after Brian2's
  own spike stamp), as NEST's models release it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import expr as ex
from .errors import ParameterError, UnitError
from .model import Model
from .overrides import convert, resolve
from .units import (AMP, DIMENSIONLESS, FARAD, HERTZ, METRE, OHM, SECOND, SIEMENS, UNIT_SYMBOLS, VOLT, WATT,
                    Unit, parse_quantity)

# Brian2 spells some unit symbols differently from lifbridge.
_BRIAN2_UNIT_NAMES = {"GOhm": "Gohm", "MOhm": "Mohm", "kOhm": "kohm", "Ohm": "ohm", "pS": "psiemens",
                      "mW": "mwatt", "uW": "uwatt", "nW": "nwatt", "kW": "kwatt"}
_BASE_UNIT_NAMES = [(VOLT, "volt"), (AMP, "amp"), (SECOND, "second"), (FARAD, "farad"), (SIEMENS, "siemens"),
                    (OHM, "ohm"), (HERTZ, "hertz"), (WATT, "watt"), (METRE, "metre"),
                    (WATT / METRE ** 2, "watt/metre**2"), (SIEMENS / METRE ** 2, "siemens/metre**2"),
                    (AMP / METRE ** 2, "amp/metre**2"), (FARAD / METRE ** 2, "farad/metre**2"),
                    (AMP / SECOND, "amp/second"), (VOLT / SECOND, "volt/second"),
                    (HERTZ / (WATT / METRE ** 2), "metre**2/watt/second")]
_SI_BASES = ("metre", "kilogram", "second", "amp", "kelvin", "mole", "candela")

METHOD_REASONS = {
    "exact": "exact integration: the equations are linear with constant coefficients",
    "exponential_euler": "exponential Euler: conditionally linear gating/conductance equations (HH-type)",
    "rk4": "4th-order Runge-Kutta: nonlinear equations without a closed-form solution",
    "rk2": "2nd-order Runge-Kutta (midpoint)",
    "heun": "Heun's method (stochastic-safe 2nd order)",
    "euler": "forward Euler",
    "milstein": "Milstein (stochastic)",
}


def brian2_base_unit(dim) -> str:
    """The Brian2 declaration unit for a dimension (``volt``, ``amp``, ``1`` ...)."""
    if dim == DIMENSIONLESS:
        return "1"
    for known, name in _BASE_UNIT_NAMES:
        if dim == known:
            return name
    parts = [f"{base}**{e}" if e != 1 else base for base, e in zip(_SI_BASES, dim.exponents) if e != 0]
    return "*".join(parts)


def brian2_unit_symbol(name: str) -> str:
    """The Brian2 name of a lifbridge unit symbol (``mV`` stays ``mV``, ``GOhm`` -> ``Gohm``)."""
    return _BRIAN2_UNIT_NAMES.get(name, name)


def brian2_unit_text(unit: Unit) -> str:
    """A Brian2 expression for ``unit`` (``pF``, ``mS/cm**2``; else ``scale*base``)."""
    if unit.is_dimensionless and unit.scale == 1.0:
        return "1"
    try:
        import ast

        tree = ast.parse(unit.name.replace("^", "**"), mode="eval").body
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        if names and all(n in UNIT_SYMBOLS and len(n) > 1 for n in names):
            text = unit.name.replace("^", "**")
            for n in sorted(names, key=len, reverse=True):
                if n in _BRIAN2_UNIT_NAMES:
                    text = text.replace(n, _BRIAN2_UNIT_NAMES[n])
            return text
    except SyntaxError:
        pass
    return f"{unit.scale!r}*{brian2_base_unit(unit.dim)}"


class Brian2Printer(ex.ExpressionPrinter):
    """Prints expression trees as Brian2 code strings."""

    known_functions = {"exp": "exp", "log": "log", "sqrt": "sqrt", "abs": "abs", "tanh": "tanh",
                       "sinh": "sinh", "cosh": "cosh"}

    def __init__(self, model: Model, rename=None):
        self.model = model
        self.rename = rename or {}
        self.dims = {name: model.unit_of(name).dim for name in _all_names(model)}

    def symbol(self, name):
        return self.rename.get(name, name)

    def unit_literal(self, name):
        return brian2_unit_symbol(name)

    def _print_Call(self, node):
        if node.func in ("min", "max"):
            # Brian2 has no min/max; clip(a, -inf, b) is min(a, b), clip(a, b, inf) is max(a, b).
            a, b = (self._print(arg)[0] for arg in node.args)
            unit = brian2_base_unit(ex.dimension_of(node.args[0], self.dims))
            inf = "inf" if unit == "1" else f"inf*{unit}"
            text = f"clip({a}, -{inf}, {b})" if node.func == "min" else f"clip({a}, {b}, {inf})"
            return text, 9
        return super()._print_Call(node)


def _all_names(model):
    names = set(model.parameters) | set(model.state) | set(model.aliases) | set(model.continuous_inputs)
    return names | {"t"}


@dataclass
class Brian2Code:
    """Everything ``NeuronGroup`` needs; ``namespace`` holds Brian2 quantities.

    ``exact`` lists the state variables updated exactly every step (see
    :meth:`Model.linear_subsystem`); ``exact_code`` is the ``run_regularly`` code that does
    it, as (code, when) pairs, which :meth:`attach` adds to a group.
    """

    model: str
    equations: str
    threshold: str | None
    reset: str | None
    refractory: str | bool
    method: str
    namespace: dict = field(default_factory=dict)
    per_neuron: tuple = ()
    input_expressions: dict = field(default_factory=dict)
    exact: tuple = ()
    exact_code: tuple = ()

    def kwargs(self):
        """Keyword arguments for ``brian2.NeuronGroup(N, **code.kwargs())``."""
        import brian2

        kwargs = {"model": brian2.Equations(self.equations), "method": self.method, "namespace": dict(self.namespace)}
        if self.threshold:
            kwargs["threshold"] = self.threshold
        if self.reset:
            kwargs["reset"] = self.reset
        if self.refractory:
            kwargs["refractory"] = self.refractory
        return kwargs

    def attach(self, group):
        """Add the exact updates of the linear state variables to ``group`` (a NeuronGroup made from
        :meth:`kwargs`); returns the ``run_regularly`` objects (already part of the group)."""
        return [group.run_regularly(code, when=when, name=f"{group.name}_exact_{when}")
                for code, when in self.exact_code]


def integration_method(model: Model) -> str:
    """The Brian2 integration method for the model: the model's hint, else rk4."""
    return model.hints.get("brian2_method", "rk4")


# ---------------------------------------------------------------------------- exact linear part
def _next_name(model, x):
    taken = _all_names(model) | set(model.parameters)
    name = f"lifbridge_next_{x}"
    while name in taken:
        name += "_"
    return name


def _exact_updates(model: Model, variables, printer):
    """(code computing the next values, code assigning them) for ``variables``, from Brian2's exact solver."""
    import brian2
    from brian2.stateupdaters.exact import linear

    lines = []
    for x in variables:
        rhs = printer.doprint(model.expand_aliases(model.equations[x]))
        lines.append(f"d{x}/dt = {rhs} : {brian2_base_unit(model.state[x].unit.dim)}")
    abstract = linear(brian2.Equations("\n".join(lines)), variables=None)
    temporaries = {}
    for line in str(abstract).splitlines():
        target, _, value = line.partition(" = ")
        if target.startswith("_") and target[1:] in variables:
            temporaries[target[1:]] = value.strip()
    if set(temporaries) != set(variables):
        raise ValueError("Brian2's exact solver gave no update for " + ", ".join(sorted(set(variables) - set(temporaries))))
    prepare = "\n".join(f"{_next_name(model, x)} = {temporaries[x]}" for x in variables)
    assign = "\n".join(f"{x} = {_next_name(model, x)}" for x in variables)
    return prepare, assign


def _own_rate(model, x, variables, values):
    """-d(dx/dt)/dx of the linear system ``variables`` (1/s), from the expression tree at ``values`` (SI)."""
    rhs = model.expand_aliases(model.equations[x])
    zeros = {v: 0.0 for v in variables}
    at_one = ex.evaluate(rhs, {**values, **zeros, x: 1.0})
    at_zero = ex.evaluate(rhs, {**values, **zeros})
    with np.errstate(all="ignore"):   # a zero time constant gives inf - inf: not this check's to report
        return -(np.asarray(at_one, dtype=float) - np.asarray(at_zero, dtype=float))


#: Relative gap below which two coupled time constants make Brian2's closed-form exact update
#: lose its digits: the error grows as (1e-16 / gap**2) (measured for lif_psc_alpha's PSP:
#: 0.09 mV of 2 mV at 1e-6 apart, 6e-6 mV at 1e-4, 4e-8 mV at 1e-3).
EQUAL_TIME_CONSTANTS_RTOL = 1e-3


def check_exact_solution(model: Model, variables, values_si: dict, where: str):
    """Brian2's exact solver writes the update of a linear system in closed form, symbol by
    symbol: where a variable is driven by another whose own decay rate is equal (or within
    :data:`EQUAL_TIME_CONSTANTS_RTOL`) in value but written with other parameters (the LIF's
    tau_m and a synaptic tau_syn of the same value), that closed form is 0/0 (NaN from the
    first step) or loses its digits to cancellation. One-line ParameterError naming the two
    variables, their time constants and the fix."""
    variables = [v for v in variables if v in model.equations]
    if len(variables) < 2:
        return
    state = set(model.state)
    values_si = {**{name: 0.0 for name in model.inputs}, "t": 0.0, **values_si}
    # rates at the values, and at parameters perturbed one by one (equal only if written alike)
    rates = {x: _own_rate(model, x, variables, values_si) for x in variables}
    rng = np.random.default_rng(0)
    perturbed = {k: v * (1.0 + 0.1 * rng.random()) for k, v in values_si.items()}
    other = {x: _own_rate(model, x, variables, perturbed) for x in variables}
    for x in variables:
        driven_by = ex.symbols(model.expand_aliases(model.equations[x])) & state - {x}
        for y in sorted(driven_by & set(variables)):
            with np.errstate(all="ignore"):
                close = np.isclose(rates[x], rates[y], rtol=EQUAL_TIME_CONSTANTS_RTOL, atol=0.0) \
                    & (rates[x] != 0) & np.isfinite(rates[x])
            alike = np.isclose(other[x], other[y], rtol=1e-12, atol=0.0)
            bad = np.atleast_1d(close & ~alike)
            if bad.any():
                neuron = int(np.flatnonzero(bad)[0])
                tau_x = float(np.atleast_1d(1e3 / rates[x])[min(neuron, np.size(rates[x]) - 1)])
                tau_y = float(np.atleast_1d(1e3 / rates[y])[min(neuron, np.size(rates[y]) - 1)])
                where_neuron = f" (neuron {neuron})" if np.size(bad) > 1 else ""
                raise ParameterError(f"{where}: {x} and {y} decay with time constants {tau_x:.7g} ms and "
                                     f"{tau_y:.7g} ms{where_neuron}, equal to within "
                                     f"{EQUAL_TIME_CONSTANTS_RTOL:.1%}: Brian2's closed-form exact update is 0/0 or "
                                     f"loses its digits there; make them differ by at least "
                                     f"{EQUAL_TIME_CONSTANTS_RTOL:.1%} or pass method=\"rk4\"")


def _refractory_condition(period_text: str) -> str:
    # Refractory while no more than steps(t_ref) steps have passed since the step of the
    # spike: the clamp is released at the grid point t_spike + t_ref (spike times as
    # lifbridge reports them, one step after Brian2's stamp), as in NEST's models, which
    # count steps(t_ref) clamped steps after the step of the spike.
    return f"timestep(t - lastspike, dt) <= timestep({period_text}, dt)"


def on_spike_parameters(model: Model) -> tuple:
    """Parameters that spike-input statements use (also through named expressions): they
    are per-neuron variables of the group, so that ``Synapses`` reach them as ``<name>_post``."""
    used = set()
    for port in model.spike_inputs.values():
        for statement in port.on_spike:
            used |= ex.symbols(model.expand_aliases(statement.value))
    return tuple(p for p in model.parameters if p in used)


def to_brian2(model: Model, per_neuron=("I_e",), inputs=None, method=None) -> Brian2Code:
    """Translate ``model`` for Brian2.

    ``per_neuron``: parameters that become per-neuron variables (settable on the group)
    instead of namespace constants; parameters that spike inputs use are always
    per-neuron. ``inputs``: continuous input name -> Brian2 expression replacing the
    default settable per-neuron variable. ``method``: the integration method (default
    the model's hint). Unless it is ``exact``, the state variables of
    :meth:`Model.linear_subsystem` are also updated exactly at every step: the integrator
    moves them through the step as usual (so the membrane sees them change within the
    step), then their values are replaced by the exact solution, computed before the
    integration from the values at the start of the step.
    """
    inputs = dict(inputs or {})
    unknown = set(inputs) - set(model.continuous_inputs)
    if unknown:
        raise ValueError(f"model {model.name!r} has no continuous input {sorted(unknown)[0]!r}; "
                         f"inputs: {', '.join(model.continuous_inputs) or 'none'}")
    per_neuron = tuple(dict.fromkeys(p for p in tuple(per_neuron) + on_spike_parameters(model)
                                     if p in model.parameters))
    method = method or integration_method(model)
    printer = Brian2Printer(model)
    clamp = set(model.refractory.clamp) if model.refractory else set()
    lines = []
    for name, var in model.state.items():
        flag = " (unless refractory)" if name in clamp else ""
        rhs = printer.doprint(model.equations[name])
        lines.append(f"d{name}/dt = {rhs} : {brian2_base_unit(var.unit.dim)}{flag}")
    for name in model.aliases_in_order():
        alias = model.aliases[name]
        lines.append(f"{name} = {printer.doprint(alias.expr)} : {brian2_base_unit(alias.unit.dim)}")
    for name, port in model.continuous_inputs.items():
        unit = brian2_base_unit(port.unit.dim)
        if name in inputs:
            lines.append(f"{name} = {inputs[name]} : {unit}")
        else:
            lines.append(f"{name} : {unit}")
    for name in per_neuron:
        lines.append(f"{name} : {brian2_base_unit(model.parameters[name].unit.dim)} (constant)")
    exact, exact_code = (), ()
    if method not in ("exact", "linear"):   # "linear" is Brian2's other name for "exact"
        exact = model.linear_subsystem()
        if exact:
            try:
                prepare, assign = _exact_updates(model, exact, printer)
            except Exception:  # Brian2 could not solve it: leave the integrator alone
                exact = ()
            else:
                for x in exact:
                    lines.append(f"{_next_name(model, x)} : {brian2_base_unit(model.state[x].unit.dim)}")
                exact_code = ((prepare, "before_groups"), (assign, "after_groups"))
    namespace = {name: quantity(p.value, p.unit) for name, p in model.parameters.items() if name not in per_neuron}
    threshold = printer.doprint(model.spike.condition) if model.spike else None
    reset = "\n".join(f"{a.target} {a.op} {printer.doprint(a.value)}" for a in model.spike.reset) if model.spike else None
    refractory = _refractory_condition(printer.doprint(model.refractory.period)) if model.refractory else False
    return Brian2Code(model.name, "\n".join(lines), threshold, reset or None, refractory,
                      method, namespace, per_neuron, inputs, exact, exact_code)


def quantity(value, unit: Unit):
    """A Brian2 quantity for ``value`` in ``unit`` (arrays allowed)."""
    import brian2

    base = brian2.Quantity(1.0, dim=_brian2_dimension(unit.dim))
    return np.asarray(value, dtype=float) * unit.scale * base if np.ndim(value) else float(value) * unit.scale * base


def _brian2_dimension(dim):
    from brian2.units.fundamentalunits import get_or_create_dimension

    return get_or_create_dimension([float(e) for e in dim.exponents])


def neuron_group(model: Model, N: int, *, inputs=None, per_neuron=("I_e",), method=None, dt=None,
                 name=None, **overrides):
    """A ``brian2.NeuronGroup`` of ``N`` neurons of ``model``, initialised to the model's initial state.

    ``overrides``: parameter (or initial state) values, read by
    :func:`lifbridge.overrides.resolve`: a string with a unit (``"250pF"``), a number
    in the spec's unit, a Brian2 quantity (dimension checked), or one value per
    neuron (a list, array or array quantity of length N, which makes that parameter
    per-neuron). NEST's names (``tau_syn_ex``, ``E_in`` ...) are accepted.
    """
    import brian2

    resolved = resolve(model, overrides, n=N, where=f"neuron_group({model.name}): ")
    per_neuron = list(per_neuron) + [k for k in resolved.per_neuron if k in model.parameters]
    code = to_brian2(resolved.model, per_neuron=per_neuron, inputs=inputs, method=method)
    exact = tuple(resolved.model.state) if code.method in ("exact", "linear") else code.exact
    check_exact_solution(resolved.model, exact, resolved.parameter_values_si(), f"neuron_group({model.name})")
    kwargs = code.kwargs()
    if dt is not None:
        kwargs["dt"] = dt
    if name:
        kwargs["name"] = name
    group = brian2.NeuronGroup(N, **kwargs)
    code.attach(group)
    values = resolved.parameter_values()
    for key in code.per_neuron:
        setattr(group, key, quantity(values[key], model.parameters[key].unit))
    for key, value in resolved.initial_values().items():
        setattr(group, key, quantity(value, model.state[key].unit))
    return group


#: The default name of the weight variable of a ``Synapses`` object. Model files cannot
#: declare a variable called ``weight`` (it is reserved), so it never clashes.
WEIGHT = "weight"
_BRIAN2_GROUP_NAMES = {"t", "dt", "i", "j", "N", "lastspike", "not_refractory", "xi", "delay", "lastupdate",
                       "N_incoming", "N_outgoing"}


def _check_weight_name(model: Model, weight: str, where: str):
    if not isinstance(weight, str) or not weight.isidentifier() or weight.startswith("_") \
            or weight.endswith(("_pre", "_post")):
        raise ParameterError(f"{where}: weight name {weight!r} is not a Brian2 variable name; "
                             f"use a plain name such as {WEIGHT!r}")
    taken = _all_names(model) | set(model.parameters) | _BRIAN2_GROUP_NAMES
    if weight in taken or weight.startswith("lifbridge_"):
        raise ParameterError(f"{where}: weight name {weight!r} is also a name of the {model.name} neurons; "
                             f"choose another, e.g. the default {WEIGHT!r}")


def _targets(model: Model, port, where):
    """[(port, part)] for a spike input (part None: the weight as given) or, for port None or
    "spikes", NEST's receptor 0: the positive part to the excitatory port, the negative part to
    the inhibitory port."""
    spike_inputs = model.spike_inputs
    if port in (None, "spikes") and "spikes" not in spike_inputs:
        exc = [p for p in spike_inputs.values() if p.sign == "excitatory"]
        inh = [p for p in spike_inputs.values() if p.sign == "inhibitory"]
        if len(exc) != 1 or len(inh) != 1:
            raise ValueError(f"{where}: model {model.name!r} has no single excitatory and inhibitory spike input "
                             f"to route weights by their sign; name the port: {', '.join(spike_inputs) or 'none'}")
        if exc[0].unit.dim != inh[0].unit.dim:
            raise ValueError(f"{where}: {exc[0].name} and {inh[0].name} take weights in different units; name the port")
        return [(exc[0], "positive"), (inh[0], "negative")]
    if port not in spike_inputs:
        raise ValueError(f"{where}: model {model.name!r} has no spike input {port!r}; spike inputs: "
                         f"{', '.join(spike_inputs) or 'none'} (or port=None to route weights by sign, as NEST does)")
    return [(spike_inputs[port], None)]


def on_pre(model: Model, port: str | None = None, weight: str = WEIGHT) -> str:
    """The ``Synapses`` ``on_pre`` code that delivers a spike of weight ``weight`` to the neurons.

    Weights follow NEST's sign convention: a weight onto an excitatory port is >= 0, a
    weight onto an inhibitory port is <= 0 (``-90*pA`` inhibits with a 90 pA jump, as
    NEST's ``iaf_psc_exp`` and Brian2's CUBA example have it). With ``port=None`` (or
    ``"spikes"``) the weight is routed by its sign, as NEST routes receptor 0: a
    positive weight goes to the excitatory port, a negative one to the inhibitory port.
    :func:`synapses` builds the ``Synapses`` object and checks the weights' sign.

    The code names only the synapse's ``weight`` and the target neuron's own variables
    (``<name>_post``): parameters that a spike uses are per-neuron variables of every
    group :func:`neuron_group` makes, so nothing resolves to a script's names. A statement
    on a variable the refractory period clamps (a delta synapse's jump of ``V_m``) is
    gated by ``not_refractory_post``: a spike arriving while the neuron is refractory is
    dropped, as NEST's ``iaf_psc_delta`` and ``aeif_psc_delta`` drop it.
    """
    where = f"on_pre({model.name}, {port!r})"
    _check_weight_name(model, weight, where)
    rename = {n: f"{n}_post" for n in _all_names(model) | set(model.parameters) if n != "t"}
    clamp = set(model.refractory.clamp) if model.refractory else set()
    lines = []
    for target, part in _targets(model, port, where):
        unit = brian2_base_unit(target.unit.dim)
        zero, inf = ("0", "inf") if unit == "1" else (f"0*{unit}", f"inf*{unit}")
        if part == "positive":
            value = f"clip({weight}, {zero}, {inf})"
        elif part == "negative":
            value = f"(-clip({weight}, -{inf}, {zero}))"
        else:
            value = weight if target.sign == "excitatory" else f"(-{weight})"
        printer = Brian2Printer(model, rename=dict(rename, weight=value))
        printer.dims["weight"] = target.unit.dim
        lines += [_statement(a, printer.doprint(a.value), clamp) for a in target.on_spike]
    return "\n".join(lines)


def _statement(a, value, clamp):
    """``target_post op value``; a variable the refractory period clamps does not move while the
    neuron is refractory, so a spike then changes nothing (NEST's delta synapses drop such spikes)."""
    target = f"{a.target}_post"
    if a.target not in clamp:
        return f"{target} {a.op} {value}"
    gate = "int(not_refractory_post)"
    if a.op in ("+=", "-="):
        return f"{target} {a.op} {gate}*({value})"
    if a.op == "*=":
        return f"{target} *= 1 + {gate}*(({value}) - 1)"
    return f"{target} = {target} + {gate}*(({value}) - {target})"


def _port_unit(model, port, where):
    return _targets(model, port, where)[0][0].unit


def _check_sign(model, port, values, unit, where):
    """ParameterError if a weight (in ``unit``) has the wrong sign for ``port``."""
    targets = _targets(model, port, where)
    if len(targets) != 1:
        return
    target = targets[0][0]
    values = np.atleast_1d(np.asarray(values, dtype=float))
    bad = np.flatnonzero(values < 0) if target.sign == "excitatory" else np.flatnonzero(values > 0)
    if bad.size == 0:
        return
    k = int(bad[0])
    which = f" (synapse {k} of {values.size})" if values.size > 1 else ""
    shown = f"{values[k]:g} {unit.name}"
    if target.sign == "excitatory":
        raise ParameterError(f"{where}: weight {shown}{which} is negative, but {target.name} is excitatory and "
                             f"takes weights >= 0; connect negative weights to the inhibitory port, or use "
                             f"port=None to route by sign as NEST does")
    raise ParameterError(f"{where}: weight {shown}{which} is positive, but {target.name} takes NEST's sign "
                         f"convention, weights <= 0 for inhibition; give {-values[k]:g} {unit.name}")


def synapses(source, target, model: Model, port: str | None = None, *, weight=None, connect=None,
             weight_name: str = WEIGHT, **kwargs):
    """A ``brian2.Synapses`` from ``source`` to ``target`` (a group of ``model`` neurons) onto ``port``.

    ``weight``: NEST's signed weight in the port's unit (inhibitory ports take
    negative weights, see :func:`on_pre`): a Brian2 quantity, a string with a unit
    (``"-90pA"``), a number in the port's unit, or one value per synapse. It is set
    after connecting, so it needs ``connect``: a dict of ``Synapses.connect`` arguments
    (``dict(i=pre, j=post)``, ``dict(p=0.02)``), a condition string or ``True``
    (all to all). Its dimension and sign are checked here: a wrong one is a one-line
    ParameterError. Any other Brian2 expression string (``"-rand()*90*pA"``) is set as
    given and checked after it is set (runtime mode). Other keyword arguments go to
    ``Synapses`` (``delay``, ``name``, ``method``, ``namespace`` ...).

    Weights set later on ``S.weight`` are not checked: that is the caller's
    responsibility; :func:`check_weights` checks them (runtime mode, or after the run
    in ``cpp_standalone``)::

        S = synapses(P, group, lif, "inh_spikes", weight=-90*pA, connect=dict(p=0.02))
    """
    import brian2

    where = f"synapses onto {model.name}" + (f".{port}" if port else "")
    for key in ("model", "on_pre", "on_post"):
        if key in kwargs:
            raise ParameterError(f"{where}: {key}= is set by lifbridge; build brian2.Synapses yourself with "
                                 f"on_pre=lifbridge.brian2.on_pre(model, port) to add your own")
    _check_weight_name(model, weight_name, where)
    unit = _port_unit(model, port, where)
    values = None
    if weight is not None:
        if connect is None:
            raise ParameterError(f"{where}: weight= needs connect= (e.g. connect=dict(i=pre, j=post)); or set "
                                 f"S.{weight_name} after S.connect(...) and call check_weights(S, model, port)")
        values = weight
        if not (isinstance(weight, str) and _is_brian2_expression(weight, unit)):
            try:
                values = convert(weight, unit, weight_name)
            except ParameterError as error:
                raise ParameterError(f"{where}: {error}") from None
            _check_sign(model, port, values, unit, where)
    S = brian2.Synapses(source, target, model=f"{weight_name} : {brian2_base_unit(unit.dim)}",
                        on_pre=on_pre(model, port, weight_name), **kwargs)
    if connect is not None:
        if isinstance(connect, dict):
            S.connect(**connect)
        elif connect is True:
            S.connect()
        elif isinstance(connect, str):
            S.connect(condition=connect)
        else:
            raise ParameterError(f"{where}: connect= takes a dict of Synapses.connect arguments, a condition "
                                 f"string or True, not {type(connect).__name__}")
    if values is not None:
        if np.ndim(values) and brian2.get_device().__class__.__name__ == "RuntimeDevice" and len(values) != len(S):
            raise ParameterError(f"{where}: {len(values)} weights given for {len(S)} synapses; give one weight "
                                 f"or one per synapse")
        if isinstance(values, str):
            setattr(S, weight_name, values)
            if brian2.get_device().__class__.__name__ == "RuntimeDevice":
                check_weights(S, model, port, weight_name)
        else:
            setattr(S, weight_name, quantity(values, unit))
    return S


def _is_brian2_expression(text, unit):
    """True if ``text`` is not a plain number with a unit (it is then a Brian2 expression)."""
    try:
        parse_quantity(text, default_unit=unit)
    except UnitError:
        return True
    return False


def check_weights(S, model: Model, port: str | None = None, weight_name: str = WEIGHT):
    """Check the dimension and sign of every weight of ``S`` (a Synapses onto ``model`` neurons)
    for ``port``; raises ParameterError (one line) at the first wrong one.

    Reads the values, so in ``cpp_standalone`` it works only after the run."""
    from brian2.units.fundamentalunits import get_dimensions

    where = f"check_weights({model.name}" + (f", {port!r})" if port else ")")
    unit = _port_unit(model, port, where)
    try:
        values = getattr(S, weight_name)[:]
    except NotImplementedError:
        raise ParameterError(f"{where}: the weights of a cpp_standalone network are known only after the run; "
                             f"call check_weights after run()") from None
    if get_dimensions(values) != _brian2_dimension(unit.dim):
        raise ParameterError(f"{where}: {weight_name} has the dimension of {get_dimensions(values)}, "
                             f"{port or 'the spike inputs'} takes {unit.name}")
    _check_sign(model, port, np.asarray(values) / unit.scale, unit, where)


def generate_script(model: Model) -> str:
    """Python source defining the model's Brian2 equations, ready to paste into a Brian2 script.

    Free text of the model (description, reference, descriptions, units in comments)
    goes into comments folded to one line (:func:`lifbridge.text.comment_text`), and
    every name printed as code must be a Python identifier, so nothing from a model
    can become a statement of the script.
    """
    import keyword

    from .errors import ExpressionError
    from .text import comment_text, show

    def check(name, what):
        if not (isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)):
            raise ExpressionError(f"model {show(model.name)}: {what} {show(name)} is not a Python identifier; "
                                  f"it cannot be written into a Brian2 script")

    check(model.name, "the model name")
    for what, table in (("parameter", model.parameters), ("state variable", model.state),
                        ("expression", model.aliases), ("input", model.inputs)):
        for declared in table:
            check(declared, what)
    code = to_brian2(model)
    # A readable triple-quoted block, unless the text could end it early (then a plain repr).
    one_line = code.equations.replace("\n", " ")
    if "'''" in code.equations or "\\" in code.equations or comment_text(one_line) != one_line:
        equations = [f"{model.name}_equations = {code.equations!r}"]
    else:
        equations = [f"{model.name}_equations = '''", code.equations, "'''"]
    name = model.name
    lines = [
        f"# Brian2 code for the lifbridge model {name!r}: {comment_text(model.description)}.",
        f"# Source: {comment_text(model.reference)}",
        "# Generated by lifbridge from the model spec; units are Brian2's.",
        "from brian2 import *",
        "",
        f"{name}_namespace = {{",
    ]
    for pname, p in model.parameters.items():
        if pname in code.namespace:
            desc = f"  # {comment_text(p.description)}" if p.description else ""
            lines.append(f"    {pname!r}: {_value_text(p.value, p.unit)},{desc}")
    lines += ["}", "", *equations, ""]
    reason = METHOD_REASONS.get(code.method, "see the Brian2 documentation")
    lines.append(f"# Integration method: {comment_text(code.method)} ({reason}).")
    args = [f"model={name}_equations"]
    if code.threshold:
        args.append(f"threshold={code.threshold!r}")
    if code.reset:
        args.append(f"reset={code.reset!r}")
    if code.refractory:
        args.append(f"refractory={code.refractory!r}")
    args += [f"method={code.method!r}", f"namespace={name}_namespace"]
    lines.append(f"{name}_kwargs = dict(" + ", ".join(args) + ")")
    lines += ["", "", f"def {name}_group(N, **kwargs):",
              f"    \"\"\"A NeuronGroup of N {name} neurons in their initial state.\"\"\"",
              f"    group = NeuronGroup(N, **{name}_kwargs, **kwargs)"]
    for pname in code.per_neuron:
        p = model.parameters[pname]
        lines.append(f"    group.{pname} = {_value_text(p.value, p.unit)}")
    for sname, var in model.state.items():
        if isinstance(var.initial, float):
            value = _value_text(var.initial, var.unit)
        else:
            value = repr(Brian2Printer(model).doprint(var.initial))
        lines.append(f"    group.{sname} = {value}")
    if code.exact_code:
        lines.append(f"    # exact update of {', '.join(code.exact)} at every step (linear, constant coefficients)")
        for text, when in code.exact_code:
            lines.append(f"    group.run_regularly({text!r}, when={when!r})")
    for iname, port in model.continuous_inputs.items():
        lines.append(f"    # group.{iname}: continuous input ({comment_text(port.unit.name)}), 0 unless set")
    if model.spike_inputs:
        signs = ", ".join(f"{'>= 0' if p.sign == 'excitatory' else '<= 0'} onto {n}" for n, p in model.spike_inputs.items())
        lines.append(f"    # spike weights follow NEST's sign convention: {signs}")
    for port in model.spike_inputs:
        lines.append(f"    # spikes into {port}: Synapses(source, group, '{WEIGHT} : {brian2_base_unit(model.inputs[port].unit.dim)}', "
                     f"on_pre={comment_text(repr(on_pre(model, port)))})")
    lines += ["    return group", ""]
    return "\n".join(lines)


def _value_text(value, unit: Unit) -> str:
    """``value`` in ``unit`` as a Brian2 expression (``250.0*pF``); a unit name that is
    not a plain product of unit symbols and numbers is written as ``scale*base``."""
    import ast

    unit_text = brian2_unit_text(unit)
    if unit_text == "1":
        return repr(float(value))
    allowed = (ast.Expression, ast.Name, ast.Load, ast.BinOp, ast.Mult, ast.Div, ast.Pow, ast.UnaryOp, ast.USub,
               ast.Constant)
    try:
        tree = ast.parse(unit_text, mode="eval")
        plain = all(isinstance(node, allowed) for node in ast.walk(tree)) and all(
            isinstance(node.value, (int, float)) for node in ast.walk(tree) if isinstance(node, ast.Constant))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        plain = False
    if not plain:
        unit_text = f"{float(unit.scale)!r}*{brian2_base_unit(unit.dim)}"
    return f"{float(value)!r}*{unit_text}"

