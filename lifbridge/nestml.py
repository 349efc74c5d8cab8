"""NESTML backend: a model becomes a NESTML 9 neuron named ``<model>_neuron``.

What carries over, and how:

* parameters, state variables, expressions (``inline``) and equations keep their
  names and units (NESTML checks the units; a compound unit such as ``pA/ms`` is
  written as a product of unit literals, ``0 * ((1 pA) / (1 ms))``);
* the spike condition and the reset statements become one ``onCondition`` block;
* the absolute refractory period is an integer step counter (``steps(t_ref)``, as NEST's
  own models count it: ``Time(Time::ms(t_ref)).get_steps()``). While it runs, the
  clamped variables are left out of ``integrate_odes`` (they keep the value of the
  reset exactly) and no spike is detected; the counter is decremented before the
  integration of each step, so a neuron that spiked in step k is clamped in steps
  k+1 ... k+steps(t_ref), like NEST's iaf_psc_exp and iaf_cond_exp. The counter
  (``refr_counter``) and the step count (``refr_counts``) are kept out of NEST's status
  dictionary and recordables by lifbridge's NEST templates (:mod:`lifbridge.nest_templates`),
  as NEST's own models keep theirs;
* a spike input whose statement changes a clamped variable (a delta synapse's jump of
  ``V_m``) is dropped while the clamp holds, as NEST's ``iaf_psc_delta`` drops it
  (``refractory_input = false``): its statement runs only when the counter is 0, and
  the counter is set one step longer and decremented before the clamp test, so that the
  steps clamped are the same;
* spike inputs become ``excitatory``/``inhibitory`` spike ports. NEST routes a spike
  arriving on receptor 0 by the sign of its weight: a positive weight goes to the
  excitatory port, a negative weight to the inhibitory port with its sign flipped, so
  ``weight`` in the spec's ``on_spike`` statements is the magnitude (in the port's
  unit), as in NEST's built-ins;
* spike inputs other than one excitatory and one inhibitory port (numbered receptors
  ``rec<n>_spikes``, more than two ports, two of one sign) cannot be told apart by the
  sign of the weight: each becomes a port of its own (NESTML's port without qualifier),
  NEST's ``receptor_type`` 1, 2, ... in the order of the spec (:func:`spike_receptors`),
  as in NEST's ``*_multisynapse`` models; receptor 0 is refused. The weight then arrives
  with its sign, and an inhibitory port, which takes weights <= 0, hands the kinetics
  ``-weight`` (the magnitude), as Brian2's named ports do;
* continuous inputs (``current``, ``light``) become continuous input ports, in the
  order of the spec. NEST delivers a ``CurrentEvent`` to the port whose index is the
  connection's ``receptor_type``: port 0 is the current (``I_stim``), port 1 the light
  (``phi``) of the optogenetic model. The generated neuron lists them in
  ``nest.GetDefaults("<model>_neuron")["continuous_inputs"]`` (name in capitals ->
  receptor type) when it has more than one; :func:`continuous_receptors` gives the
  same mapping without NEST. A ``step_current_generator`` or ``dc_generator`` drives
  the light when connected with ``syn_spec={"receptor_type": 1}`` (its "amplitude"
  is then the intensity in the light port's unit).

The generated files are committed in ``nestml_models/``; regenerate them with::

    python -m lifbridge.nestml            # writes nestml_models/<model>_neuron.nestml
    python -m lifbridge.nestml --check    # exit status 1 if a committed file is stale
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from . import expr as ex
from .errors import ExpressionError
from .model import Model
from .units import UNIT_SYMBOLS, Unit

NESTML_VERSION = "9.0.0"
REFRACTORY_COUNTER = "refr_counter"
REFRACTORY_STEPS = "refr_counts"
RESERVED_NAMES = (REFRACTORY_COUNTER, REFRACTORY_STEPS)
INDENT = "    "
#: Default directory of the committed NESTML files (relative to the repository root).
DEFAULT_DIRECTORY = "nestml_models"
REGENERATE_COMMAND = "python -m lifbridge.nestml"

# lifbridge unit symbols NESTML spells differently
_NESTML_UNIT_NAMES = {"Ohm": "Ohm", "ohm": "Ohm", "kohm": "kOhm", "Mohm": "MOhm", "Gohm": "GOhm",
                      "volt": "V", "amp": "A", "ampere": "A", "second": "s", "farad": "F", "siemens": "S",
                      "hertz": "Hz", "metre": "m", "meter": "m", "watt": "W", "gram": "g", "coulomb": "C"}


def neuron_name(model: Model) -> str:
    """The NEST model name of the generated neuron (``lif`` -> ``lif_neuron``)."""
    return f"{model.name}_neuron"


def continuous_receptors(model: Model) -> dict:
    """Continuous input port -> NEST receptor type of a ``CurrentEvent`` (0, 1, ... in spec order)."""
    return {name: i for i, name in enumerate(model.continuous_inputs)}


_NUMBERED_PORT = re.compile(r"rec[0-9]+_spikes")


def spike_receptors(model: Model) -> dict:
    """Spike port -> NEST receptor type of a ``SpikeEvent`` to the generated neuron.

    Receptor 0 for every port (routed by the sign of the weight) when the ports are at most
    one excitatory and one inhibitory port, none a numbered receptor; otherwise port i of
    the spec takes receptor type i (1, 2, ...), as NEST's ``*_multisynapse`` models.
    """
    ports = model.spike_inputs
    signs = [p.sign for p in ports.values()]
    paired = signs.count("excitatory") <= 1 and signs.count("inhibitory") <= 1 and \
        not any(_NUMBERED_PORT.fullmatch(name) for name in ports)
    if paired:
        return {name: 0 for name in ports}
    return {name: i for i, name in enumerate(ports, start=1)}


# ---------------------------------------------------------------------------- units
def _unit_tree(unit: Unit):
    tree = ast.parse(unit.name.replace("^", "**"), mode="eval").body
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in UNIT_SYMBOLS:
            raise ExpressionError(f"unit {unit.name!r} cannot be written in NESTML")
        if not isinstance(node, (ast.Name, ast.BinOp, ast.Constant, ast.Mult, ast.Div, ast.Pow, ast.Load,
                                 ast.UnaryOp, ast.USub)):
            raise ExpressionError(f"unit {unit.name!r} cannot be written in NESTML")
    return tree


def nestml_unit(unit: Unit) -> str:
    """The NESTML type of a quantity in ``unit`` (``mV``, ``pA/ms``, ``real`` for dimensionless)."""
    if unit.is_dimensionless and unit.scale == 1.0:
        return "real"
    _unit_tree(unit)
    text = unit.name.replace("^", "**").replace(" ", "")
    for old, new in _NESTML_UNIT_NAMES.items():
        text = re.sub(rf"\b{re.escape(old)}\b", new, text)
    return text


def _unit_literal(unit: Unit) -> str:
    """An expression worth one ``unit``: ``1 mV``, or ``((1 pA) / (1 ms))`` for a compound unit.

    NESTML accepts unit names in expressions only right after a number (``1 ms``), so
    each name of a compound unit becomes a literal of its own.
    """
    if unit.is_dimensionless and unit.scale == 1.0:
        return "1"
    tree = _unit_tree(unit)
    if isinstance(tree, ast.Name):
        return f"1 {_NESTML_UNIT_NAMES.get(tree.id, tree.id)}"

    def show(node):
        if isinstance(node, ast.Name):
            return f"(1 {_NESTML_UNIT_NAMES.get(node.id, node.id)})"
        if isinstance(node, ast.Constant):
            return _number(node.value)
        if isinstance(node, ast.UnaryOp):
            return f"(-{show(node.operand)})"
        op = {ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}[type(node.op)]
        return f"({show(node.left)} {op} {show(node.right)})" if op != "**" else f"{show(node.left)}**{show(node.right)}"

    return show(tree)


def _quantity(value: float, unit: Unit) -> str:
    number = _number(value)
    literal = _unit_literal(unit)
    if literal == "1":
        return number
    if literal.startswith("1 "):
        return f"{number} {literal[2:]}"
    return f"{number} * {literal}"


def _number(value) -> str:
    value = float(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class NestmlPrinter(ex.ExpressionPrinter):
    """Prints expression trees in NESTML syntax."""

    known_functions = {"exp": "exp", "log": "ln", "sqrt": "sqrt", "abs": "abs", "tanh": "tanh",
                       "sinh": "sinh", "cosh": "cosh", "min": "min", "max": "max"}

    def __init__(self, rename=None):
        self.rename = rename or {}

    def symbol(self, name):
        return self.rename.get(name, name)

    def unit_literal(self, name):
        # NESTML accepts no free-standing unit names in expressions: write "1 mV".
        return f"(1 {_NESTML_UNIT_NAMES.get(name, name)})"

    def _print_Num(self, node):
        text = _number(abs(node.value))
        return (text, 9) if node.value >= 0 else (f"(-{text})", 9)


# ---------------------------------------------------------------------------- the neuron
def _check_names(model: Model):
    for reserved in RESERVED_NAMES:
        if reserved in model.parameters or reserved in model.state or reserved in model.aliases:
            raise ExpressionError(f"{model.source}: the name {reserved!r} is used by the NESTML generator")


def _comment(text):
    """`` # text`` to end a line, with ``text`` folded to one line (a line break would end the comment)."""
    from .text import comment_text

    return f"  # {comment_text(text)}" if text else ""


