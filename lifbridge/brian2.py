"""Brian2 backend: a model becomes the arguments of ``brian2.NeuronGroup``.

* :func:`to_brian2` prints the equations, threshold, reset, refractory period,
  integration method and namespace (a :class:`Brian2Code`);
* :func:`neuron_group` returns a ready ``NeuronGroup`` with parameter overrides
  (scalars go into the namespace, per-neuron values become per-neuron parameters;
  the bias current ``I_e`` is always per-neuron, so ``group.I_e = '1*nA*i/N'`` works);
* :func:`generate_script` writes Python code to paste into a plain Brian2 script.

Continuous inputs (``I_stim``, the light intensity ``phi``) are per-neuron variables
that a script may set, unless ``inputs={"I_stim": "stimulus(t)"}`` replaces them with
an expression (e.g. of a ``TimedArray`` in the namespace). Spike inputs are reached
by ``Synapses`` with the statement :func:`on_pre` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import expr as ex
from .model import Model
from .overrides import resolve
from .units import (AMP, DIMENSIONLESS, FARAD, HERTZ, METRE, OHM, SECOND, SIEMENS, UNIT_SYMBOLS, VOLT, WATT,
                    Unit)

# Brian2 spells some unit symbols differently from lifbridge.
_BRIAN2_UNIT_NAMES = {"GOhm": "Gohm", "MOhm": "Mohm", "kOhm": "kohm", "Ohm": "ohm", "pS": "psiemens",
                      "mW": "mwatt", "uW": "uwatt", "nW": "nwatt", "kW": "kwatt"}
_BASE_UNIT_NAMES = [(VOLT, "volt"), (AMP, "amp"), (SECOND, "second"), (FARAD, "farad"), (SIEMENS, "siemens"),
                    (OHM, "ohm"), (HERTZ, "hertz"), (WATT, "watt"), (METRE, "metre"),
                    (WATT / METRE ** 2, "watt/metre**2"), (SIEMENS / METRE ** 2, "siemens/metre**2"),
                    (AMP / METRE ** 2, "amp/metre**2"), (FARAD / METRE ** 2, "farad/metre**2"),
                    (AMP / SECOND, "amp/second"), (VOLT / SECOND, "volt/second"),
                    (HERTZ / (WATT / METRE ** 2), "metre**2/(watt*second)")]
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
    """Everything ``NeuronGroup`` needs; ``namespace`` holds Brian2 quantities."""

    model: str
    equations: str
    threshold: str | None
    reset: str | None
    refractory: str | bool
    method: str
    namespace: dict = field(default_factory=dict)
    per_neuron: tuple = ()
    input_expressions: dict = field(default_factory=dict)

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


def integration_method(model: Model) -> str:
    """The Brian2 integration method for the model: the model's hint, else rk4."""
    return model.hints.get("brian2_method", "rk4")


def to_brian2(model: Model, per_neuron=("I_e",), inputs=None) -> Brian2Code:
    """Translate ``model`` for Brian2.

    ``per_neuron``: parameters that become per-neuron variables (settable on the group)
    instead of namespace constants. ``inputs``: continuous input name -> Brian2
    expression replacing the default settable per-neuron variable.
    """
    inputs = dict(inputs or {})
    unknown = set(inputs) - set(model.continuous_inputs)
    if unknown:
        raise ValueError(f"model {model.name!r} has no continuous input {sorted(unknown)[0]!r}; "
                         f"inputs: {', '.join(model.continuous_inputs) or 'none'}")
    per_neuron = tuple(p for p in per_neuron if p in model.parameters)
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
    namespace = {name: quantity(p.value, p.unit) for name, p in model.parameters.items() if name not in per_neuron}
    threshold = printer.doprint(model.spike.condition) if model.spike else None
    reset = "\n".join(f"{a.target} {a.op} {printer.doprint(a.value)}" for a in model.spike.reset) if model.spike else None
    refractory = printer.doprint(model.refractory.period) if model.refractory else False
    return Brian2Code(model.name, "\n".join(lines), threshold, reset or None, refractory,
                      integration_method(model), namespace, per_neuron, inputs)


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
    code = to_brian2(resolved.model, per_neuron=per_neuron, inputs=inputs)
    if method:
        code.method = method
    kwargs = code.kwargs()
    if dt is not None:
        kwargs["dt"] = dt
    if name:
        kwargs["name"] = name
    group = brian2.NeuronGroup(N, **kwargs)
    values = resolved.parameter_values()
    for key in code.per_neuron:
        setattr(group, key, quantity(values[key], model.parameters[key].unit))
    for key, value in resolved.initial_values().items():
        setattr(group, key, quantity(value, model.state[key].unit))
    return group


def on_pre(model: Model, port: str, weight: str = "w") -> str:
    """The ``Synapses`` ``on_pre`` statement that delivers a spike to ``port`` (weight variable ``weight``).

    The weight is the magnitude (``w >= 0``) in the port's unit; names of the
    target neuron get the ``_post`` suffix.
    """
    if port not in model.spike_inputs:
        raise ValueError(f"model {model.name!r} has no spike input {port!r}; spike inputs: "
                         f"{', '.join(model.spike_inputs) or 'none'}")
    rename = {n: f"{n}_post" for n in model.state}
    rename["weight"] = weight
    printer = Brian2Printer(model, rename=rename)
    printer.dims["weight"] = model.inputs[port].unit.dim
    return "\n".join(f"{a.target}_post {a.op} {printer.doprint(a.value)}" for a in model.inputs[port].on_spike)


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
    for iname, port in model.continuous_inputs.items():
        lines.append(f"    # group.{iname}: continuous input ({comment_text(port.unit.name)}), 0 unless set")
    for port in model.spike_inputs:
        lines.append(f"    # spikes into {port}: Synapses(source, group, 'w : {brian2_base_unit(model.inputs[port].unit.dim)}', "
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