def _header(model: Model) -> list:
    name = neuron_name(model)
    out = [
        f"# {name}: {model.description}.",
        "#",
        f"# Source: {model.reference}",
        "#",
        f"# Generated by lifbridge from {Path(model.source).name}; do not edit. Change the model spec",
        f"# and run `{REGENERATE_COMMAND}` (all bundled models) or",
        f"# `lifbridge generate {model.name} --target nestml`.",
        "#",
        "# Equations:",
    ]
    for var, rhs in model.equations.items():
        out.append(f"#   d{var}/dt = {ex.to_text(rhs)}")
    if model.spike:
        resets = "; ".join(f"{a.target} {a.op} {ex.to_text(a.value)}" for a in model.spike.reset) or "no reset"
        out.append(f"#   spike when {ex.to_text(model.spike.condition)}, then {resets}")
    if model.refractory:
        clamp = ", ".join(model.refractory.clamp) or "none"
        out.append(f"#   refractory for {ex.to_text(model.refractory.period)} (clamped: {clamp})")
    if model.inputs:
        typed = _typed_spike_ports(model)
        if typed:
            out += ["#", "# Inputs (each spike port its own NEST receptor_type; weights keep their sign: an"
                         " inhibitory port takes weights <= 0, its statements see the magnitude -weight):"]
        else:
            out += ["#", "# Inputs (NEST receptor_type 0 takes spikes; positive weights excite, negative weights"
                         " inhibit):"]
        receptors = continuous_receptors(model)
        spike_types = spike_receptors(model)
        for port_name, port in model.inputs.items():
            if port.kind == "spike":
                what = "; ".join(f"{a.target} {a.op} {ex.to_text(a.value)}" for a in port.on_spike)
                where = f", SpikeEvent receptor_type {spike_types[port_name]}" if typed else ""
                out.append(f"#   {port_name}: {port.sign} spikes, weight in {port.unit}{where}: {what}")
            else:
                out.append(f"#   {port_name}: continuous {port.kind} in {port.unit}, "
                           f"CurrentEvent receptor_type {receptors[port_name]}")
    from .text import comment_text

    # Every line is a comment: fold whatever a model's text holds (line breaks, control
    # characters) so that it cannot end the comment.
    return [comment_text(line) for line in out]


def to_nestml(model: Model) -> str:
    """The NESTML source of ``model`` as the neuron ``<model>_neuron``."""
    _check_names(model)
    printer = NestmlPrinter()
    name = neuron_name(model)
    out = _header(model)
    out += [f"model {name}:", f"{INDENT}state:"]
    for var, sv in model.state.items():
        initial = _quantity(sv.initial, sv.unit) if isinstance(sv.initial, float) else printer.doprint(sv.initial)
        out.append(f"{INDENT * 2}{var} {nestml_unit(sv.unit)} = {initial}" + _comment(sv.description))
    if model.refractory:
        out.append(f"{INDENT * 2}{REFRACTORY_COUNTER} integer = 0  # steps left in the refractory period")
    out += ["", f"{INDENT}equations:"]
    for alias_name in model.aliases_in_order():
        alias = model.aliases[alias_name]
        out.append(f"{INDENT * 2}inline {alias_name} {nestml_unit(alias.unit)} = {printer.doprint(alias.expr)}"
                   + _comment(alias.description))
    for var, rhs in model.equations.items():
        out.append(f"{INDENT * 2}{var}' = {printer.doprint(rhs)}")
    out += ["", f"{INDENT}parameters:"]
    for pname, p in model.parameters.items():
        out.append(f"{INDENT * 2}{pname} {nestml_unit(p.unit)} = {_quantity(p.value, p.unit)}" + _comment(p.description))
    if model.refractory:
        out += ["", f"{INDENT}internals:",
                f"{INDENT * 2}{REFRACTORY_STEPS} integer = steps({printer.doprint(model.refractory.period)})"
                "  # refractory period in time steps"]
    out += ["", f"{INDENT}input:"]
    typed = _typed_spike_ports(model)
    for port_name, port in model.inputs.items():
        if port.kind == "spike":
            qualifier = "" if typed else f"{port.sign} "
            out.append(f"{INDENT * 2}{port_name} <- {qualifier}spike" + _comment(port.description))
        else:
            out.append(f"{INDENT * 2}{port_name} {nestml_unit(port.unit)} <- continuous" + _comment(port.description))
    if model.spike:
        out += ["", f"{INDENT}output:", f"{INDENT * 2}spike"]
    out += ["", f"{INDENT}update:"]
    gated = _gated_ports(model)
    if gated:
        # A spike onto a clamped variable is dropped in the steps the clamp holds: the
        # counter runs one step longer, so that it is still > 0 in onReceive of the last
        # clamped step (onReceive runs after the update block).
        free = [v for v in model.state if v not in model.refractory.clamp]
        out += [f"{INDENT * 2}if {REFRACTORY_COUNTER} > 0:",
                f"{INDENT * 3}{REFRACTORY_COUNTER} -= 1",
                f"{INDENT * 2}if {REFRACTORY_COUNTER} == 0:",
                f"{INDENT * 3}integrate_odes()"]
        if free:
            out += [f"{INDENT * 2}else:",
                    f"{INDENT * 3}# clamped while refractory: {', '.join(model.refractory.clamp)}",
                    f"{INDENT * 3}integrate_odes({', '.join(free)})"]
    elif model.refractory and model.refractory.clamp:
        free = [v for v in model.state if v not in model.refractory.clamp]
        out += [f"{INDENT * 2}if {REFRACTORY_COUNTER} > 0:",
                f"{INDENT * 3}{REFRACTORY_COUNTER} -= 1",
                f"{INDENT * 3}# clamped while refractory: {', '.join(model.refractory.clamp)}"]
        if free:
            out.append(f"{INDENT * 3}integrate_odes({', '.join(free)})")
        out += [f"{INDENT * 2}else:", f"{INDENT * 3}integrate_odes()"]
    elif model.refractory:
        out += [f"{INDENT * 2}integrate_odes()",
                f"{INDENT * 2}if {REFRACTORY_COUNTER} > 0:",
                f"{INDENT * 3}{REFRACTORY_COUNTER} -= 1"]
    else:
        out.append(f"{INDENT * 2}integrate_odes()")
    for port_name, port in model.spike_inputs.items():
        # A spike port is a sum of delta pulses (unit 1/s) in NESTML: times 1 s and the
        # port's unit it is the weight of the spikes arriving in this step.
        literal = _unit_literal(port.unit)
        minus = "-" if typed and port.sign == "inhibitory" else ""   # typed ports get the signed weight
        weight = f"({minus}{port_name} * {literal} * 1 s)" if literal != "1" else f"({minus}{port_name} * 1 s)"
        statement_printer = NestmlPrinter(rename={"weight": weight})
        out += ["", f"{INDENT}onReceive({port_name}):"]
        for a in port.on_spike:
            line = f"{a.target} {a.op} {statement_printer.doprint(a.value)}"
            if port_name in gated and a.target in model.refractory.clamp:
                # clamped while refractory: the spike is dropped (NEST's refractory_input = false)
                out += [f"{INDENT * 2}if {REFRACTORY_COUNTER} == 0:", f"{INDENT * 3}{line}"]
            else:
                out.append(f"{INDENT * 2}{line}")
    if model.spike:
        condition = printer.doprint(model.spike.condition)
        if model.refractory:
            condition = f"{REFRACTORY_COUNTER} == 0 and ({condition})"
        out += ["", f"{INDENT}onCondition({condition}):"]
        if model.refractory:
            extra = " + 1" if gated else ""
            out.append(f"{INDENT * 2}{REFRACTORY_COUNTER} = {REFRACTORY_STEPS}{extra}")
        for a in model.spike.reset:
            out.append(f"{INDENT * 2}{a.target} {a.op} {printer.doprint(a.value)}")
        out.append(f"{INDENT * 2}emit_spike()")
    return "\n".join(out) + "\n"


def _typed_spike_ports(model: Model) -> bool:
    """True if each spike port is a NEST receptor type of its own (see :func:`spike_receptors`)."""
    return any(spike_receptors(model).values())


def _gated_ports(model: Model) -> set:
    """Spike ports with a statement on a variable the refractory period clamps (delta synapses)."""
    if not (model.refractory and model.refractory.clamp):
        return set()
    return {name for name, port in model.spike_inputs.items()
            if any(a.target in model.refractory.clamp for a in port.on_spike)}


# ---------------------------------------------------------------------------- files
def nestml_path(model: Model, directory=DEFAULT_DIRECTORY) -> Path:
    return Path(directory) / f"{neuron_name(model)}.nestml"


def write_nestml(model: Model, directory=DEFAULT_DIRECTORY) -> Path:
    """Write the NESTML file of ``model`` into ``directory``; returns its path."""
    path = nestml_path(model, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_nestml(model))
    return path


def _bundled(models):
    from .spec import bundled_models, load

    names = bundled_models() if models is None else models
    return [m if isinstance(m, Model) else load(m) for m in names]


def write_all(directory=DEFAULT_DIRECTORY, models=None) -> list:
    """Write ``<model>_neuron.nestml`` for every bundled model (or ``models``) into ``directory``.

    Files of bundled models that no longer exist are not removed. Returns the paths written.
    """
    return [write_nestml(model, directory) for model in _bundled(models)]


def stale_files(directory=DEFAULT_DIRECTORY, models=None) -> list:
    """Paths in ``directory`` that differ from what the generator writes now (or are missing)."""
    stale = []
    for model in _bundled(models):
        path = nestml_path(model, directory)
        if not path.is_file() or path.read_text() != to_nestml(model):
            stale.append(path)
    return stale


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m lifbridge.nestml",
                                     description="Write the NESTML neuron of every bundled model.")
    parser.add_argument("directory", nargs="?", default=DEFAULT_DIRECTORY,
                        help=f"output directory (default: {DEFAULT_DIRECTORY})")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit with status 1 if a file differs from the generator's output")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.directory)
        for path in stale:
            print(f"stale: {path} (regenerate with `{REGENERATE_COMMAND}`)", file=sys.stderr)
        return 1 if stale else 0
    for path in write_all(args.directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
